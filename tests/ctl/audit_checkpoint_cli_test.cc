// meshtrustctl pins the CA's audit key at login, keeps the highest audit
// checkpoint it sees, and proves with `audit verify --checkpoint` that the
// log still holds a saved one.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/files.h"
#include "base/hex.h"
#include "ca/audit/audit_checkpoint.h"
#include "ca/state/published_checkpoint.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::ctl {
namespace {

using ::meshtrust::testing::CommandResult;
using ::meshtrust::testing::RunCommand;
using ::meshtrust::testing::ShellQuote;
using ::testing::HasSubstr;

class AuditCheckpointCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = testing::TestCa::Create();
    config_ = dir_.Sub("ctl");
    saved_ = dir_.Sub("saved-checkpoint.json");
    auto token = ca_->authority()->CreateAdminToken(
        ca::EnrollmentSubject{ca::CallerKind::kOperator, "alice"}, std::chrono::minutes(10));
    ASSERT_TRUE(token.ok()) << token.status();
    CommandResult login = Ctl(absl::StrCat("--ca ", ca_->address(), " login --pin ", ca_->pin(),
                                           " --token ", token->token));
    ASSERT_EQ(login.exit_code, 0) << login.output;
    // Enough history that a log cut back to 3 records does not regrow to
    // the checkpoint's sequence during the test.
    for (int i = 1; i <= 8; ++i) ca_->AddCluster(absl::StrCat("cluster", i));
    ca_->LocalAgent("cluster1");
    CommandResult printed = Ctl("audit checkpoint");
    ASSERT_EQ(printed.exit_code, 0) << printed.output;
    auto checkpoint = ca::ParseCheckpointJson(printed.output, "output");
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
    checkpoint_ = *checkpoint;
    ASSERT_TRUE(WriteFileAtomically(saved_, printed.output, 0644).ok());
  }
  CommandResult Ctl(const std::string& args) {
    return RunCommand(
        absl::StrCat(MESHTRUST_CTL_BINARY, " --config-dir ", ShellQuote(config_), " ", args));
  }
  std::string Kept() {
    auto text = ReadFile(config_ + "/audit-checkpoint.json");
    return text.ok() ? *text : text.status().ToString();
  }
  // Deletes the records after `keep` and restarts the CA, as an attacker
  // with the state directory would: the file that would stop the start-up
  // is removed too.
  void TruncateAndRestart(int keep) {
    ca_->StopServer();
    ca_->state().published_checkpoint.reset();
    ASSERT_TRUE(ca_->ExecSql(absl::StrCat("DELETE FROM audit WHERE seq > ", keep)).ok());
    std::remove((ca_->state_dir() + "/" + ca::kPublishedCheckpointFile).c_str());
    ASSERT_TRUE(ca_->Reopen().ok());
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::TestCa> ca_;
  std::string config_, saved_;
  ca::AuditCheckpoint checkpoint_;
};

TEST_F(AuditCheckpointCliTest, LoginPinsTheKeyAndTheHighestCheckpointIsKept) {
  auto key = ReadFile(config_ + "/audit-public-key");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(std::string(absl::StripAsciiWhitespace(*key)),
            HexEncode(ca_->authority()->AuditPublicKey()));
  EXPECT_EQ(std::string(absl::StripAsciiWhitespace(Kept())), ca::CheckpointJson(checkpoint_));
  CommandResult r = Ctl(absl::StrCat("audit verify --checkpoint ", saved_));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output,
              HasSubstr(absl::StrCat("audit log holds checkpoint ", checkpoint_.sequence)));
  EXPECT_THAT(r.output, HasSubstr("audit log OK"));
  auto kept = ca::ParseCheckpointJson(Kept(), "kept");
  ASSERT_TRUE(kept.ok());
  EXPECT_GT(kept->sequence, checkpoint_.sequence);
}

TEST_F(AuditCheckpointCliTest, TruncationBySqlIsDetected) {
  std::string kept_before = Kept();
  TruncateAndRestart(3);
  CommandResult r = Ctl(absl::StrCat("audit verify --checkpoint ", saved_));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output,
              HasSubstr(absl::StrCat("audit log does NOT hold checkpoint ", checkpoint_.sequence,
                                     ": audit log truncated: it ends at record ")));
  EXPECT_THAT(r.output,
              HasSubstr("refusing the CA's answer to VerifyAudit: audit log rolled back"));
  CommandResult printed = Ctl("audit checkpoint");
  EXPECT_EQ(printed.exit_code, 1) << printed.output;
  EXPECT_THAT(printed.output,
              HasSubstr("refusing the CA's answer to GetAuditCheckpoint: audit log rolled back"));
  EXPECT_EQ(Kept(), kept_before);
}

TEST_F(AuditCheckpointCliTest, BadCheckpointFilesAreRefused) {
  std::string kept_before = Kept();
  ASSERT_TRUE(WriteFileAtomically(saved_, "garbage", 0644).ok());
  CommandResult garbage = Ctl(absl::StrCat("audit verify --checkpoint ", saved_));
  EXPECT_EQ(garbage.exit_code, 2) << garbage.output;
  EXPECT_THAT(garbage.output, HasSubstr(saved_ + " is not an audit checkpoint (not JSON)"));

  ca::AuditCheckpoint forged = checkpoint_;
  forged.head_hash[0] ^= 1;
  ASSERT_TRUE(WriteFileAtomically(saved_, ca::CheckpointJson(forged), 0644).ok());
  CommandResult bad = Ctl(absl::StrCat("audit verify --checkpoint ", saved_));
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr(absl::StrCat(saved_, ": the audit checkpoint at record ",
                                                 checkpoint_.sequence,
                                                 " does not verify under the pinned audit key")));
  EXPECT_EQ(Kept(), kept_before);
}

TEST_F(AuditCheckpointCliTest, CredentialsWithoutAuditKeyStillWorkAndSaySo) {
  std::remove((config_ + "/audit-public-key").c_str());
  CommandResult r = Ctl("audit checkpoint");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("audit checkpoints are NOT verified"));
  CommandResult verify = Ctl(absl::StrCat("audit verify --checkpoint ", saved_));
  EXPECT_EQ(verify.exit_code, 1) << verify.output;
  EXPECT_THAT(verify.output, HasSubstr("--checkpoint needs the CA's audit public key"));
}

}  // namespace
}  // namespace meshtrust::ctl
