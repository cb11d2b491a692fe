// The rules every client applies to the checkpoints it receives, and the
// checkpoint's JSON form.
#include "ca/audit/audit_checkpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace meshtrust::ca {
namespace {

using ::meshtrust::testing::StatusIs;
using ::testing::HasSubstr;

class CheckpointLedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto signer = AuditSigner::FromSeed(AuditSigner::GenerateSeed());
    ASSERT_TRUE(signer.ok());
    signer_ = *std::move(signer);
    auto other = AuditSigner::FromSeed(AuditSigner::GenerateSeed());
    ASSERT_TRUE(other.ok());
    other_ = *std::move(other);
  }
  AuditCheckpoint Sign(uint64_t sequence, char fill, const AuditSigner* signer = nullptr) {
    auto c = (signer ? signer : signer_.get())
                 ->SignCheckpoint(AuditHead{sequence, std::string(kAuditHashBytes, fill)});
    EXPECT_TRUE(c.ok());
    return *c;
  }
  CheckpointLedger Ledger(std::optional<AuditCheckpoint> kept = std::nullopt) {
    auto l = CheckpointLedger::Create(signer_->public_key(), std::move(kept));
    EXPECT_TRUE(l.ok()) << l.status();
    return *std::move(l);
  }
  static bool Raised(absl::StatusOr<bool> r) {
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() && *r;
  }
  std::unique_ptr<AuditSigner> signer_, other_;
};

TEST_F(CheckpointLedgerTest, KeepsTheHighest) {
  CheckpointLedger ledger = Ledger();
  EXPECT_TRUE(Raised(ledger.Accept(Sign(5, 'a'))));
  EXPECT_FALSE(Raised(ledger.Accept(Sign(5, 'a'))));
  EXPECT_TRUE(Raised(ledger.Accept(Sign(9, 'b'))));
  ASSERT_TRUE(ledger.kept().has_value());
  EXPECT_EQ(ledger.kept()->sequence, 9u);
}

TEST_F(CheckpointLedgerTest, LowerSequenceIsARollbackAndChangesNothing) {
  CheckpointLedger ledger = Ledger(Sign(9, 'b'));
  EXPECT_THAT(ledger.Accept(Sign(4, 'a')).status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("audit log rolled back: the CA's checkpoint is at record 4 but a "
                                 "checkpoint at record 9 was seen before")));
  EXPECT_EQ(ledger.kept()->sequence, 9u);
}

TEST_F(CheckpointLedgerTest, SameSequenceOtherHashIsAForkAndChangesNothing) {
  CheckpointLedger ledger = Ledger(Sign(9, 'b'));
  EXPECT_THAT(ledger.Accept(Sign(9, 'c')).status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("audit log forked: the CA's checkpoint at record 9 has head hash "
                                 "6363636363636363...")));
  EXPECT_EQ(ledger.kept()->head_hash, std::string(kAuditHashBytes, 'b'));
}

TEST_F(CheckpointLedgerTest, BadSignatureIsRefusedAndChangesNothing) {
  CheckpointLedger ledger = Ledger(Sign(3, 'a'));
  AuditCheckpoint forged = Sign(12, 'z', other_.get());
  EXPECT_THAT(ledger.Accept(forged).status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("the audit checkpoint at record 12 does not verify under the "
                                 "pinned audit key")));
  AuditCheckpoint edited = Sign(12, 'z');
  edited.sequence = 13;
  EXPECT_THAT(ledger.Accept(edited).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("record 13 does not verify")));
  EXPECT_EQ(ledger.kept()->sequence, 3u);
}

TEST_F(CheckpointLedgerTest, KeptCheckpointOfAnotherKeyIsRefused) {
  EXPECT_THAT(CheckpointLedger::Create(signer_->public_key(), Sign(3, 'a', other_.get())).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("the kept checkpoint is not valid")));
}

TEST_F(CheckpointLedgerTest, JsonRoundTrips) {
  AuditCheckpoint c = Sign(42, 'q');
  auto parsed = ParseCheckpointJson("  " + CheckpointJson(c) + "\n", "f");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->sequence, 42u);
  EXPECT_EQ(parsed->head_hash, c.head_hash);
  EXPECT_EQ(parsed->signature, c.signature);
}

TEST_F(CheckpointLedgerTest, GarbageJsonIsNamed) {
  EXPECT_THAT(ParseCheckpointJson("garbage", "cp.json").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cp.json is not an audit checkpoint (not JSON)")));
  EXPECT_THAT(ParseCheckpointJson("[1]", "f").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a JSON object")));
  EXPECT_THAT(ParseCheckpointJson(R"({"sequence":1,"head_hash":"00"})", "f").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no field \"signature\"")));
  EXPECT_THAT(
      ParseCheckpointJson(R"({"sequence":1,"head_hash":"00","signature":"zz"})", "f").status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"head_hash\" has 1 bytes, not 32")));
  EXPECT_THAT(ParseCheckpointJson(R"({"sequence":-1,"head_hash":"","signature":""})", "f").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"sequence\" is negative")));
}

}  // namespace
}  // namespace meshtrust::ca
