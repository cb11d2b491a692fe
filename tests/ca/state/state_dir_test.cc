#include "ca/state/state_dir.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "base/files.h"
#include "pki/certificate.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::ca {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::meshtrust::testing::TempDir;
using ::testing::HasSubstr;

class StateDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(WriteFileAtomically(dir_.Sub("kek"), std::string(32, '\x01'), 0600), IsOk());
    options_.state_dir = dir_.Sub("state");
    options_.kek = keystore::KekSource::KeyFile(dir_.Sub("kek"));
  }

  // A CA certificate and key written as PEM files, as an operator would bring.
  void WriteCa(const std::string& name, X509* issuer, EVP_PKEY* issuer_key, int path_len,
               ossl::UniquePtr<X509>* cert_out, ossl::UniquePtr<EVP_PKEY>* key_out) {
    auto key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP384);
    pki::CertificateTemplate t;
    t.subject = {{"O", "corp"}, {"CN", name}};
    t.not_before = std::chrono::system_clock::now() - std::chrono::hours(1);
    t.not_after = std::chrono::system_clock::now() + std::chrono::hours(24 * 365);
    t.is_ca = true;
    t.path_len = path_len;
    t.key_usage = pki::kKeyCertSign | pki::kCrlSign;
    auto cert = *pki::IssueCertificate(t, key.get(), issuer, issuer_key ? issuer_key : key.get());
    ASSERT_THAT(WriteFileAtomically(dir_.Sub(name + ".pem"), pki::CertificatePem(cert.get()), 0644),
                IsOk());
    auto pem = *pki::PrivateKeyToPkcs8Pem(key.get());
    ASSERT_THAT(WriteFileAtomically(dir_.Sub(name + ".key"), pem.UnsafeSecretString(), 0600),
                IsOk());
    *cert_out = std::move(cert);
    *key_out = std::move(key);
  }

  TempDir dir_;
  InitOptions options_;
};

TEST_F(StateDirTest, ALinkedOrForeignStateDirectoryIsRefused) {
  ASSERT_THAT(InitializeStateDir(options_, SystemClock::Get()), IsOk());
  std::string link = dir_.Sub("state-link");
  ASSERT_EQ(::symlink(options_.state_dir.c_str(), link.c_str()), 0);
  EXPECT_THAT(OpenStateDir(link, options_.kek),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(absl::StrCat(link, " is a symbolic link"))));
  std::string keys = options_.state_dir + "/keys";
  ASSERT_EQ(::chown(keys.c_str(), 65534, 65534), 0);
  EXPECT_THAT(
      OpenStateDir(options_.state_dir, options_.kek),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr(absl::StrCat(keys, " is owned by uid 65534, not by uid ", ::geteuid()))));
  ASSERT_EQ(::chown(keys.c_str(), ::geteuid(), ::getegid()), 0);
  EXPECT_THAT(OpenStateDir(options_.state_dir, options_.kek).status(), IsOk());
}

TEST_F(StateDirTest, InitCreatesPrivateStateAndRefusesToOverwrite) {
  ASSERT_OK_AND_ASSIGN(InitResult result, InitializeStateDir(options_, SystemClock::Get()));
  EXPECT_THAT(result.control_ca_pin, ::testing::MatchesRegex("sha256:[0-9a-f]{64}"));
  EXPECT_THAT(result.admin_token, ::testing::StartsWith("mtj1."));
  EXPECT_THAT(CheckPrivatePermissions(options_.state_dir), IsOk());
  std::string before = *ReadFile(options_.state_dir + "/control-ca.pem");
  EXPECT_THAT(InitializeStateDir(options_, SystemClock::Get()),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("never overwrites")));
  EXPECT_EQ(*ReadFile(options_.state_dir + "/control-ca.pem"), before);

  ASSERT_OK_AND_ASSIGN(CaState state, OpenStateDir(options_.state_dir, options_.kek));
  ASSERT_OK_AND_ASSIGN(auto roots, state.store->ListRoots());
  ASSERT_EQ(roots.size(), 1u);
  auto root = *pki::ParseCertificatePem(roots[0].certificate_pem);
  EXPECT_EQ(*pki::ClassifyKey(pki::PublicKeyOf(root.get())), pki::KeyAlgorithm::kEcdsaP256);
  EXPECT_EQ(pki::PathLen(root.get()), 1);
  // The mesh root and the control CA are different keys and names.
  auto control = *pki::ParseCertificatePem(state.control_ca_pem);
  EXPECT_FALSE(pki::SamePublicKey(pki::PublicKeyOf(root.get()), pki::PublicKeyOf(control.get())));
}

TEST_F(StateDirTest, RootAlgorithmIsSelectable) {
  options_.root_algorithm = pki::KeyAlgorithm::kEcdsaP384;
  ASSERT_THAT(InitializeStateDir(options_, SystemClock::Get()), IsOk());
  ASSERT_OK_AND_ASSIGN(CaState state, OpenStateDir(options_.state_dir, options_.kek));
  auto root = *pki::ParseCertificatePem((*state.store->ListRoots())[0].certificate_pem);
  EXPECT_EQ(*pki::ClassifyKey(pki::PublicKeyOf(root.get())), pki::KeyAlgorithm::kEcdsaP384);
}

TEST_F(StateDirTest, OpenRefusesUnsafePermissionsAndWrongKek) {
  ASSERT_THAT(InitializeStateDir(options_, SystemClock::Get()), IsOk());
  ASSERT_EQ(::chmod(options_.state_dir.c_str(), 0755), 0);
  EXPECT_THAT(OpenStateDir(options_.state_dir, options_.kek),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("chmod go-rwx")));
  ASSERT_EQ(::chmod(options_.state_dir.c_str(), 0700), 0);
  ASSERT_THAT(WriteFileAtomically(dir_.Sub("wrong"), std::string(32, '\x02'), 0600), IsOk());
  EXPECT_THAT(OpenStateDir(options_.state_dir, keystore::KekSource::KeyFile(dir_.Sub("wrong"))),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("wrong")));
  EXPECT_THAT(OpenStateDir(dir_.Sub("missing"), options_.kek),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("run meshtrust-ca init")));
}

TEST_F(StateDirTest, ImportsAnIntermediateOfAnOfflineRoot) {
  ossl::UniquePtr<X509> root, inter;
  ossl::UniquePtr<EVP_PKEY> root_key, inter_key;
  WriteCa("offline-root", nullptr, nullptr, -1, &root, &root_key);
  WriteCa("online", root.get(), root_key.get(), 1, &inter, &inter_key);
  options_.import_certificate = dir_.Sub("online.pem");
  options_.import_key = dir_.Sub("online.key");
  options_.import_chain = dir_.Sub("offline-root.pem");
  ASSERT_THAT(InitializeStateDir(options_, SystemClock::Get()), IsOk());
  ASSERT_OK_AND_ASSIGN(CaState state, OpenStateDir(options_.state_dir, options_.kek));
  auto roots = *state.store->ListRoots();
  EXPECT_EQ(roots[0].anchor_pem, pki::CertificatePem(root.get()));
  EXPECT_EQ(roots[0].certificate_pem, pki::CertificatePem(inter.get()));

  // Root rotation would trade the offline root for a self-signed one: refused.
  auto control = state.LoadControlCa();
  ASSERT_THAT(control, IsOk());
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Authority> authority,
      Authority::Create(state.store.get(), state.keys.get(), state.audit_signer.get(),
                        &SystemClock::Get(), *std::move(control), AuthorityOptions{}));
  auto token = authority->CreateAdminToken({CallerKind::kOperator, "op"}, std::chrono::hours(1));
  auto key = pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  auto enrolled = authority->Enroll(token->token, *pki::BuildCsrDer(key->get(), ""));
  ASSERT_THAT(enrolled, IsOk());
  EXPECT_THAT(authority->BeginRootRotation(testing::CallerOf(enrolled->certificate_pem)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("was imported under an offline root")));
  EXPECT_EQ(state.store->ListRoots()->size(), 1u);
}

TEST_F(StateDirTest, RefusesUnusableImportsAndLeavesNothingBehind) {
  ossl::UniquePtr<X509> root, inter, other;
  ossl::UniquePtr<EVP_PKEY> root_key, inter_key, other_key;
  WriteCa("offline-root", nullptr, nullptr, -1, &root, &root_key);
  WriteCa("tight", root.get(), root_key.get(), 0, &inter, &inter_key);
  WriteCa("other", nullptr, nullptr, -1, &other, &other_key);

  options_.import_certificate = dir_.Sub("tight.pem");
  options_.import_key = dir_.Sub("tight.key");
  options_.import_chain = dir_.Sub("offline-root.pem");
  EXPECT_THAT(InitializeStateDir(options_, SystemClock::Get()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pathlen:0")));
  EXPECT_FALSE(PathExists(options_.state_dir));

  options_.import_certificate = dir_.Sub("offline-root.pem");
  options_.import_key = dir_.Sub("other.key");
  options_.import_chain.clear();
  EXPECT_THAT(InitializeStateDir(options_, SystemClock::Get()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not match")));
  EXPECT_FALSE(PathExists(options_.state_dir));

  options_.import_certificate = dir_.Sub("tight.pem");
  options_.import_key = dir_.Sub("tight.key");
  options_.import_chain = dir_.Sub("other.pem");
  EXPECT_THAT(InitializeStateDir(options_, SystemClock::Get()),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_FALSE(PathExists(options_.state_dir));
}

}  // namespace
}  // namespace meshtrust::ca
