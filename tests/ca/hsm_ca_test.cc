// The CA with its mesh roots and control CA in a SoftHSM2 token made per
// test: everything they sign verifies with `openssl verify`, root rotation
// makes the new root in the same token, no key lands in the state
// directory, and a token that goes away fails closed and comes back.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/files.h"
#include "pki/certificate.h"
#include "tests/testing/ca_process.h"
#include "tests/testing/softhsm.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::ca {
namespace {

using ::meshtrust::testing::CommandResult;
using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::RunCommand;
using ::meshtrust::testing::ShellQuote;
using ::meshtrust::testing::SoftHsmToken;
using ::meshtrust::testing::StatusIs;
using ::testing::HasSubstr;

// `openssl verify` of `leaf_pem` against exactly the roots in `roots_pem`.
CommandResult OpensslVerify(const testing::TempDir& dir, const std::string& roots_pem,
                            const std::string& leaf_pem, const std::string& untrusted_pem = "") {
  EXPECT_THAT(WriteFileAtomically(dir.Sub("v-roots.pem"), roots_pem, 0644), IsOk());
  EXPECT_THAT(WriteFileAtomically(dir.Sub("v-leaf.pem"), leaf_pem, 0644), IsOk());
  std::string untrusted;
  if (!untrusted_pem.empty()) {
    EXPECT_THAT(WriteFileAtomically(dir.Sub("v-untrusted.pem"), untrusted_pem, 0644), IsOk());
    untrusted = " -untrusted " + ShellQuote(dir.Sub("v-untrusted.pem"));
  }
  return RunCommand("openssl verify -x509_strict -CAfile " + ShellQuote(dir.Sub("v-roots.pem")) +
                    untrusted + " " + ShellQuote(dir.Sub("v-leaf.pem")));
}

// Every file under `dir`, recursively.
std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(e.path().filename());
  }
  return out;
}

class HsmCaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(token_.error(), "");
    testing::TestCaOptions options;
    options.hsm_uri = token_.Uri();
    options.hsm_control_ca = true;
    ca_ = testing::TestCa::Create(options);
    ASSERT_NE(ca_->state().token, nullptr);
  }
  SoftHsmToken token_;
  testing::TempDir dir_;
  std::unique_ptr<testing::TestCa> ca_;
};

TEST_F(HsmCaTest, TokenKeysSignEverythingAndRootRotationStaysInTheToken) {
  // The roots and the control CA are in the token, not in the state dir.
  EXPECT_TRUE(ca_->state().token->Contains("mesh-root-1"));
  EXPECT_TRUE(ca_->state().token->Contains("control-ca"));
  ASSERT_OK_AND_ASSIGN(std::string recorded, ReadFile(ca_->state_dir() + "/hsm-keys"));
  EXPECT_EQ(recorded, "token pkcs11:token=meshtrust-test\nkeys mesh-root-* control-ca\n");
  for (const std::string& file : FilesUnder(ca_->state_dir())) {
    EXPECT_FALSE(absl::StartsWith(file, "mesh-root")) << file;
    EXPECT_FALSE(absl::StartsWith(file, "control-ca.sealed")) << file;
  }

  // An agent enrolls over gRPC with real mTLS: the server's certificate and
  // the agent's identity are signed by the token's control CA.
  std::string join = ca_->AddCluster("c1");
  client::Identity identity = ca_->EnrollOverGrpc(join);
  CommandResult verified =
      OpensslVerify(dir_, ca_->state().control_ca_pem, identity.certificate_pem);
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  verified = OpensslVerify(dir_, ca_->state().control_ca_pem, ca_->state().server_chain_pem);
  EXPECT_EQ(verified.exit_code, 0) << verified.output;

  // An intermediate and the root CRL, signed by mesh-root-1 in the token.
  Caller agent = ca_->LocalAgent("c1");
  ASSERT_OK_AND_ASSIGN(IssuedIntermediate first,
                       ca_->authority()->SignIntermediate(agent, "c1", testing::FreshCsr(),
                                                          std::chrono::seconds(0)));
  verified = OpensslVerify(dir_, first.bundle.roots_pem, first.certificate_pem);
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_THAT(verified.output, HasSubstr("OK"));
  ASSERT_THAT(ca_->authority()->RefreshCrls(/*force=*/true), IsOk());
  ASSERT_OK_AND_ASSIGN(std::string crl, ca_->authority()->RootCrlPem("mesh-root-1"));
  ASSERT_THAT(WriteFileAtomically(dir_.Sub("crl.pem"), crl, 0644), IsOk());
  ASSERT_THAT(WriteFileAtomically(dir_.Sub("root1.pem"), first.bundle.roots_pem, 0644), IsOk());
  CommandResult crl_ok = RunCommand("openssl crl -noout -in " + ShellQuote(dir_.Sub("crl.pem")) +
                                    " -CAfile " + ShellQuote(dir_.Sub("root1.pem")));
  EXPECT_EQ(crl_ok.exit_code, 0) << crl_ok.output;
  EXPECT_THAT(crl_ok.output, HasSubstr("verify OK"));

  // Root rotation makes mesh-root-2 in the same token.
  ASSERT_THAT(ca_->authority()->BeginRootRotation(ca_->LocalOperator()), IsOk());
  EXPECT_TRUE(ca_->state().token->Contains("mesh-root-2"));
  ASSERT_THAT(ca_->authority()->ActivateRootRotation(ca_->LocalOperator(), /*force=*/true), IsOk());
  ASSERT_OK_AND_ASSIGN(IssuedIntermediate second,
                       ca_->authority()->SignIntermediate(agent, "c1", testing::FreshCsr(),
                                                          std::chrono::seconds(0)));
  // Verified against the new root alone.
  verified = OpensslVerify(dir_, second.bundle.signing_root_pem, second.certificate_pem);
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  verified = OpensslVerify(dir_, first.bundle.signing_root_pem, second.certificate_pem);
  EXPECT_NE(verified.exit_code, 0) << "signed by the old root: " << verified.output;
  ASSERT_THAT(ca_->authority()->RefreshCrls(/*force=*/true), IsOk());
  ASSERT_OK_AND_ASSIGN(std::string crl2, ca_->authority()->RootCrlPem("mesh-root-2"));
  ASSERT_THAT(WriteFileAtomically(dir_.Sub("crl2.pem"), crl2, 0644), IsOk());
  ASSERT_THAT(WriteFileAtomically(dir_.Sub("root2.pem"), second.bundle.signing_root_pem, 0644),
              IsOk());
  crl_ok = RunCommand("openssl crl -noout -in " + ShellQuote(dir_.Sub("crl2.pem")) + " -CAfile " +
                      ShellQuote(dir_.Sub("root2.pem")));
  EXPECT_THAT(crl_ok.output, HasSubstr("verify OK"));
  for (const std::string& file : FilesUnder(ca_->state_dir())) {
    EXPECT_FALSE(absl::StartsWith(file, "mesh-root")) << file;
  }

  // Opened again, as a restarting CA does, the keys are found in the token.
  ASSERT_THAT(ca_->Reopen(), IsOk());
  EXPECT_THAT(
      ca_->authority()->SignIntermediate(agent, "c1", testing::FreshCsr(), std::chrono::seconds(0)),
      IsOk());
}

TEST_F(HsmCaTest, RemovedTokenFailsClosedWithNothingWrittenAndRecovers) {
  ca_->AddCluster("c1");
  Caller agent = ca_->LocalAgent("c1");
  Caller op = ca_->LocalOperator();
  ASSERT_THAT(
      ca_->authority()->SignIntermediate(agent, "c1", testing::FreshCsr(), std::chrono::seconds(0)),
      IsOk());
  CertificateFilter all;
  ASSERT_OK_AND_ASSIGN(auto before, ca_->authority()->ListCertificates(op, all));

  ASSERT_TRUE(token_.Remove());
  EXPECT_THAT(
      ca_->authority()->SignIntermediate(agent, "c1", testing::FreshCsr(), std::chrono::seconds(0)),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("token=meshtrust-test")));
  EXPECT_THAT(ca_->state().token->CheckAvailable(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("unavailable")));
  ASSERT_OK_AND_ASSIGN(auto during, ca_->authority()->ListCertificates(op, all));
  EXPECT_EQ(during.size(), before.size());

  ASSERT_TRUE(token_.Restore());
  EXPECT_THAT(ca_->state().token->CheckAvailable(), IsOk());
  ASSERT_OK_AND_ASSIGN(IssuedIntermediate after,
                       ca_->authority()->SignIntermediate(agent, "c1", testing::FreshCsr(),
                                                          std::chrono::seconds(0)));
  CommandResult verified = OpensslVerify(dir_, after.bundle.roots_pem, after.certificate_pem);
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
}

TEST(HsmCaInitTest, InitAndServeRefuseWhatCannotWork) {
  SoftHsmToken token;
  ASSERT_EQ(token.error(), "");
  testing::TempDir dir;
  ASSERT_THAT(WriteFileAtomically(dir.Sub("kek"), std::string(32, '\x21'), 0600), IsOk());
  InitOptions init;
  init.state_dir = dir.Sub("state");
  init.kek = keystore::KekSource::KeyFile(dir.Sub("kek"));
  // A wrong PIN: nothing is made.
  ASSERT_THAT(WriteFileAtomically(dir.Sub("bad-pin"), "0000\n", 0600), IsOk());
  InitOptions bad = init;
  bad.hsm_uri = absl::StrCat("pkcs11:token=meshtrust-test?module-path=", testing::kSoftHsmModule,
                             "&pin-source=file:", dir.Sub("bad-pin"));
  EXPECT_THAT(InitializeStateDir(bad, SystemClock::Get()),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("refused the PIN")));
  EXPECT_FALSE(std::filesystem::exists(init.state_dir));
  // Importing a CA into a token is refused before anything is made.
  InitOptions import = init;
  import.hsm_uri = token.Uri();
  import.import_certificate = dir.Sub("ca.pem");
  import.import_key = dir.Sub("ca.key");
  EXPECT_THAT(InitializeStateDir(import, SystemClock::Get()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("generated inside it")));
  EXPECT_FALSE(std::filesystem::exists(init.state_dir));

  // A CA made on the token; a second CA on the same token is refused.
  InitOptions good = init;
  good.hsm_uri = token.Uri();
  ASSERT_THAT(InitializeStateDir(good, SystemClock::Get()), IsOk());
  InitOptions second = good;
  second.state_dir = dir.Sub("state2");
  EXPECT_THAT(InitializeStateDir(second, SystemClock::Get()),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("mesh-root-1")));
  EXPECT_FALSE(std::filesystem::exists(second.state_dir));

  // Opening it needs the token, and only that token.
  EXPECT_THAT(OpenStateDir(good.state_dir, good.kek),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("give --hsm-uri 'pkcs11:token=meshtrust-test")));
  EXPECT_THAT(OpenStateDir(good.state_dir, good.kek, token.Uri()), IsOk());
}

// The real meshtrust-ca serving with a token-held root: /readyz follows the
// token away and back.
TEST(HsmCaProcessTest, ReadyzReportsARemovedTokenAndItsReturn) {
  SoftHsmToken token;
  ASSERT_EQ(token.error(), "");
  testing::TempDir dir;
  ASSERT_THAT(WriteFileAtomically(dir.Sub("kek"), std::string(32, '\x33'), 0600), IsOk());
  CommandResult init = RunCommand(absl::StrCat(
      MESHTRUST_CA_BINARY, " init --state-dir ", ShellQuote(dir.Sub("state")), " --kek-file ",
      ShellQuote(dir.Sub("kek")), " --hsm-uri ", ShellQuote(token.Uri())));
  ASSERT_EQ(init.exit_code, 0) << init.output;
  // A PIN on the command line is refused, and not repeated.
  CommandResult pin_value = RunCommand(absl::StrCat(
      MESHTRUST_CA_BINARY, " init --state-dir ", ShellQuote(dir.Sub("state3")), " --kek-file ",
      ShellQuote(dir.Sub("kek")), " --hsm-uri ",
      ShellQuote(absl::StrCat("pkcs11:token=meshtrust-test?module-path=", testing::kSoftHsmModule,
                              "&pin-value=4711-secret"))));
  EXPECT_NE(pin_value.exit_code, 0);
  EXPECT_THAT(pin_value.output, HasSubstr("pin-value"));
  EXPECT_THAT(pin_value.output, ::testing::Not(HasSubstr("4711-secret")));

  testing::CaProcess ca(
      testing::CaProcessOptions{MESHTRUST_CA_BINARY,
                                dir.Sub("state"),
                                dir.Sub("kek"),
                                dir.path(),
                                {"--hsm-uri", token.Uri(), "--metrics-listen", "127.0.0.1:0"}});
  std::string error;
  ASSERT_FALSE(ca.Start(&error).empty()) << error;
  int port = 0;
  for (int i = 0; i < 500 && port == 0; ++i) {
    port = ca.LoggedPort("readyz on port ");
    if (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_NE(port, 0) << ca.log();
  auto readyz = [port] {
    return RunCommand(absl::StrCat("curl -s -m 10 -w ' HTTP %{http_code}' http://127.0.0.1:", port,
                                   "/readyz"))
        .output;
  };
  // Readiness also waits for the CA's own loopback check of its gRPC
  // listener, so each state is waited for (bounded, as a safety net).
  auto wait_for = [&readyz](const std::string& wanted) {
    std::string answer;
    for (int i = 0; i < 600; ++i) {
      answer = readyz();
      if (absl::StrContains(answer, wanted)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return answer;
  };
  EXPECT_THAT(wait_for("HTTP 200"), HasSubstr("HTTP 200"));
  ASSERT_TRUE(token.Remove());
  std::string away = wait_for("HTTP 503");
  EXPECT_THAT(away, HasSubstr("HTTP 503"));
  EXPECT_THAT(away, HasSubstr("token pkcs11:token=meshtrust-test is unavailable"));
  ASSERT_TRUE(token.Restore());
  EXPECT_THAT(wait_for("HTTP 200"), HasSubstr("HTTP 200"));
}

}  // namespace
}  // namespace meshtrust::ca
