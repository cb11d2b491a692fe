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

}  // namespace
}  // namespace meshtrust::ca
