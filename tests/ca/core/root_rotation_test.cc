// Root rotation at the CA: three phases, each gated on the clusters'
// acknowledgements (and the soak time), every step and refusal audited, and
// the bundle growing byte-exactly (A, then A+B) before it shrinks to B.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "absl/strings/match.h"
#include "ca/core/authority.h"
#include "pki/certificate.h"
#include "pki/chain.h"
#include "pki/crl.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::ca {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::meshtrust::testing::TestCa;
using ::testing::_;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr absl::StatusCode kPrecondition = absl::StatusCode::kFailedPrecondition;

class RootRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TestCaOptions options;
    options.serve = false;
    options.clock = &clock_;
    options.authority.root_rotation_soak = std::chrono::hours(2);
    ca_ = TestCa::Create(options);
    for (const char* name : {"cluster1", "cluster2"}) {
      ca_->AddCluster(name);
      agents_[name] = ca_->LocalAgent(name);
      SignAndAck(name);
    }
    op_ = ca_->LocalOperator();
  }

  Authority* authority() { return ca_->authority(); }

  // What an agent does: a new key and intermediate, then an Ack of it with
  // the bundle it installed. Returns the intermediate.
  IssuedIntermediate SignAndAck(const std::string& cluster) {
    auto key = pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
    auto issued = authority()->SignIntermediate(
        agents_[cluster], cluster, *pki::BuildCsrDer(key->get(), ""), std::chrono::hours(24));
    EXPECT_THAT(issued, IsOk());
    if (!issued.ok()) return {};
    EXPECT_THAT(authority()->Ack(agents_[cluster], cluster, issued->serial, issued->bundle.sha256),
                IsOk());
    return *issued;
  }
  // An agent that only rewrote root-cert.pem with the current bundle.
  void AckBundle(const std::string& cluster) {
    auto record = ca_->store()->GetCluster(cluster);
    ASSERT_THAT(record, IsOk());
    ASSERT_THAT(authority()->Ack(agents_[cluster], cluster, record->acked_serial,
                                 authority()->CurrentBundle().sha256),
                IsOk());
  }
  std::string IssuerKeyId(const IssuedIntermediate& issued) {
    return ca_->store()->GetCertificate(issued.serial)->issuer_key_id;
  }
  AuditRecord LastAudit() {
    auto records = ca_->store()->ReadAudit(ca_->store()->Head().sequence - 1, 1);
    EXPECT_THAT(records, IsOk());
    return records->empty() ? AuditRecord{} : records->front();
  }
  // The chain in `issued` verifies against exactly the roots in `bundle_pem`.
  absl::Status Verifies(const IssuedIntermediate& issued, const std::string& bundle_pem) {
    auto cert = pki::ParseCertificatePem(issued.certificate_pem);
    auto chain = pki::ParseCertificateChainPem(issued.chain_pem);
    auto roots = pki::ParseCertificateChainPem(bundle_pem);
    if (!cert.ok() || !chain.ok() || !roots.ok()) return absl::InternalError("unparsable");
    std::vector<X509*> untrusted, anchors;
    for (size_t i = 1; i < chain->size(); ++i) untrusted.push_back((*chain)[i].get());
    for (auto& r : *roots) anchors.push_back(r.get());
    pki::ChainCheck check;
    check.at = clock_.Now();
    return pki::VerifyChain(cert->get(), untrusted, anchors, check);
  }

  FakeClock clock_;
  std::unique_ptr<TestCa> ca_;
  std::map<std::string, Caller> agents_;
  Caller op_;
};

TEST_F(RootRotationTest, ThreePhasesGatedOnAcknowledgements) {
  TrustBundle a = authority()->CurrentBundle();
  ASSERT_OK_AND_ASSIGN(RootRotationStatus idle, authority()->RootRotation(op_));
  EXPECT_EQ(idle.phase, RotationPhase::kIdle);
  ASSERT_EQ(idle.roots.size(), 1u);
  EXPECT_EQ(idle.roots[0].status, RootStatus::kActive);
  EXPECT_THAT(authority()->ActivateRootRotation(op_, false),
              StatusIs(kPrecondition, HasSubstr("is idle, not begun")));
  EXPECT_THAT(authority()->FinishRootRotation(op_),
              StatusIs(kPrecondition, HasSubstr("is idle, not activated")));

  // Begin: B joins the bundle after A, byte-exactly; A still signs.
  ASSERT_OK_AND_ASSIGN(RootRotationStatus begun, authority()->BeginRootRotation(op_));
  EXPECT_EQ(begun.phase, RotationPhase::kBegun);
  ASSERT_EQ(begun.roots.size(), 2u);
  EXPECT_EQ(begun.roots[0].status, RootStatus::kActive);
  EXPECT_EQ(begun.roots[1].status, RootStatus::kTrusted);
  TrustBundle ab = authority()->CurrentBundle();
  EXPECT_TRUE(absl::StartsWith(ab.roots_pem, a.roots_pem));
  EXPECT_GT(ab.roots_pem.size(), a.roots_pem.size());
  EXPECT_EQ(ab.signing_root_pem, a.signing_root_pem);
  EXPECT_EQ(IssuerKeyId(SignAndAck("cluster1")), begun.roots[0].key_id);
  EXPECT_THAT(authority()->BeginRootRotation(op_),
              StatusIs(kPrecondition, HasSubstr("already begun")));

  // Activate is refused until every enabled cluster acked A+B, and says who.
  ASSERT_OK_AND_ASSIGN(RootRotationStatus waiting, authority()->RootRotation(op_));
  EXPECT_THAT(waiting.blocking, HasSubstr("cluster2"));
  EXPECT_THAT(waiting.blocking, Not(HasSubstr("cluster1")));
  EXPECT_THAT(
      authority()->ActivateRootRotation(op_, false),
      StatusIs(kPrecondition, HasSubstr("not yet acknowledged the new trust bundle: "
                                        "cluster2; wait for their agents or pass --force")));
  AuditRecord refused = LastAudit();
  EXPECT_EQ(refused.event.action, "RootRotationActivate");
  EXPECT_THAT(refused.event.result, StartsWith("refused: FAILED_PRECONDITION"));
  AckBundle("cluster2");
  ASSERT_OK_AND_ASSIGN(RootRotationStatus activated, authority()->ActivateRootRotation(op_, false));
  EXPECT_EQ(activated.phase, RotationPhase::kActivated);
  EXPECT_EQ(activated.roots[1].status, RootStatus::kActive);
  EXPECT_EQ(LastAudit().event.result, "ok");

  // B signs now; the bundle stays A+B, so chains to A and to B both verify.
  TrustBundle after_activate = authority()->CurrentBundle();
  EXPECT_EQ(after_activate.roots_pem, ab.roots_pem);
  EXPECT_NE(after_activate.signing_root_pem, a.signing_root_pem);
  IssuedIntermediate from_b = SignAndAck("cluster1");
  EXPECT_EQ(IssuerKeyId(from_b), activated.roots[1].key_id);
  EXPECT_THAT(Verifies(from_b, ab.roots_pem), IsOk());
  EXPECT_THAT(Verifies(from_b, a.roots_pem), Not(IsOk()));

  // Finish waits for every cluster to run on B, then for the soak time.
  EXPECT_THAT(
      authority()->FinishRootRotation(op_),
      StatusIs(kPrecondition, HasSubstr("not yet acknowledged an intermediate from the new root: "
                                        "cluster2")));
  SignAndAck("cluster2");
  EXPECT_THAT(authority()->FinishRootRotation(op_),
              StatusIs(kPrecondition, HasSubstr("the soak time has not passed (71")));
  clock_.Advance(std::chrono::hours(2));
  ASSERT_OK_AND_ASSIGN(RootRotationStatus done, authority()->FinishRootRotation(op_));
  EXPECT_EQ(done.phase, RotationPhase::kIdle);
  EXPECT_EQ(done.roots[0].status, RootStatus::kRetired);
  EXPECT_EQ(done.roots[1].status, RootStatus::kActive);
  TrustBundle b = authority()->CurrentBundle();
  EXPECT_EQ(b.roots_pem, b.signing_root_pem);
  EXPECT_EQ(b.roots_pem, ab.roots_pem.substr(a.roots_pem.size()));
  EXPECT_THAT(Verifies(from_b, b.roots_pem), IsOk());

  // Agents get B's CRL only: every root CRL must verify against the bundle.
  ASSERT_OK_AND_ASSIGN(CrlSet crls, authority()->GetCrls(agents_["cluster1"]));
  auto root_crls = pki::ParseCrlsPem(crls.root_crls_pem);
  ASSERT_THAT(root_crls, IsOk());
  ASSERT_EQ(root_crls->size(), 1u);
  auto b_cert = pki::ParseCertificatePem(b.roots_pem);
  EXPECT_THAT(pki::VerifyCrl((*root_crls)[0].get(), b_cert->get()), IsOk());

  // A new rotation may begin once the last one finished.
  ASSERT_OK_AND_ASSIGN(RootRotationStatus again, authority()->BeginRootRotation(op_));
  EXPECT_EQ(again.roots.size(), 3u);
  EXPECT_NE(again.roots[2].key_id, again.roots[0].key_id);

  std::vector<std::string> actions;
  ASSERT_OK_AND_ASSIGN(std::vector<AuditRecord> log, ca_->store()->ReadAudit(0, 10000));
  for (const AuditRecord& r : log) {
    if (absl::StartsWith(r.event.action, "RootRotation") &&
        r.event.action != "RootRotationStatus" && r.event.result == "ok") {
      actions.push_back(r.event.action);
    }
  }
  EXPECT_THAT(actions, ElementsAre("RootRotationBegin", "RootRotationActivate",
                                   "RootRotationFinish", "RootRotationBegin"));
  ASSERT_OK_AND_ASSIGN(AuditVerification verified, authority()->VerifyAudit(op_));
  EXPECT_TRUE(verified.ok) << verified.problem;
}

TEST_F(RootRotationTest, ForcedActivationIsAuditedWithWhoWasLeftBehind) {
  ASSERT_THAT(authority()->BeginRootRotation(op_), IsOk());
  ASSERT_OK_AND_ASSIGN(RootRotationStatus forced, authority()->ActivateRootRotation(op_, true));
  EXPECT_EQ(forced.phase, RotationPhase::kActivated);
  AuditRecord record = LastAudit();
  EXPECT_EQ(record.event.action, "RootRotationActivate");
  EXPECT_EQ(record.event.request_sha256, "force");
  EXPECT_THAT(record.event.result, StartsWith("ok: forced although clusters had not yet "
                                              "acknowledged the new trust bundle: cluster1, "
                                              "cluster2"));
}

TEST_F(RootRotationTest, DisabledClustersDoNotHoldTheRotationBack) {
  ASSERT_THAT(authority()->SetClusterEnabled(op_, "cluster2", false), IsOk());
  ASSERT_THAT(authority()->BeginRootRotation(op_), IsOk());
  AckBundle("cluster1");
  ASSERT_THAT(authority()->ActivateRootRotation(op_, false), IsOk());
  SignAndAck("cluster1");
  clock_.Advance(std::chrono::hours(3));
  ASSERT_OK_AND_ASSIGN(RootRotationStatus done, authority()->FinishRootRotation(op_));
  EXPECT_EQ(done.phase, RotationPhase::kIdle);
}

TEST_F(RootRotationTest, AuditorsMayLookButNotRotate) {
  auto token = authority()->CreateAdminToken({CallerKind::kAuditor, "eve"}, std::chrono::hours(1));
  ASSERT_THAT(token, IsOk());
  auto key = pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  auto enrolled = authority()->Enroll(token->token, *pki::BuildCsrDer(key->get(), ""));
  ASSERT_THAT(enrolled, IsOk());
  Caller auditor = testing::CallerOf(enrolled->certificate_pem);
  EXPECT_THAT(authority()->RootRotation(auditor), IsOk());
  EXPECT_THAT(authority()->BeginRootRotation(auditor),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("is an auditor")));
  EXPECT_THAT(authority()->BeginRootRotation(agents_["cluster1"]),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("is not an admin")));
  EXPECT_EQ(LastAudit().event.action, "RootRotationBegin");
  EXPECT_EQ(authority()->RootRotation(op_)->phase, RotationPhase::kIdle);
}

TEST_F(RootRotationTest, ThePhaseSurvivesARestart) {
  ASSERT_THAT(authority()->BeginRootRotation(op_), IsOk());
  TrustBundle ab = authority()->CurrentBundle();
  auto control = ca_->state().LoadControlCa();
  ASSERT_THAT(control, IsOk());
  AuthorityOptions options;
  options.root_rotation_soak = std::chrono::hours(2);
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Authority> restarted,
      Authority::Create(ca_->store(), ca_->state().keys.get(), ca_->state().audit_signer.get(),
                        &clock_, *std::move(control), options));
  EXPECT_EQ(restarted->CurrentBundle().roots_pem, ab.roots_pem);
  EXPECT_EQ(restarted->RootRotation(op_)->phase, RotationPhase::kBegun);
  EXPECT_THAT(restarted->BeginRootRotation(op_),
              StatusIs(kPrecondition, HasSubstr("already begun")));
}

TEST_F(RootRotationTest, AMalformedStoredStateIsAnErrorNotAFreshStart) {
  ASSERT_THAT(authority()->BeginRootRotation(op_), IsOk());
  size_t roots = ca_->store()->ListRoots()->size();
  auto set_state = [&](const char* json) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((ca_->state_dir() + "/ca.db").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "UPDATE meta SET value = ? WHERE key = 'root_rotation'", -1,
                                 &st, nullptr),
              SQLITE_OK);
    sqlite3_bind_text(st, 1, json, -1, SQLITE_TRANSIENT);
    ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
  };
  // Each of these once read as "idle", which would have let a second
  // rotation begin over the first.
  for (const char* bad :
       {R"({"phase":5,"old_root":"a","new_root":"b"})",
        R"({"phase":"begun","old_root":["a"],"new_root":"b"})",
        R"({"phase":"begun","activated_at_ms":"soon"})",
        R"({"phase":"begun","activated_at_ms":1e400})",
        R"({"phase":"paused","old_root":"a","new_root":"b"})", "[]", "not json"}) {
    SCOPED_TRACE(bad);
    set_state(bad);
    EXPECT_THAT(authority()->BeginRootRotation(op_),
                StatusIs(absl::StatusCode::kDataLoss,
                         HasSubstr("stored root rotation state is malformed")));
    EXPECT_THAT(authority()->RootRotation(op_), StatusIs(absl::StatusCode::kDataLoss, _));
    EXPECT_EQ(ca_->store()->ListRoots()->size(), roots);
  }
}

TEST_F(RootRotationTest, TheSigningRootEndorsesTheNewRootUntilEitherExpires) {
  TrustBundle a = authority()->CurrentBundle();
  EXPECT_EQ(a.endorsements_pem, "");  // The first root is pinned, not endorsed.
  ASSERT_THAT(authority()->BeginRootRotation(op_), IsOk());
  TrustBundle ab = authority()->CurrentBundle();
  ASSERT_OK_AND_ASSIGN(auto roots, pki::ParseCertificateChainPem(ab.roots_pem));
  ASSERT_EQ(roots.size(), 2u);
  ASSERT_OK_AND_ASSIGN(auto endorsements, pki::ParseCertificateChainPem(ab.endorsements_pem));
  ASSERT_EQ(endorsements.size(), 1u);
  X509* cross = endorsements[0].get();
  EXPECT_THAT(pki::VerifyEndorsement(cross, roots[1].get(), roots[0].get(), clock_.Now()), IsOk());
  // Not the other way round, and not for A.
  EXPECT_THAT(pki::VerifyEndorsement(cross, roots[0].get(), roots[1].get(), clock_.Now()),
              StatusIs(kPrecondition, _));
  EXPECT_EQ(pki::NotAfter(cross),
            std::min(pki::NotAfter(roots[0].get()), pki::NotAfter(roots[1].get())));
  EXPECT_TRUE(pki::IsCa(cross));
  EXPECT_EQ(pki::PathLen(cross), 1);

  // It stays with B through activation and after A retires, for agents
  // that slept through the rotation.
  for (const char* c : {"cluster1", "cluster2"}) AckBundle(c);
  ASSERT_THAT(authority()->ActivateRootRotation(op_, false), IsOk());
  for (const char* c : {"cluster1", "cluster2"}) SignAndAck(c);
  clock_.Advance(std::chrono::hours(3));
  ASSERT_THAT(authority()->FinishRootRotation(op_), IsOk());
  TrustBundle b = authority()->CurrentBundle();
  EXPECT_EQ(b.endorsements_pem, ab.endorsements_pem);
  EXPECT_EQ(b.signing_root_pem, pki::CertificatePem(roots[1].get()));
}

}  // namespace
}  // namespace meshtrust::ca
