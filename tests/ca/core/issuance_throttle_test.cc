// The per-cluster issuance limit (IssuanceThrottle, through the Authority,
// on a fake clock): one agent identity once obtained 7,663 intermediates in
// 20 s. Intermediates and identity renewals are limited per cluster, a flood
// of refusals is audited once, operators can change or lift the limit, and
// a rotation the operator or the CA asks for still goes through at the
// limit.
#include "ca/core/issuance_throttle.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "ca/core/authority.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::ca {
namespace {

using ::meshtrust::testing::FreshCsr;
using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr absl::StatusCode kExhausted = absl::StatusCode::kResourceExhausted;

class IssuanceThrottleTest : public testing::LocalCaTest {
 protected:
  absl::StatusOr<IssuedIntermediate> Sign(const Caller& agent, const std::string& cluster) {
    return ca_->authority()->SignIntermediate(agent, cluster, FreshCsr(), std::chrono::seconds(0));
  }
  uint64_t Head() { return ca_->store()->Head().sequence; }
};

TEST_F(IssuanceThrottleTest, IntermediatesAreLimitedPerClusterAndAFloodIsAuditedOnce) {
  IssuanceLimit defaults;
  ASSERT_EQ(defaults.burst, 10);
  ASSERT_EQ(defaults.refill_every, std::chrono::minutes(20));
  for (int i = 0; i < defaults.burst; ++i) ASSERT_THAT(Sign(agent1_, "cluster1"), IsOk()) << i;

  uint64_t head = Head();
  EXPECT_THAT(Sign(agent1_, "cluster1"),
              StatusIs(kExhausted,
                       HasSubstr("cluster \"cluster1\" has used up its intermediates (issuance "
                                 "limit: burst 10, then one every 1200s); try again in 1200s, or "
                                 "an operator can change the limit with `meshtrustctl cluster "
                                 "limit cluster1`")));
  ASSERT_EQ(Head(), head + 1);
  AuditRecord refused = LastAudit();
  EXPECT_EQ(refused.event.action, "SignIntermediate");
  EXPECT_THAT(refused.event.result, StartsWith("refused: RESOURCE_EXHAUSTED"));
  for (int i = 0; i < 50; ++i)
    EXPECT_THAT(Sign(agent1_, "cluster1"), StatusIs(kExhausted, HasSubstr("used up")));
  EXPECT_EQ(Head(), head + 1) << "the flood after the first refusal is not recorded";
  EXPECT_EQ(ca_->authority()->ThrottledClusters(CertificateKind::kIntermediate), 1u);
  EXPECT_EQ(ca_->authority()->ThrottledClusters(CertificateKind::kAgentIdentity), 0u);
  auto certs = ca_->store()->ListCertificates({"cluster1", std::string(kKindIntermediate), 1000});
  EXPECT_EQ(certs->size(), 10u);

  // Other clusters are not affected.
  Caller agent2 = ca_->LocalAgent("cluster2");
  EXPECT_THAT(Sign(agent2, "cluster2"), IsOk());

  // The bucket refills with time: one more, then refused again, and that
  // new lockout is audited again.
  clock_.Advance(std::chrono::minutes(20));
  EXPECT_THAT(Sign(agent1_, "cluster1"), IsOk());
  head = Head();
  EXPECT_THAT(Sign(agent1_, "cluster1"), StatusIs(kExhausted, HasSubstr("try again in 1200s")));
  EXPECT_EQ(Head(), head + 1);
}

TEST_F(IssuanceThrottleTest, IdentityRenewalsAreLimitedPerCluster) {
  for (int i = 0; i < 10; ++i)
    ASSERT_THAT(ca_->authority()->RenewIdentity(agent1_, FreshCsr()), IsOk()) << i;
  uint64_t head = Head();
  EXPECT_THAT(ca_->authority()->RenewIdentity(agent1_, FreshCsr()),
              StatusIs(kExhausted, HasSubstr("cluster \"cluster1\" has used up its identity "
                                             "renewals (issuance limit: burst 10")));
  EXPECT_EQ(Head(), head + 1);
  EXPECT_EQ(LastAudit().event.action, "RenewIdentity");
  EXPECT_EQ(ca_->authority()->ThrottledClusters(CertificateKind::kAgentIdentity), 1u);
  EXPECT_THAT(ca_->authority()->RenewIdentity(agent1_, FreshCsr()),
              StatusIs(kExhausted, HasSubstr("used up")));
  EXPECT_EQ(Head(), head + 1);
  // Renewals and intermediates are counted apart: a cluster that renewed
  // its identity often can still be issued its intermediate.
  EXPECT_THAT(Sign(agent1_, "cluster1"), IsOk());
}

TEST_F(IssuanceThrottleTest, AnOperatorChangesOrLiftsTheLimitOfOneCluster) {
  for (int i = 0; i < 10; ++i) ASSERT_THAT(Sign(agent1_, "cluster1"), IsOk());
  ASSERT_THAT(Sign(agent1_, "cluster1"), StatusIs(kExhausted, HasSubstr("used up")));

  IssuanceLimit lifted;
  lifted.unlimited = true;
  ASSERT_OK_AND_ASSIGN(ClusterRecord c, ca_->authority()->SetIssuanceLimit(ca_->LocalOperator(),
                                                                           "cluster1", lifted));
  EXPECT_TRUE(c.policy.issuance.unlimited);
  AuditRecord change = LastAudit();
  EXPECT_EQ(change.event.action, "SetIssuanceLimit");
  EXPECT_EQ(change.event.target, "cluster1");
  EXPECT_EQ(change.event.result, "ok: unlimited");
  for (int i = 0; i < 30; ++i) ASSERT_THAT(Sign(agent1_, "cluster1"), IsOk()) << i;

  // A new limit starts with a full bucket of its own size; it is stored,
  // so it outlives a restart.
  IssuanceLimit tight{false, 2, std::chrono::hours(1)};
  ASSERT_THAT(ca_->authority()->SetIssuanceLimit(ca_->LocalOperator(), "cluster1", tight), IsOk());
  ASSERT_THAT(ca_->Reopen(), IsOk());
  EXPECT_EQ(ca_->store()->GetCluster("cluster1")->policy.issuance, tight);
  EXPECT_THAT(Sign(agent1_, "cluster1"), IsOk());
  EXPECT_THAT(Sign(agent1_, "cluster1"), IsOk());
  EXPECT_THAT(
      Sign(agent1_, "cluster1"),
      StatusIs(kExhausted, HasSubstr("burst 2, then one every 3600s); try again in 3600s")));
  // cluster2 kept the default.
  EXPECT_EQ(ca_->store()->GetCluster("cluster2")->policy.issuance, IssuanceLimit{});

  // Out-of-range limits are refused, and only operators change limits.
  EXPECT_THAT(ca_->authority()->SetIssuanceLimit(ca_->LocalOperator(), "cluster1",
                                                 {false, 0, std::chrono::minutes(1)}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("issuance burst 0")));
  EXPECT_THAT(ca_->authority()->SetIssuanceLimit(agent1_, "cluster1", lifted),
              StatusIs(absl::StatusCode::kPermissionDenied, ::testing::_));
  EXPECT_THAT(ca_->authority()->SetIssuanceLimit(ca_->LocalOperator(), "nope", lifted),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

// `meshtrustctl rotate intermediate` must work on a cluster at its limit
// (after a key compromise, say): the first intermediate issued for the
// request is not counted. Only that one.
TEST_F(IssuanceThrottleTest, ARequestedRotationGoesThroughAtTheLimitOnce) {
  for (int i = 0; i < 10; ++i) ASSERT_THAT(Sign(agent1_, "cluster1"), IsOk());
  ASSERT_THAT(Sign(agent1_, "cluster1"), StatusIs(kExhausted, HasSubstr("used up")));
  ASSERT_THAT(ca_->authority()->RotateIntermediate(ca_->LocalOperator(), "cluster1"), IsOk());
  ASSERT_OK_AND_ASSIGN(IssuedIntermediate rotated, Sign(agent1_, "cluster1"));
  EXPECT_THAT(Sign(agent1_, "cluster1"), StatusIs(kExhausted, HasSubstr("used up")));
  // Still so before the agent acknowledged it: one intermediate per request.
  ASSERT_THAT(ca_->authority()->Ack(agent1_, "cluster1", rotated.serial, rotated.bundle.sha256),
              IsOk());
  EXPECT_THAT(Sign(agent1_, "cluster1"), StatusIs(kExhausted, HasSubstr("used up")));
}

// Requests racing to answer one rotation: only one of them goes uncounted.
TEST_F(IssuanceThrottleTest, ConcurrentRequestsAnsweringOneRotationGetOneIntermediate) {
  for (int i = 0; i < 10; ++i) ASSERT_THAT(Sign(agent1_, "cluster1"), IsOk());
  ASSERT_THAT(ca_->authority()->RotateIntermediate(ca_->LocalOperator(), "cluster1"), IsOk());
  std::vector<std::string> csrs;
  for (int i = 0; i < 16; ++i) csrs.push_back(FreshCsr());
  std::atomic<int> issued{0}, exhausted{0};
  std::vector<std::thread> threads;
  for (const std::string& csr : csrs) {
    threads.emplace_back([&, csr] {
      auto r =
          ca_->authority()->SignIntermediate(agent1_, "cluster1", csr, std::chrono::seconds(0));
      (r.ok() ? issued : exhausted) += 1;
      if (!r.ok()) EXPECT_EQ(r.status().code(), kExhausted) << r.status();
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(issued.load(), 1);
  EXPECT_EQ(exhausted.load(), 15);
}

// Activating a root rotation tells every agent to re-key: a cluster at its
// limit still gets its first intermediate from the new root, and only that.
TEST_F(IssuanceThrottleTest, ARootRotationGoesThroughAtTheLimitOnce) {
  for (int i = 0; i < 10; ++i) ASSERT_THAT(Sign(agent1_, "cluster1"), IsOk());
  ASSERT_THAT(Sign(agent1_, "cluster1"), StatusIs(kExhausted, HasSubstr("used up")));
  ASSERT_THAT(ca_->authority()->BeginRootRotation(ca_->LocalOperator()), IsOk());
  ASSERT_THAT(ca_->authority()->ActivateRootRotation(ca_->LocalOperator(), /*force=*/true), IsOk());
  ASSERT_OK_AND_ASSIGN(IssuedIntermediate from_new_root, Sign(agent1_, "cluster1"));
  auto record = *ca_->store()->GetCertificate(from_new_root.serial);
  EXPECT_EQ(record.issuer_key_id, ca_->authority()->RootKeyIds().back());
  EXPECT_THAT(Sign(agent1_, "cluster1"), StatusIs(kExhausted, HasSubstr("used up")));
}

TEST(IssuanceLimitTest, PoliciesStoredBeforeLimitsExistedTakeTheDefault) {
  ClusterPolicy stored;
  stored.issuance = {false, 3, std::chrono::seconds(60)};
  ASSERT_OK_AND_ASSIGN(ClusterPolicy round_trip, ClusterPolicy::FromJson(stored.ToJson()));
  EXPECT_EQ(round_trip.issuance, stored.issuance);
  ASSERT_OK_AND_ASSIGN(
      ClusterPolicy old,
      ClusterPolicy::FromJson(R"({"trust_domain":"cluster.local","allowed_keys":["ecdsa-p256"],)"
                              R"("max_ttl_seconds":86400,"name_constraints":false})"));
  EXPECT_EQ(old.issuance, IssuanceLimit{});
}

}  // namespace
}  // namespace meshtrust::ca
