// AuditedCall: each outcome leaves exactly the record it promises (or none),
// and a call that ends without an outcome is still recorded, as unfinished.
#include "ca/core/audited_call.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "ca/store/sqlite_store.h"
#include "pki/digest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace meshtrust::ca {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::meshtrust::testing::TempDir;
using ::testing::HasSubstr;

class AuditedCallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signer_ = *AuditSigner::FromSeed(AuditSigner::GenerateSeed());
    auto store = SqliteStore::Open(dir_.Sub("ca.db"), signer_.get());
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
    audit_ = std::make_unique<AuditTrail>(store_.get(), signer_.get(), &clock_);
  }

  uint64_t Head() { return store_->Head().sequence; }
  // The newest record; fails the test when there is none.
  AuditEvent Last() {
    auto records = store_->ReadAudit(Head() - 1, 1);
    EXPECT_THAT(records, IsOk());
    EXPECT_EQ(records->size(), 1u);
    return records->empty() ? AuditEvent{} : records->front().event;
  }
  void Sql(const char* statement) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir_.Sub("ca.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, statement, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<AuditSigner> signer_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<AuditTrail> audit_;
  const Caller agent_{CallerKind::kAgent, "cluster1", "abcd"};
};

TEST_F(AuditedCallTest, RefuseRecordsTheRefusalAndReturnsTheStatus) {
  TimePoint began = clock_.Now();
  {
    AuditedCall call = audit_->Begin(agent_, "SignIntermediate", "cluster1", "d1g3st");
    clock_.Advance(std::chrono::seconds(5));  // The record is timed when the call began.
    EXPECT_THAT(call.Refuse(absl::PermissionDeniedError("not yours")),
                StatusIs(absl::StatusCode::kPermissionDenied, "not yours"));
  }
  ASSERT_EQ(Head(), 1u);
  AuditEvent last = Last();
  EXPECT_EQ(last.caller, "spiffe://meshtrust/cluster/cluster1");
  EXPECT_EQ(last.action, "SignIntermediate");
  EXPECT_EQ(last.target, "cluster1");
  EXPECT_EQ(last.request_sha256, "d1g3st");
  EXPECT_EQ(last.result, "refused: PERMISSION_DENIED: not yours");
  EXPECT_EQ(last.serial, "");
  EXPECT_EQ(std::chrono::floor<std::chrono::milliseconds>(last.time),
            std::chrono::floor<std::chrono::milliseconds>(began));
}

TEST_F(AuditedCallTest, RecordWritesTheResultNow) {
  {
    AuditedCall call = audit_->Begin(agent_, "ListClusters", "", "");
    EXPECT_THAT(call.Record(), IsOk());
    EXPECT_EQ(Head(), 1u);
  }
  EXPECT_EQ(Head(), 1u);
  EXPECT_EQ(Last().result, "ok");
  {
    AuditedCall call = audit_->Begin(agent_, "VerifyAudit", "", "");
    EXPECT_THAT(call.Record("chain broken at 7"), IsOk());
  }
  EXPECT_EQ(Last().result, "chain broken at 7");
}

TEST_F(AuditedCallTest, RecordAnswersWhatTheStoreAnswered) {
  Sql("CREATE TRIGGER audit_fault BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk full'); "
      "END;");
  AuditedCall call = audit_->Begin(agent_, "ListClusters", "", "");
  EXPECT_THAT(call.Record(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("audit log write failed")));
  EXPECT_EQ(Head(), 0u);
}

TEST_F(AuditedCallTest, SucceededHandsTheRecordToTheStoresTransaction) {
  {
    AuditedCall call = audit_->Begin(agent_, "RevokeCertificate", "ab12", "");
    call.set_serial("ab12");
    const AuditEvent& event = call.Succeeded("ok: superseded");
    EXPECT_EQ(event.result, "ok: superseded");
    EXPECT_EQ(event.serial, "ab12");
    EXPECT_EQ(Head(), 0u) << "the call itself writes nothing; the store's change carries it";
    ASSERT_THAT(store_->AppendAudit(event), IsOk());
  }
  EXPECT_EQ(Head(), 1u) << "a call handed to the store has an outcome";
  EXPECT_EQ(Last().result, "ok: superseded");
}

TEST_F(AuditedCallTest, ARefusalAfterTheStoreRefusedTheChangeKeepsWhatTheCallLearned) {
  AuditedCall call = audit_->Begin(agent_, "Enroll", "", "");
  call.set_target("spiffe://meshtrust/cluster/cluster1");
  call.set_serial("ff01");
  (void)call.Succeeded();  // The store then says another redemption won.
  EXPECT_THAT(call.Refuse(absl::UnauthenticatedError("join token was already used")),
              StatusIs(absl::StatusCode::kUnauthenticated, ::testing::_));
  AuditEvent last = Last();
  EXPECT_EQ(last.target, "spiffe://meshtrust/cluster/cluster1");
  EXPECT_EQ(last.serial, "ff01");
  EXPECT_EQ(last.result, "refused: UNAUTHENTICATED: join token was already used");
}

TEST_F(AuditedCallTest, FailAndUnrecordedWriteNothing) {
  {
    AuditedCall call = audit_->Begin(agent_, "RootRotationBegin", "", "");
    EXPECT_THAT(call.Fail(absl::DataLossError("malformed")),
                StatusIs(absl::StatusCode::kDataLoss, "malformed"));
  }
  {
    AuditedCall call = audit_->Begin(agent_, "GetTrustBundle", "cluster1", "");
    call.Unrecorded();
  }
  EXPECT_EQ(Head(), 0u);
}

TEST_F(AuditedCallTest, ACallThatEndsWithoutAnOutcomeIsRecordedAsUnfinished) {
  { AuditedCall forgotten = audit_->Begin(agent_, "NewRpc", "cluster1", "d"); }
  ASSERT_EQ(Head(), 1u);
  AuditEvent last = Last();
  EXPECT_EQ(last.action, "NewRpc");
  EXPECT_EQ(last.target, "cluster1");
  EXPECT_EQ(last.result, kUnfinishedResult);
}

TEST_F(AuditedCallTest, ARefusalTheStoreCannotRecordIsStillReturned) {
  Sql("CREATE TRIGGER audit_fault BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk full'); "
      "END;");
  AuditedCall call = audit_->Begin(agent_, "Ack", "cluster1", "");
  EXPECT_THAT(call.Refuse(absl::InvalidArgumentError("bad serial")),
              StatusIs(absl::StatusCode::kInvalidArgument, "bad serial"));
  EXPECT_EQ(Head(), 0u);
}

TEST_F(AuditedCallTest, BeginAsNamesTheCallerGiven) {
  EXPECT_THAT(audit_->BeginAs("anonymous from 192.0.2.7", "Enroll", "", "")
                  .Refuse(absl::InvalidArgumentError("join token is malformed")),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_EQ(Last().caller, "anonymous from 192.0.2.7");
}

TEST_F(AuditedCallTest, CheckpointsSignTheHead) {
  EXPECT_THAT(
      audit_->Begin(agent_, "ListClusters", "", "").Refuse(absl::PermissionDeniedError("no")),
      StatusIs(absl::StatusCode::kPermissionDenied, ::testing::_));
  AuditCheckpoint checkpoint = audit_->Checkpoint();
  EXPECT_EQ(checkpoint.sequence, 1u);
  EXPECT_TRUE(VerifyAuditCheckpoint(audit_->public_key(), checkpoint));
}

TEST(RequestDigestTest, LengthPrefixesEachPart) {
  EXPECT_EQ(RequestDigest({"ab", "c"}), pki::Sha256Hex(std::string("\0\0\0\x02"
                                                                   "ab"
                                                                   "\0\0\0\x01"
                                                                   "c",
                                                                   11)));
  EXPECT_NE(RequestDigest({"ab", "c"}), RequestDigest({"a", "bc"}));
  EXPECT_NE(RequestDigest({"", "x"}), RequestDigest({"x", ""}));
}

}  // namespace
}  // namespace meshtrust::ca
