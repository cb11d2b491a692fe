#include "pki/signer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/core_names.h>

#include <atomic>

#include "pki/certificate.h"
#include "pki/crl.h"
#include "pki/key.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/switchable_signer.h"

namespace meshtrust::pki {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

ossl::UniquePtr<EVP_PKEY> Ed25519Key() {
  ossl::UniquePtr<EVP_PKEY> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  EXPECT_NE(key, nullptr);
  return key;
}

struct Case {
  const char* name;
  std::function<ossl::UniquePtr<EVP_PKEY>()> make;
  SignatureAlgorithm algorithm;
  int signature_nid;
};

std::vector<Case> Cases() {
  return {
      {"P-256", [] { return *GenerateKey(KeyAlgorithm::kEcdsaP256); },
       SignatureAlgorithm::kEcdsaSha256, NID_ecdsa_with_SHA256},
      {"P-384", [] { return *GenerateKey(KeyAlgorithm::kEcdsaP384); },
       SignatureAlgorithm::kEcdsaSha384, NID_ecdsa_with_SHA384},
      {"RSA-2048", [] { return *GenerateKey(KeyAlgorithm::kRsa2048); },
       SignatureAlgorithm::kRsaPkcs1Sha256, NID_sha256WithRSAEncryption},
      {"Ed25519", Ed25519Key, SignatureAlgorithm::kEd25519, NID_ED25519},
  };
}

CertificateTemplate RootTemplate() {
  CertificateTemplate t;
  t.subject = {{"O", "test"}, {"CN", "root"}};
  t.not_before = Clock::now() - std::chrono::minutes(5);
  t.not_after = Clock::now() + std::chrono::hours(24);
  t.is_ca = true;
  t.path_len = 1;
  t.key_usage = kKeyCertSign | kCrlSign;
  return t;
}

TEST(SignerTest, SignsAndVerifiesWithEachAlgorithm) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Signer> signer, NewInMemorySigner(c.make()));
    EXPECT_EQ(signer->algorithm(), c.algorithm);
    ASSERT_OK_AND_ASSIGN(std::string sig, signer->Sign("message"));
    EXPECT_TRUE(VerifySignature(signer->public_key(), c.algorithm, "message", sig));
    EXPECT_FALSE(VerifySignature(signer->public_key(), c.algorithm, "messagE", sig));
    std::string flipped = sig;
    flipped[flipped.size() / 2] ^= 1;
    EXPECT_FALSE(VerifySignature(signer->public_key(), c.algorithm, "message", flipped));
  }
}

TEST(SignerTest, ThePublicKeyItHandsOutHoldsNoPrivateKey) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Signer> signer,
                       NewInMemorySigner(*GenerateKey(KeyAlgorithm::kEcdsaP256)));
  BIGNUM* priv = nullptr;
  EXPECT_NE(EVP_PKEY_get_bn_param(signer->public_key(), OSSL_PKEY_PARAM_PRIV_KEY, &priv), 1);
  BN_free(priv);
  ERR_clear_error();
  // And nothing can sign with it.
  ossl::UniquePtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  bool signs =
      EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, signer->public_key()) == 1;
  if (signs) {
    size_t len = 0;
    const unsigned char m[] = "x";
    signs = EVP_DigestSign(ctx.get(), nullptr, &len, m, 1) == 1 && len > 0;
    std::string out(len, '\0');
    signs = signs && EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len,
                                    m, 1) == 1;
  }
  ERR_clear_error();
  EXPECT_FALSE(signs);
}

TEST(SignerTest, UnsupportedKeysAreRefusedByName) {
  ossl::UniquePtr<EVP_PKEY> x25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
  ASSERT_NE(x25519, nullptr);
  EXPECT_THAT(NewInMemorySigner(std::move(x25519)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cannot sign with")));
  EXPECT_THAT(NewInMemorySigner(nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no key")));
}

// Certificates and CRLs signed through a Signer are ordinary X.509: OpenSSL
// verifies them, names the signer's algorithm inside and outside the
// to-be-signed part, and reads every field back.
TEST(SignerTest, CertificatesAndCrlsSignedThroughASignerVerify) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    ossl::UniquePtr<EVP_PKEY> root_key = c.make();
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Signer> root,
                         NewInMemorySigner(ossl::UpRef(root_key.get())));
    ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509> root_cert,
                         IssueCertificate(RootTemplate(), root_key.get(), nullptr, *root));
    EXPECT_EQ(X509_verify(root_cert.get(), root->public_key()), 1);
    EXPECT_EQ(X509_get_signature_nid(root_cert.get()), c.signature_nid);
    EXPECT_EQ(OBJ_obj2nid(X509_get0_tbs_sigalg(root_cert.get())->algorithm), c.signature_nid);
    EXPECT_EQ(X509_get_version(root_cert.get()), X509_VERSION_3);
    EXPECT_EQ(SubjectString(root_cert.get()), "CN=root,O=test");
    EXPECT_EQ(IssuerString(root_cert.get()), "CN=root,O=test");
    EXPECT_TRUE(IsCa(root_cert.get()));
    EXPECT_EQ(PathLen(root_cert.get()), 1);

    ossl::UniquePtr<EVP_PKEY> leaf_key = *GenerateKey(KeyAlgorithm::kEcdsaP256);
    CertificateTemplate leaf;
    leaf.subject = {{"CN", "leaf"}};
    leaf.not_before = Clock::now() - std::chrono::minutes(1);
    leaf.not_after = Clock::now() + std::chrono::hours(1);
    leaf.key_usage = kDigitalSignature;
    leaf.extended_key_usage = {ExtendedKeyUsage::kClientAuth};
    leaf.uris = {"spiffe://meshtrust/agent/c1"};
    ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509> leaf_cert,
                         IssueCertificate(leaf, leaf_key.get(), root_cert.get(), *root));
    EXPECT_EQ(X509_verify(leaf_cert.get(), root->public_key()), 1);
    EXPECT_EQ(X509_check_issued(root_cert.get(), leaf_cert.get()), X509_V_OK);
    EXPECT_THAT(UriSans(leaf_cert.get()), ElementsAre("spiffe://meshtrust/agent/c1"));

    CrlTemplate crl;
    crl.number = 7;
    crl.this_update = Clock::now();
    crl.next_update = Clock::now() + std::chrono::hours(1);
    ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509_CRL> empty, IssueCrl(crl, root_cert.get(), *root));
    EXPECT_THAT(VerifyCrl(empty.get(), root_cert.get()), IsOk());
    EXPECT_EQ(X509_CRL_get_REVOKED(empty.get()), nullptr);
    crl.revoked = {{"ff01", Clock::now(), CRL_REASON_KEY_COMPROMISE}, {"0a", Clock::now(), 0}};
    ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509_CRL> two, IssueCrl(crl, root_cert.get(), *root));
    EXPECT_THAT(VerifyCrl(two.get(), root_cert.get()), IsOk());
    EXPECT_EQ(X509_CRL_get_signature_nid(two.get()), c.signature_nid);
    EXPECT_THAT(RevokedSerials(two.get()), ElementsAre("a", "ff01"));
  }
}

TEST(SignerTest, ASignerThatIsNotTheIssuersIsRefused) {
  ossl::UniquePtr<EVP_PKEY> key = *GenerateKey(KeyAlgorithm::kEcdsaP256);
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509> root,
                       IssueCertificate(RootTemplate(), key.get(), nullptr, key.get()));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Signer> other,
                       NewInMemorySigner(*GenerateKey(KeyAlgorithm::kEcdsaP256)));
  EXPECT_THAT(
      IssueCertificate(RootTemplate(), key.get(), nullptr, *other),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("must be signed by its own key")));
  EXPECT_THAT(
      IssueCertificate(RootTemplate(), key.get(), root.get(), *other),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not the issuer certificate's key")));
  CrlTemplate crl;
  crl.this_update = Clock::now();
  crl.next_update = Clock::now() + std::chrono::hours(1);
  EXPECT_THAT(IssueCrl(crl, root.get(), *other),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not the CRL issuer's key")));
}

TEST(SignerTest, ASignerThatCannotSignIssuesNothing) {
  ossl::UniquePtr<EVP_PKEY> key = *GenerateKey(KeyAlgorithm::kEcdsaP256);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Signer> real, NewInMemorySigner(ossl::UpRef(key.get())));
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509> root,
                       IssueCertificate(RootTemplate(), key.get(), nullptr, *real));
  meshtrust::testing::SwitchableSigner away(std::move(real), nullptr, "token removed");
  away.set_off(true);
  EXPECT_THAT(IssueCertificate(RootTemplate(), key.get(), nullptr, away),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("token removed")));
  CrlTemplate crl;
  crl.this_update = Clock::now();
  crl.next_update = Clock::now() + std::chrono::hours(1);
  EXPECT_THAT(IssueCrl(crl, root.get(), away),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("token removed")));
  EXPECT_EQ(away.refused, 2);
}

}  // namespace
}  // namespace meshtrust::pki
