// The offline verifier (`meshtrust-ca audit verify`) names the first bad
// record after the log is edited, truncated in the middle or reordered.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/files.h"
#include "ca/audit/audit_checkpoint.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::ca {
namespace {

using ::meshtrust::testing::RunCommand;
using ::testing::HasSubstr;

class AuditCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TestCaOptions options;
    options.serve = false;
    ca_ = testing::TestCa::Create(options);
    ca_->AddCluster("cluster1");
    ca_->AddCluster("cluster2");
    ca_->LocalAgent("cluster1");
    ASSERT_GE(ca_->store()->Head().sequence, 8u);
  }
  void Sql(const std::string& stmt) { ASSERT_TRUE(ca_->ExecSql(stmt).ok()); }
  testing::CommandResult Verify() {
    return RunCommand(std::string(MESHTRUST_CA_BINARY) + " audit verify --state-dir " +
                      ca_->state_dir());
  }
  std::unique_ptr<testing::TestCa> ca_;
};

TEST_F(AuditCliTest, IntactLogVerifies) {
  auto r = Verify();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("audit log OK"));
}

TEST_F(AuditCliTest, ChangedByteIsNamed) {
  Sql("UPDATE audit SET target = 'cluster9' WHERE seq = 4");
  auto r = Verify();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("BROKEN at record 4"));
  EXPECT_THAT(r.output, HasSubstr("does not match its hash"));
}

TEST_F(AuditCliTest, ChangedTimestampIsNamed) {
  Sql("UPDATE audit SET time_ms = time_ms + 1 WHERE seq = 2");
  auto r = Verify();
  EXPECT_THAT(r.output, HasSubstr("BROKEN at record 2"));
}

TEST_F(AuditCliTest, DeletedRecordIsNamed) {
  Sql("DELETE FROM audit WHERE seq = 5");
  auto r = Verify();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("BROKEN at record 6: record 6 follows record 4"));
}

TEST_F(AuditCliTest, ReorderedRecordsAreNamed) {
  // Swap the contents of records 3 and 4, renumbering them.
  Sql("UPDATE audit SET seq = -3 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 4; "
      "UPDATE audit SET seq = 4 WHERE seq = -3;");
  auto r = Verify();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("BROKEN at record 3"));
}

TEST_F(AuditCliTest, ForeignPublicKeyIsRejected) {
  std::string key_file = ca_->state_dir() + "/../other.pub";
  ASSERT_EQ(RunCommand("printf '%064d\\n' 0 > " + key_file).exit_code, 0);
  auto r = RunCommand(std::string(MESHTRUST_CA_BINARY) + " audit verify --state-dir " +
                      ca_->state_dir() + " --public-key " + key_file);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("BROKEN at record 1"));
}

// A checkpoint a client saved, then the checks of `audit verify --checkpoint`.
class AuditCliCheckpointTest : public AuditCliTest {
 protected:
  void SetUp() override {
    AuditCliTest::SetUp();
    saved_ = ca_->authority()->Checkpoint();
    path_ = ca_->state_dir() + "/../saved-checkpoint.json";
    Save(saved_);
  }
  void Save(const AuditCheckpoint& c) {
    ASSERT_TRUE(WriteFileAtomically(path_, CheckpointJson(c) + "\n", 0644).ok());
  }
  testing::CommandResult VerifyCheckpoint() {
    return RunCommand(std::string(MESHTRUST_CA_BINARY) + " audit verify --state-dir " +
                      ca_->state_dir() + " --checkpoint " + path_);
  }
  AuditCheckpoint saved_;
  std::string path_;
};

TEST_F(AuditCliCheckpointTest, IntactLogHoldsTheCheckpoint) {
  auto r = VerifyCheckpoint();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr(absl::StrCat("audit log holds checkpoint ", saved_.sequence)));
  EXPECT_THAT(r.output, HasSubstr("audit log OK"));
}

TEST_F(AuditCliCheckpointTest, TruncationBySqlIsDetected) {
  // The chain that is left still verifies on its own...
  Sql("DELETE FROM audit WHERE seq > 4");
  EXPECT_EQ(Verify().exit_code, 0);
  // ...but not against the checkpoint.
  auto r = VerifyCheckpoint();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr(absl::StrCat(
                            "audit log does NOT hold checkpoint ", saved_.sequence,
                            ": audit log truncated: it ends at record 4, but a checkpoint signed "
                            "by this CA's audit key commits to record ",
                            saved_.sequence)));
}

TEST_F(AuditCliCheckpointTest, BadSignatureIsRefused) {
  AuditCheckpoint forged = saved_;
  forged.signature[0] ^= 1;
  Save(forged);
  auto r = VerifyCheckpoint();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("does not verify under the pinned audit key"));
}

TEST_F(AuditCliCheckpointTest, OtherHashAtTheSameRecordIsRefused) {
  // A record rewritten in place keeps its sequence.
  Sql(absl::StrCat("UPDATE audit SET target = 'cluster9' WHERE seq = ", saved_.sequence));
  auto r = VerifyCheckpoint();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output,
              HasSubstr(absl::StrCat("audit log does NOT hold checkpoint ", saved_.sequence,
                                     ": audit log broken at record ", saved_.sequence)));
}

TEST_F(AuditCliCheckpointTest, GarbageFileIsRefused) {
  ASSERT_TRUE(WriteFileAtomically(path_, "not a checkpoint", 0644).ok());
  auto r = VerifyCheckpoint();
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("is not an audit checkpoint (not JSON)"));
}

}  // namespace
}  // namespace meshtrust::ca
