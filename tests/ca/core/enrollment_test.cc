// Enrollment through the Authority: join tokens are checked, single use even
// under concurrent use, and decide the identity; identity CSRs follow the
// same rules as intermediates'.
#include "ca/core/enrollment.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ca/core/authority.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "tests/testing/hostile_inputs.h"
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
constexpr absl::StatusCode kUnauthenticated = absl::StatusCode::kUnauthenticated;

class EnrollmentTest : public testing::LocalCaTest {};

TEST_F(EnrollmentTest, JoinTokensAreCheckedAndSingleUse) {
  auto enroll = [&](const std::string& token) {
    return ca_->authority()->Enroll(token, FreshCsr());
  };
  EXPECT_THAT(enroll("not-a-token"), StatusIs(kInvalid, HasSubstr("join token is malformed")));
  EXPECT_THAT(enroll("mtj1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
              StatusIs(kUnauthenticated, HasSubstr("join token is not valid")));
  EXPECT_THAT(LastAudit().event.result, HasSubstr("refused: UNAUTHENTICATED"));

  auto token = *ca_->authority()->CreateJoinToken(ca_->LocalOperator(), "cluster2",
                                                  std::chrono::minutes(10));
  ASSERT_OK_AND_ASSIGN(IssuedIdentity identity, enroll(token.token));
  EXPECT_EQ(identity.identity, "spiffe://meshtrust/cluster/cluster2");
  EXPECT_THAT(enroll(token.token), StatusIs(kUnauthenticated, HasSubstr("already used")));

  auto expiring = *ca_->authority()->CreateJoinToken(ca_->LocalOperator(), "cluster2",
                                                     std::chrono::minutes(10));
  clock_.Advance(std::chrono::minutes(11));
  EXPECT_THAT(enroll(expiring.token), StatusIs(kUnauthenticated, HasSubstr("expired")));
  EXPECT_THAT(
      ca_->authority()->CreateJoinToken(ca_->LocalOperator(), "nope", std::chrono::minutes(10)),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("not registered")));

  // A cluster1 token only ever yields a cluster1 identity.
  auto t1 = *ca_->authority()->CreateJoinToken(ca_->LocalOperator(), "cluster1",
                                               std::chrono::minutes(10));
  ASSERT_OK_AND_ASSIGN(IssuedIdentity id1, enroll(t1.token));
  Caller c1 = testing::CallerOf(id1.certificate_pem);
  EXPECT_THAT(
      ca_->authority()->SignIntermediate(c1, "cluster2", FreshCsr(), std::chrono::seconds(0)),
      StatusIs(kDenied, ::testing::_));
}

TEST_F(EnrollmentTest, RefusesIdentityCsrsWithExtensions) {
  auto token = *ca_->authority()->CreateJoinToken(ca_->LocalOperator(), "cluster1",
                                                  std::chrono::minutes(10));
  auto key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  EXPECT_THAT(ca_->authority()->Enroll(
                  token.token,
                  testing::CsrWithExtensions(
                      key.get(), {{"subjectAltName", "URI:spiffe://meshtrust/cluster/cluster2"}})),
              StatusIs(kInvalid, HasSubstr("CSR requests extensions (subjectAltName)")));
  // The refused attempt did not burn the token.
  EXPECT_THAT(ca_->authority()->Enroll(token.token, FreshCsr()), IsOk());
}

TEST_F(EnrollmentTest, ARenewedIdentitySupersedesThePreviousOnceItIsUsed) {
  Authority* authority = ca_->authority();
  absl::StatusOr<IssuedIdentity> renewed = authority->RenewIdentity(agent1_, FreshCsr());
  ASSERT_THAT(renewed.status(), IsOk());
  Caller renewed_caller = testing::CallerOf(renewed->certificate_pem);
  // Until the renewed identity has worked, the agent may go on with the old.
  EXPECT_THAT(authority->GetTrustBundle(agent1_).status(), IsOk());

  EXPECT_THAT(authority->GetTrustBundle(renewed_caller).status(), IsOk());
  EXPECT_EQ(LastAudit().event.action, "SupersedeIdentity");
  EXPECT_EQ(LastAudit().event.serial, agent1_.serial);
  uint64_t head = ca_->store()->Head().sequence;
  auto superseded = StatusIs(
      kUnauthenticated,
      HasSubstr(absl::StrCat("client certificate ", agent1_.serial, " was superseded at ")));
  EXPECT_THAT(authority->GetTrustBundle(agent1_).status(), superseded);
  EXPECT_THAT(authority->GetTrustBundle(agent1_).status(),
              StatusIs(kUnauthenticated,
                       HasSubstr(absl::StrCat("by the renewed identity ", renewed_caller.serial))));
  EXPECT_THAT(authority->RenewIdentity(agent1_, FreshCsr()).status(), superseded);
  EXPECT_GT(ca_->store()->Head().sequence, head);  // The refusals are audited.
  // Supersession happens once; the renewed identity goes on working.
  EXPECT_THAT(authority->GetTrustBundle(renewed_caller).status(), IsOk());
  EXPECT_NE(LastAudit().event.action, "SupersedeIdentity");
  absl::StatusOr<CertificateRecord> old = ca_->store()->GetCertificate(agent1_.serial);
  ASSERT_THAT(old.status(), IsOk());
  EXPECT_TRUE(old->superseded);
  EXPECT_EQ(old->superseded_by, renewed_caller.serial);
  EXPECT_FALSE(old->revoked);
}

TEST_F(EnrollmentTest, ConcurrentEnrollWithOneTokenSucceedsOnce) {
  constexpr int kCallers = 32;
  auto token = *ca_->authority()->CreateJoinToken(ca_->LocalOperator(), "cluster2",
                                                  std::chrono::minutes(10));
  std::vector<std::string> csrs;
  for (int i = 0; i < kCallers; ++i) csrs.push_back(FreshCsr());
  std::atomic<int> ok{0}, already_used{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      auto r = ca_->authority()->Enroll(token.token, csrs[i]);
      if (r.ok()) ++ok;
      if (!r.ok() && absl::StrContains(r.status().message(), "already used")) ++already_used;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(already_used.load(), kCallers - 1);
  auto ids = *ca_->store()->ListCertificates({"cluster2", std::string(kKindAgentIdentity), 100});
  EXPECT_EQ(ids.size(), 1u);
}

}  // namespace
}  // namespace meshtrust::ca
