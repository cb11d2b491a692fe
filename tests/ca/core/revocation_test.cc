#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ca/core/authority.h"
#include "ca/server/public_http.h"
#include "net/http_server.h"
#include "pki/crl.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/pem.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::ca {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

class CaRevocationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TestCaOptions options;
    options.serve = false;
    options.clock = &clock_;
    ca_ = testing::TestCa::Create(options);
    ca_->AddCluster("cluster1");
    agent_ = ca_->LocalAgent("cluster1");
  }
  IssuedIntermediate Sign() {
    auto key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
    return *ca_->authority()->SignIntermediate(agent_, "cluster1", *pki::BuildCsrDer(key.get(), ""),
                                               std::chrono::seconds(0));
  }
  ossl::UniquePtr<X509_CRL> RootCrl() {
    auto pem = ca_->authority()->RootCrlPem("mesh-root-1");
    EXPECT_THAT(pem, IsOk());
    return std::move((*pki::ParseCrlsPem(*pem))[0]);
  }
  FakeClock clock_;
  std::unique_ptr<testing::TestCa> ca_;
  Caller agent_;
};

TEST_F(CaRevocationTest, RevokingASerialPublishesANewCrl) {
  ASSERT_THAT(ca_->authority()->RefreshCrls(), IsOk());
  uint64_t first = pki::CrlNumber(RootCrl().get());
  IssuedIntermediate a = Sign();
  IssuedIntermediate b = Sign();
  ASSERT_OK_AND_ASSIGN(RevokeResult r,
                       ca_->authority()->Revoke(ca_->LocalOperator(), "", a.serial, "superseded"));
  EXPECT_THAT(r.serials, ElementsAre(a.serial));
  auto crl = RootCrl();
  EXPECT_GT(pki::CrlNumber(crl.get()), first);
  EXPECT_EQ(pki::CrlNumber(crl.get()), r.crl_number);
  EXPECT_THAT(pki::RevokedSerials(crl.get()), ElementsAre(a.serial));
  auto roots = *pki::ParseCertificateChainPem(ca_->authority()->CurrentBundle().roots_pem);
  EXPECT_THAT(pki::VerifyCrl(crl.get(), roots[0].get()), IsOk());
  // The cluster stays enabled when one serial is revoked.
  EXPECT_TRUE(ca_->store()->GetCluster("cluster1")->enabled);
  EXPECT_THAT(ca_->authority()->Revoke(ca_->LocalOperator(), "", a.serial, "superseded"),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("already revoked")));
  EXPECT_THAT(ca_->authority()->Revoke(ca_->LocalOperator(), "", "abcdef", "superseded"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no certificate")));
  EXPECT_THAT(ca_->authority()->Revoke(ca_->LocalOperator(), "", b.serial, "badReason"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown revocation reason")));
  EXPECT_THAT(ca_->authority()->Revoke(ca_->LocalOperator(), "cluster1", b.serial, "superseded"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exactly one")));
  EXPECT_THAT(ca_->authority()->Revoke(agent_, "", b.serial, "superseded"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("not an admin")));
}

TEST_F(CaRevocationTest, ReleasingAHoldPublishesAFreshCrlWithoutItAndIsAudited) {
  IssuedIntermediate held = Sign();
  IssuedIntermediate other = Sign();
  ASSERT_THAT(ca_->authority()->Revoke(ca_->LocalOperator(), "", held.serial, "certificateHold"),
              IsOk());
  ASSERT_THAT(ca_->authority()->Revoke(ca_->LocalOperator(), "", other.serial, "keyCompromise"),
              IsOk());
  auto before = RootCrl();
  EXPECT_THAT(pki::RevokedSerials(before.get()), ::testing::Contains(held.serial));

  ASSERT_OK_AND_ASSIGN(RevokeResult r,
                       ca_->authority()->ReleaseHold(ca_->LocalOperator(), held.serial));
  EXPECT_THAT(r.serials, ElementsAre(held.serial));
  auto after = RootCrl();
  EXPECT_EQ(pki::CrlNumber(after.get()), r.crl_number);
  EXPECT_GT(pki::CrlNumber(after.get()), pki::CrlNumber(before.get()));
  EXPECT_THAT(pki::RevokedSerials(after.get()), ElementsAre(other.serial));
  auto roots = *pki::ParseCertificateChainPem(ca_->authority()->CurrentBundle().roots_pem);
  EXPECT_THAT(pki::VerifyCrl(after.get(), roots[0].get()), IsOk());
  EXPECT_FALSE(ca_->store()->GetCertificate(held.serial)->revoked);

  // The audit log records the release, its caller and the serial.
  auto records = *ca_->store()->ReadAudit(0, 100000);
  int released = 0;
  for (const auto& rec : records) {
    if (rec.event.action != "ReleaseHold") continue;
    if (rec.event.result == "ok: hold released") {
      ++released;
      EXPECT_EQ(rec.event.serial, held.serial);
      EXPECT_EQ(rec.event.target, held.serial);
      EXPECT_THAT(rec.event.caller, HasSubstr("operator"));
    }
  }
  EXPECT_EQ(released, 1);

  // Only a hold can be released; anything else changes nothing.
  EXPECT_THAT(ca_->authority()->ReleaseHold(ca_->LocalOperator(), other.serial),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("was revoked with reason keyCompromise; only a certificate on "
                                 "hold (revoked with reason certificateHold) can be released")));
  EXPECT_TRUE(ca_->store()->GetCertificate(other.serial)->revoked);
  EXPECT_THAT(ca_->authority()->ReleaseHold(ca_->LocalOperator(), held.serial),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is not revoked")));
  EXPECT_THAT(ca_->authority()->ReleaseHold(ca_->LocalOperator(), "abcdef"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no certificate")));
  EXPECT_THAT(ca_->authority()->ReleaseHold(ca_->LocalOperator(), ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("give the serial")));
  EXPECT_THAT(ca_->authority()->ReleaseHold(agent_, other.serial),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("not an admin")));
  EXPECT_EQ(pki::CrlNumber(RootCrl().get()), r.crl_number);  // No CRL for a refusal.
  int refused = 0;
  auto all = *ca_->store()->ReadAudit(0, 100000);
  for (const auto& rec : all) {
    refused += rec.event.action == "ReleaseHold" && absl::StartsWith(rec.event.result, "refused");
  }
  EXPECT_EQ(refused, 5);
}

TEST_F(CaRevocationTest, StoreReleasesOnlyAHold) {
  IssuedIntermediate held = Sign();
  IssuedIntermediate revoked = Sign();
  IssuedIntermediate valid = Sign();
  ASSERT_THAT(ca_->authority()->Revoke(ca_->LocalOperator(), "", held.serial, "certificateHold"),
              IsOk());
  ASSERT_THAT(ca_->authority()->Revoke(ca_->LocalOperator(), "", revoked.serial, "superseded"),
              IsOk());
  AuditEvent event;
  event.caller = "test";
  event.action = "ReleaseHold";
  event.result = "ok";
  EXPECT_THAT(ca_->store()->ReleaseHold(revoked.serial, event),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("revoked with CRLReason 4, not certificateHold (6)")));
  EXPECT_THAT(ca_->store()->ReleaseHold(valid.serial, event),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is not revoked")));
  EXPECT_THAT(ca_->store()->ReleaseHold("0abc", event),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no certificate with serial 0abc")));
  uint64_t head = ca_->store()->Head().sequence;
  ASSERT_THAT(ca_->store()->ReleaseHold(held.serial, event), IsOk());
  EXPECT_EQ(ca_->store()->Head().sequence, head + 1);  // With its audit record.
  EXPECT_FALSE(ca_->store()->GetCertificate(held.serial)->revoked);
  EXPECT_TRUE(ca_->store()->GetCertificate(revoked.serial)->revoked);
}

TEST_F(CaRevocationTest, AnExpiredCertificateLeavesTheCrlInAFreshSignedOne) {
  auto key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  ASSERT_OK_AND_ASSIGN(
      IssuedIntermediate shortlived,
      ca_->authority()->SignIntermediate(agent_, "cluster1", *pki::BuildCsrDer(key.get(), ""),
                                         std::chrono::hours(1)));
  ASSERT_THAT(
      ca_->authority()->Revoke(ca_->LocalOperator(), "", shortlived.serial, "keyCompromise"),
      IsOk());
  auto listed = RootCrl();
  EXPECT_THAT(pki::RevokedSerials(listed.get()), ElementsAre(shortlived.serial));
  clock_.Advance(std::chrono::hours(2));  // Expired; the CRL itself is far from its nextUpdate.
  ASSERT_THAT(ca_->authority()->RefreshCrls(), IsOk());
  auto fresh = RootCrl();
  EXPECT_GT(pki::CrlNumber(fresh.get()), pki::CrlNumber(listed.get()));
  EXPECT_THAT(pki::RevokedSerials(fresh.get()), ::testing::IsEmpty());
  auto roots = *pki::ParseCertificateChainPem(ca_->authority()->CurrentBundle().roots_pem);
  EXPECT_THAT(pki::VerifyCrl(fresh.get(), roots[0].get()), IsOk());
  // Nothing more expired: no new CRL until it is due.
  ASSERT_THAT(ca_->authority()->RefreshCrls(), IsOk());
  EXPECT_EQ(pki::CrlNumber(RootCrl().get()), pki::CrlNumber(fresh.get()));
}

TEST_F(CaRevocationTest, RevokingAClusterDisablesItAndRevokesItsIdentity) {
  IssuedIntermediate a = Sign();
  ASSERT_OK_AND_ASSIGN(RevokeResult r, ca_->authority()->Revoke(ca_->LocalOperator(), "cluster1",
                                                                "", "keyCompromise"));
  EXPECT_EQ(r.serials.size(), 2u);  // The intermediate and the agent identity.
  EXPECT_FALSE(ca_->store()->GetCluster("cluster1")->enabled);
  EXPECT_THAT(pki::RevokedSerials(RootCrl().get()), ElementsAre(a.serial));
  auto key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  EXPECT_THAT(ca_->authority()->SignIntermediate(
                  agent_, "cluster1", *pki::BuildCsrDer(key.get(), ""), std::chrono::seconds(0)),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("has been revoked")));
  // Re-enabled, with a new identity, it works again.
  ASSERT_THAT(ca_->authority()->SetClusterEnabled(ca_->LocalOperator(), "cluster1", true), IsOk());
  Caller fresh = ca_->LocalAgent("cluster1");
  EXPECT_THAT(ca_->authority()->SignIntermediate(
                  fresh, "cluster1", *pki::BuildCsrDer(key.get(), ""), std::chrono::seconds(0)),
              IsOk());
}

TEST_F(CaRevocationTest, CrlsAreResignedBeforeNextUpdate) {
  ASSERT_THAT(ca_->authority()->RefreshCrls(), IsOk());
  auto first = RootCrl();
  clock_.Advance(std::chrono::hours(24));
  ASSERT_THAT(ca_->authority()->RefreshCrls(), IsOk());
  EXPECT_EQ(pki::CrlNumber(RootCrl().get()), pki::CrlNumber(first.get()));  // Not due yet.
  clock_.Advance(std::chrono::hours(24 * 3));                               // Past half of 7 days.
  ASSERT_THAT(ca_->authority()->RefreshCrls(), IsOk());
  auto second = RootCrl();
  EXPECT_GT(pki::CrlNumber(second.get()), pki::CrlNumber(first.get()));
  EXPECT_GT(pki::CrlNextUpdate(second.get()), pki::CrlNextUpdate(first.get()));
}

TEST_F(CaRevocationTest, CrlsAreServedOverHttp) {
  ASSERT_THAT(ca_->authority()->RefreshCrls(), IsOk());
  HttpRequest req;
  req.method = "GET";
  req.path = "/crl/mesh-root-1.der";
  HttpResponse der = HandlePublicHttp(ca_->authority(), req);
  EXPECT_EQ(der.status, 200);
  EXPECT_EQ(der.content_type, "application/pkix-crl");
  EXPECT_THAT(pki::ParseCrlDer(der.body), IsOk());
  req.path = "/crl";
  HttpResponse pem = HandlePublicHttp(ca_->authority(), req);
  EXPECT_EQ(pem.status, 200);
  EXPECT_THAT(pki::ParseCrlsPem(pem.body), IsOk());
  req.path = "/crl/nope.der";
  EXPECT_EQ(HandlePublicHttp(ca_->authority(), req).status, 404);
  req.method = "POST";
  EXPECT_EQ(HandlePublicHttp(ca_->authority(), req).status, 405);
}

TEST_F(CaRevocationTest, IntermediatesCarryTheCrlUrlWhenConfigured) {
  testing::TestCaOptions options;
  options.serve = false;
  options.authority.public_url = "http://meshtrust-ca.example:8080";
  auto ca = testing::TestCa::Create(options);
  ca->AddCluster("c");
  Caller agent = ca->LocalAgent("c");
  auto key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  auto issued = *ca->authority()->SignIntermediate(agent, "c", *pki::BuildCsrDer(key.get(), ""),
                                                   std::chrono::seconds(0));
  auto cert = *pki::ParseCertificatePem(issued.certificate_pem);
  ossl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  X509_print(bio.get(), cert.get());
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);  // NOLINT(runtime/int)
  EXPECT_THAT(std::string(data, static_cast<size_t>(len)),
              HasSubstr("URI:http://meshtrust-ca.example:8080/crl/mesh-root-1.der"));
}

TEST_F(CaRevocationTest, AckedIntermediateCrlMustBeSignedByThatIntermediate) {
  IssuedIntermediate a = Sign();
  // A CRL signed by some other key.
  auto other_key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  pki::CertificateTemplate t;
  t.subject = {{"CN", "other"}};
  t.not_before = clock_.Now() - std::chrono::hours(1);
  t.not_after = clock_.Now() + std::chrono::hours(1);
  t.is_ca = true;
  t.key_usage = pki::kCrlSign | pki::kKeyCertSign;
  auto other = *pki::IssueCertificate(t, other_key.get(), nullptr, other_key.get());
  pki::CrlTemplate c;
  c.this_update = clock_.Now();
  c.next_update = clock_.Now() + std::chrono::hours(1);
  auto forged = *pki::IssueCrl(c, other.get(), other_key.get());
  EXPECT_THAT(
      ca_->authority()->Ack(agent_, "cluster1", a.serial, a.bundle.sha256,
                            pki::CrlPem(forged.get())),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a CRL signed by intermediate")));
}

TEST_F(CaRevocationTest, ARevokedIntermediateIsNotAcknowledgedAndItsLaterCrlsAreNotShared) {
  ca_->AddCluster("cluster2");
  Caller agent2 = ca_->LocalAgent("cluster2");
  auto key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  IssuedIntermediate a = *ca_->authority()->SignIntermediate(
      agent_, "cluster1", *pki::BuildCsrDer(key.get(), ""), std::chrono::seconds(0));
  auto cert = *pki::ParseCertificatePem(a.certificate_pem);
  auto crl_signed_now = [&] {
    pki::CrlTemplate c;
    c.this_update = clock_.Now();
    c.next_update = clock_.Now() + std::chrono::hours(24);
    return pki::CrlPem(pki::IssueCrl(c, cert.get(), key.get())->get());
  };
  std::string before = crl_signed_now();
  ASSERT_THAT(ca_->authority()->Ack(agent_, "cluster1", a.serial, a.bundle.sha256, before), IsOk());
  ASSERT_THAT(ca_->authority()->Revoke(ca_->LocalOperator(), "", a.serial, "keyCompromise"),
              IsOk());
  clock_.Advance(std::chrono::seconds(60));
  std::string after = crl_signed_now();
  ASSERT_NE(after, before);

  uint64_t head = ca_->store()->Head().sequence;
  EXPECT_THAT(ca_->authority()->Ack(agent_, "cluster1", a.serial, a.bundle.sha256, after),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(absl::StrCat("intermediate ", a.serial, " was revoked at "))));
  EXPECT_THAT(ca_->authority()->Ack(agent_, "cluster1", a.serial, a.bundle.sha256, after),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("it cannot be acknowledged and no CRL it signed is shared")));
  // Only the refusals were recorded.
  auto records = ca_->store()->ReadAudit(head, 10);
  ASSERT_THAT(records, IsOk());
  ASSERT_EQ(records->size(), 2u);
  for (const AuditRecord& r : *records) EXPECT_THAT(r.event.result, HasSubstr("refused"));
  ASSERT_OK_AND_ASSIGN(ClusterRecord cluster, ca_->store()->GetCluster("cluster1"));
  EXPECT_EQ(cluster.intermediate_crl_pem, before);

  // The CRL acknowledged before the revocation still reaches the other
  // clusters (verifiers report "revoked", not "no CRL"); one the revoked key
  // signed later, recorded by a CA that accepted it, does not.
  ASSERT_OK_AND_ASSIGN(CrlSet set, ca_->authority()->GetCrls(agent2));
  EXPECT_THAT(set.intermediate_crls_pem, HasSubstr(before));
  AuditEvent injected{clock_.Now(), "test", "Ack", "cluster1", "", "ok", a.serial};
  IntermediateCrlRecord later{"cluster1", a.serial, after, clock_.Now() + std::chrono::hours(24),
                              a.not_after};
  ASSERT_THAT(
      ca_->store()->RecordAck("cluster1", a.serial, a.bundle.sha256, later, clock_.Now(), injected),
      IsOk());
  ASSERT_OK_AND_ASSIGN(set, ca_->authority()->GetCrls(agent2));
  EXPECT_THAT(set.intermediate_crls_pem, Not(HasSubstr(after)));
  EXPECT_THAT(set.intermediate_crls_pem, Not(HasSubstr(before)));
}

TEST_F(CaRevocationTest, RotateIntermediateRefusesADisabledCluster) {
  ASSERT_THAT(ca_->authority()->SetClusterEnabled(ca_->LocalOperator(), "cluster1", false), IsOk());
  EXPECT_THAT(ca_->authority()->RotateIntermediate(ca_->LocalOperator(), "cluster1"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("cluster \"cluster1\" is disabled; enable it before rotating")));
  uint64_t head = ca_->store()->Head().sequence;
  auto last = ca_->store()->ReadAudit(head - 1, 1);
  ASSERT_THAT(last, IsOk());
  ASSERT_EQ(last->size(), 1u);
  EXPECT_EQ((*last)[0].event.action, "RotateIntermediate");
  EXPECT_THAT((*last)[0].event.result, HasSubstr("refused"));
  ASSERT_THAT(ca_->authority()->SetClusterEnabled(ca_->LocalOperator(), "cluster1", true), IsOk());
  EXPECT_THAT(ca_->authority()->RotateIntermediate(ca_->LocalOperator(), "cluster1"), IsOk());
}

}  // namespace
}  // namespace meshtrust::ca
