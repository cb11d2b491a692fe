#include "ca/audit/audit_chain.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace meshtrust::ca {
namespace {

using ::testing::HasSubstr;

std::vector<AuditRecord> MakeLog(const AuditSigner& signer, int n) {
  std::vector<AuditRecord> log;
  AuditHead head;
  for (int i = 1; i <= n; ++i) {
    AuditEvent e;
    e.time = FromUnixSeconds(1700000000 + i);
    e.caller = "spiffe://meshtrust/cluster/c" + std::to_string(i);
    e.action = "SignIntermediate";
    e.target = "c" + std::to_string(i);
    e.result = "ok";
    log.push_back(*signer.Seal(i, e, head.hash));
    head = {log.back().sequence, log.back().hash};
  }
  return log;
}

AuditVerifier Verify(const AuditSigner& signer, const std::vector<AuditRecord>& log) {
  AuditVerifier v(signer.public_key());
  for (const AuditRecord& r : log) {
    if (!v.Next(r)) break;
  }
  return v;
}

class AuditChainTest : public ::testing::Test {
 protected:
  void SetUp() override { signer_ = *AuditSigner::FromSeed(AuditSigner::GenerateSeed()); }
  std::unique_ptr<AuditSigner> signer_;
};

TEST_F(AuditChainTest, IntactLogVerifies) {
  auto log = MakeLog(*signer_, 10);
  AuditVerifier v = Verify(*signer_, log);
  EXPECT_TRUE(v.ok()) << v.problem();
  EXPECT_EQ(v.checked(), 10u);
  EXPECT_EQ(v.head().hash, log.back().hash);
}

TEST_F(AuditChainTest, ChangedFieldIsNamed) {
  auto log = MakeLog(*signer_, 10);
  log[4].event.result = "refused";
  AuditVerifier v = Verify(*signer_, log);
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.first_bad_sequence(), 5u);
  EXPECT_THAT(v.problem(), HasSubstr("does not match its hash"));
}

TEST_F(AuditChainTest, DeletionAndReorderAreNamed) {
  auto log = MakeLog(*signer_, 10);
  auto deleted = log;
  deleted.erase(deleted.begin() + 3);
  AuditVerifier v = Verify(*signer_, deleted);
  EXPECT_EQ(v.first_bad_sequence(), 5u);
  EXPECT_THAT(v.problem(), HasSubstr("deleted, inserted or reordered"));

  auto swapped = log;
  std::swap(swapped[6], swapped[7]);
  AuditVerifier w = Verify(*signer_, swapped);
  EXPECT_EQ(w.first_bad_sequence(), 8u);
}

TEST_F(AuditChainTest, RecomputedHashWithoutKeyFailsSignature) {
  auto log = MakeLog(*signer_, 3);
  // An attacker rewrites record 2 and recomputes its hash, but cannot sign.
  log[1].event.target = "forged";
  log[1].hash = AuditRecordHash(log[0].hash, 2, log[1].event);
  AuditVerifier v = Verify(*signer_, log);
  EXPECT_EQ(v.first_bad_sequence(), 2u);
  EXPECT_THAT(v.problem(), HasSubstr("invalid signature"));
}

TEST_F(AuditChainTest, OtherKeyIsRejected) {
  auto log = MakeLog(*signer_, 2);
  auto other = *AuditSigner::FromSeed(AuditSigner::GenerateSeed());
  AuditVerifier v(other->public_key());
  EXPECT_FALSE(v.Next(log[0]));
  EXPECT_THAT(v.problem(), HasSubstr("invalid signature"));
}

TEST_F(AuditChainTest, CheckpointsVerify) {
  auto log = MakeLog(*signer_, 4);
  AuditCheckpoint c = *signer_->SignCheckpoint({4, log.back().hash});
  EXPECT_TRUE(VerifyAuditCheckpoint(signer_->public_key(), c));
  c.sequence = 3;
  EXPECT_FALSE(VerifyAuditCheckpoint(signer_->public_key(), c));
}

}  // namespace
}  // namespace meshtrust::ca
