// The CA keeps the newest checkpoint it handed out outside its database and
// refuses to start when the log is behind it; it can also export them.
#include "ca/state/published_checkpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_split.h"
#include "base/files.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::ca {
namespace {

using ::meshtrust::testing::StatusIs;
using ::testing::HasSubstr;

class PublishedCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TestCaOptions options;
    options.serve = false;
    ca_ = testing::TestCa::Create(options);
    ca_->AddCluster("cluster1");
    ca_->LocalAgent("cluster1");
    // Handed out (as with every answer), then written as a stopping CA does.
    published_ = ca_->authority()->Checkpoint();
    ASSERT_GE(published_.sequence, 6u);
    ASSERT_TRUE(ca_->Reopen().ok());
  }
  void Sql(const std::string& stmt) { ASSERT_TRUE(ca_->ExecSql(stmt).ok()); }
  std::string CheckpointFile() const { return ca_->state_dir() + "/" + kPublishedCheckpointFile; }
  std::unique_ptr<testing::TestCa> ca_;
  AuditCheckpoint published_;
};

TEST_F(PublishedCheckpointTest, StoppingWritesTheNewestAndStartingAcceptsAnIntactLog) {
  auto text = ReadFile(CheckpointFile());
  ASSERT_TRUE(text.ok()) << text.status();
  auto kept = ParseCheckpointJson(*text, "file");
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->sequence, published_.sequence);
  EXPECT_EQ(kept->head_hash, published_.head_hash);
  EXPECT_TRUE(ca_->Reopen().ok());
}

TEST_F(PublishedCheckpointTest, TruncatedLogIsRefusedAtStartUp) {
  Sql("DELETE FROM audit WHERE seq > 3");
  EXPECT_THAT(ca_->Reopen(),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr(absl::StrCat(
                           "refusing to start: the audit log is behind the newest checkpoint this "
                           "CA published (",
                           CheckpointFile(), ", record ", published_.sequence,
                           "): audit log truncated: it ends at record 3"))));
}

TEST_F(PublishedCheckpointTest, ServeRefusesToStartOnATruncatedLog) {
  Sql("DELETE FROM audit WHERE seq > 3");
  auto r = testing::RunCommand(absl::StrCat("timeout 30 ", MESHTRUST_CA_BINARY,
                                            " serve --state-dir ", ca_->state_dir(), " --kek-file ",
                                            ca_->kek_file(), " --listen 127.0.0.1:0"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.exit_code, 124) << "serve started on a truncated log: " << r.output;
  EXPECT_THAT(r.output, HasSubstr("refusing to start: the audit log is behind the newest "
                                  "checkpoint this CA published"));
}

TEST_F(PublishedCheckpointTest, RewrittenRecordIsRefusedAtStartUp) {
  Sql(absl::StrCat("UPDATE audit SET hash = zeroblob(32) WHERE seq = ", published_.sequence));
  EXPECT_THAT(ca_->Reopen(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("audit log rewritten: record")));
}

TEST_F(PublishedCheckpointTest, GarbageCheckpointFileIsRefusedAtStartUp) {
  ASSERT_TRUE(WriteFileAtomically(CheckpointFile(), "garbage", 0600).ok());
  EXPECT_THAT(ca_->Reopen(), StatusIs(absl::StatusCode::kDataLoss,
                                      HasSubstr("refusing to start: " + CheckpointFile() +
                                                " is not an audit checkpoint (not JSON)")));
}

TEST_F(PublishedCheckpointTest, CheckpointOfAnotherKeyIsRefusedAtStartUp) {
  auto other = AuditSigner::FromSeed(AuditSigner::GenerateSeed());
  ASSERT_TRUE(other.ok());
  auto forged = (*other)->SignCheckpoint(AuditHead{published_.sequence, published_.head_hash});
  ASSERT_TRUE(forged.ok());
  ASSERT_TRUE(WriteFileAtomically(CheckpointFile(), CheckpointJson(*forged), 0600).ok());
  EXPECT_THAT(ca_->Reopen(), StatusIs(absl::StatusCode::kDataLoss,
                                      HasSubstr("does not verify under the pinned audit key")));
}

TEST_F(PublishedCheckpointTest, ExportLogGetsAppendedJsonLines) {
  std::string log = ca_->state_dir() + "-checkpoints.jsonl";
  PublishedCheckpoint* published = ca_->state().published_checkpoint.get();
  ASSERT_TRUE(published->ExportTo(log).ok());
  ASSERT_TRUE(published->Flush().ok());
  ca_->AddCluster("cluster2");
  AuditCheckpoint later = ca_->authority()->Checkpoint();
  ASSERT_TRUE(published->Flush().ok());
  auto text = ReadFile(log);
  ASSERT_TRUE(text.ok()) << text.status();
  std::vector<std::string> lines = absl::StrSplit(*text, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << *text;
  auto first = ParseCheckpointJson(lines[0], "line 1");
  auto second = ParseCheckpointJson(lines[1], "line 2");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->sequence, published_.sequence);
  EXPECT_EQ(second->sequence, later.sequence);
  EXPECT_TRUE(VerifyAuditCheckpoint(ca_->authority()->AuditPublicKey(), *second));
  EXPECT_THAT(published->ExportTo("/nonexistent-dir/x.jsonl"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--checkpoint-log: cannot open /nonexistent-dir/x.jsonl")));
}

}  // namespace
}  // namespace meshtrust::ca
