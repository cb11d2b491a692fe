// Cluster administration through the Authority: who may change the
// registry, and what it accepts.
#include "ca/core/cluster_admin.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ca/core/authority.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::ca {
namespace {

using ::meshtrust::testing::FreshCsr;
using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::testing::HasSubstr;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;
constexpr absl::StatusCode kDenied = absl::StatusCode::kPermissionDenied;

class ClusterAdminTest : public testing::LocalCaTest {};

TEST_F(ClusterAdminTest, AuditorsReadButDoNotWrite) {
  auto token =
      *ca_->authority()->CreateAdminToken({CallerKind::kAuditor, "sec"}, std::chrono::hours(1));
  ASSERT_OK_AND_ASSIGN(IssuedIdentity id, ca_->authority()->Enroll(token.token, FreshCsr()));
  Caller auditor = testing::CallerOf(id.certificate_pem);
  EXPECT_EQ(auditor.kind, CallerKind::kAuditor);
  EXPECT_THAT(ca_->authority()->ListClusters(auditor), IsOk());
  EXPECT_THAT(ca_->authority()->VerifyAudit(auditor), IsOk());
  EXPECT_THAT(ca_->authority()->AddCluster(auditor, "x", {}, std::chrono::seconds(0)),
              StatusIs(kDenied, HasSubstr("auditor (read-only)")));
  EXPECT_THAT(ca_->authority()->ListClusters(agent1_),
              StatusIs(kDenied, HasSubstr("not an admin")));
}

TEST_F(ClusterAdminTest, ValidatesAdminInput) {
  Caller op = ca_->LocalOperator();
  EXPECT_THAT(ca_->authority()->AddCluster(op, "Bad_Name", {}, std::chrono::seconds(0)),
              StatusIs(kInvalid, HasSubstr("cluster name \"Bad_Name\" is invalid")));
  EXPECT_THAT(ca_->authority()->AddCluster(op, "cluster1", {}, std::chrono::seconds(0)),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("already exists")));
  ClusterPolicy bad;
  bad.trust_domain = "Not A Domain";
  EXPECT_THAT(ca_->authority()->AddCluster(op, "c3", bad, std::chrono::seconds(0)),
              StatusIs(kInvalid, HasSubstr("trust domain")));
  bad = {};
  bad.max_ttl = std::chrono::minutes(5);
  EXPECT_THAT(ca_->authority()->AddCluster(op, "c3", bad, std::chrono::seconds(0)),
              StatusIs(kInvalid, HasSubstr("below the minimum")));
  EXPECT_THAT(ca_->authority()->SetClusterEnabled(op, "nope", false),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("not registered")));
}

// A rotation requested while the agent was away used to be lost. It is
// kept in the store (so it survives a CA restart), is the first event of
// every Watch stream the agent opens, and ends only when the cluster
// acknowledges an intermediate issued after the request.
TEST_F(ClusterAdminTest, ARequestedRotationIsKeptUntilANewIntermediateIsAcknowledged) {
  auto first =
      *ca_->authority()->SignIntermediate(agent1_, "cluster1", FreshCsr(), std::chrono::seconds(0));
  ASSERT_THAT(ca_->authority()->Ack(agent1_, "cluster1", first.serial, first.bundle.sha256),
              IsOk());
  EXPECT_FALSE(ca_->store()->GetCluster("cluster1")->rotation_requested);

  ASSERT_OK_AND_ASSIGN(int listening,
                       ca_->authority()->RotateIntermediate(ca_->LocalOperator(), "cluster1"));
  EXPECT_EQ(listening, 0);
  AuditRecord request = LastAudit();
  EXPECT_EQ(request.event.action, "RotateIntermediate");
  EXPECT_EQ(request.event.target, "cluster1");
  EXPECT_EQ(request.event.result, "ok");

  // The CA restarts before the agent connects.
  ASSERT_THAT(ca_->Reopen(), IsOk());
  ClusterRecord c = *ca_->store()->GetCluster("cluster1");
  EXPECT_TRUE(c.rotation_requested);
  EXPECT_EQ(UnixSeconds(c.rotation_requested_at), UnixSeconds(clock_.Now()));
  EXPECT_FALSE(c.rotation_issued);
  auto next_event = [&] {
    auto sub = ca_->authority()->Watch(agent1_, "cluster1");
    EXPECT_THAT(sub, IsOk());
    return sub.ok() ? (*sub)->Next(std::chrono::milliseconds(0)) : std::nullopt;
  };
  EXPECT_EQ(next_event(), WatchEventType::kRotateNow);
  // Another cluster's agent is not told.
  Caller agent2 = ca_->LocalAgent("cluster2");
  EXPECT_EQ((*ca_->authority()->Watch(agent2, "cluster2"))->Next(std::chrono::milliseconds(0)),
            std::nullopt);

  // Acknowledging the old intermediate again does not complete it.
  ASSERT_THAT(ca_->authority()->Ack(agent1_, "cluster1", first.serial, first.bundle.sha256),
              IsOk());
  EXPECT_EQ(next_event(), WatchEventType::kRotateNow);
  // Nor does issuing a new one that the agent has not installed yet.
  auto rotated =
      *ca_->authority()->SignIntermediate(agent1_, "cluster1", FreshCsr(), std::chrono::seconds(0));
  c = *ca_->store()->GetCluster("cluster1");
  EXPECT_TRUE(c.rotation_requested);
  EXPECT_TRUE(c.rotation_issued);
  EXPECT_EQ(next_event(), WatchEventType::kRotateNow);
  // Installing it does.
  ASSERT_THAT(ca_->authority()->Ack(agent1_, "cluster1", rotated.serial, rotated.bundle.sha256),
              IsOk());
  EXPECT_FALSE(ca_->store()->GetCluster("cluster1")->rotation_requested);
  EXPECT_EQ(next_event(), std::nullopt);
  ASSERT_THAT(ca_->Reopen(), IsOk());
  EXPECT_EQ(next_event(), std::nullopt);
}

TEST_F(ClusterAdminTest, RotationRequestsNeedAnOperatorAndAnEnabledCluster) {
  EXPECT_THAT(ca_->authority()->RotateIntermediate(agent1_, "cluster1"),
              StatusIs(kDenied, ::testing::_));
  EXPECT_THAT(ca_->authority()->RotateIntermediate(ca_->LocalOperator(), "nope"),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  ASSERT_THAT(ca_->authority()->SetClusterEnabled(ca_->LocalOperator(), "cluster2", false), IsOk());
  EXPECT_THAT(ca_->authority()->RotateIntermediate(ca_->LocalOperator(), "cluster2"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("disabled")));
  EXPECT_FALSE(ca_->store()->GetCluster("cluster1")->rotation_requested);
  EXPECT_FALSE(ca_->store()->GetCluster("cluster2")->rotation_requested);
}

}  // namespace
}  // namespace meshtrust::ca
