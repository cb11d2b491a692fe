// Intermediates, acknowledgements and the trust bundle (IntermediateIssuer,
// through the Authority): every refusal class gets a specific error, an
// audit record of the refusal, and changes nothing else.
#include "ca/core/intermediate_issuer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>

#include <sstream>

#include "absl/strings/str_split.h"
#include "base/logging.h"
#include "ca/core/authority.h"
#include "pki/certificate.h"
#include "pki/chain.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "spdlog/sinks/ostream_sink.h"
#include "tests/testing/hostile_inputs.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::ca {
namespace {

using ::meshtrust::testing::FreshCsr;
using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::meshtrust::testing::TestCa;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;
constexpr absl::StatusCode kDenied = absl::StatusCode::kPermissionDenied;
constexpr absl::StatusCode kUnauthenticated = absl::StatusCode::kUnauthenticated;

std::string CsrFor(EVP_PKEY* key) { return *pki::BuildCsrDer(key, ""); }

class IntermediateIssuerTest : public testing::LocalCaTest {
 protected:
  size_t Intermediates(const std::string& cluster) {
    auto certs = ca_->store()->ListCertificates({cluster, std::string(kKindIntermediate), 1000});
    return certs.ok() ? certs->size() : 0;
  }

  // Asserts that the last call was refused with `code`, audited as such,
  // and issued nothing.
  void ExpectRefusedAndAudited(const absl::StatusOr<IssuedIntermediate>& result,
                               absl::StatusCode code, const std::string& fragment,
                               size_t intermediates_before) {
    EXPECT_THAT(result, StatusIs(code, HasSubstr(fragment)));
    AuditRecord last = LastAudit();
    EXPECT_EQ(last.event.action, "SignIntermediate");
    EXPECT_THAT(last.event.result, StartsWith("refused: " + absl::StatusCodeToString(code)));
    EXPECT_THAT(last.event.result, HasSubstr(fragment));
    EXPECT_EQ(last.event.serial, "");
    EXPECT_EQ(Intermediates("cluster1"), intermediates_before);
  }
};

TEST_F(IntermediateIssuerTest, SignsIntermediateFromTemplateAndAuditsIt) {
  auto key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  // The CSR's own subject must not leak into the certificate.
  ASSERT_OK_AND_ASSIGN(
      IssuedIntermediate issued,
      ca_->authority()->SignIntermediate(agent1_, "cluster1", *pki::BuildCsrDer(key.get(), "evil"),
                                         std::chrono::seconds(0)));
  auto cert = *pki::ParseCertificatePem(issued.certificate_pem);
  EXPECT_TRUE(pki::SamePublicKey(pki::PublicKeyOf(cert.get()), key.get()));
  EXPECT_THAT(pki::SubjectString(cert.get()), StartsWith("CN=cluster1 intermediate CA "));
  EXPECT_THAT(pki::SubjectString(cert.get()), HasSubstr("OU=cluster1,O=meshtrust"));
  EXPECT_TRUE(pki::IsCa(cert.get()));
  EXPECT_EQ(pki::PathLen(cert.get()), 0);
  EXPECT_GE(pki::SerialBits(cert.get()), 64);
  EXPECT_EQ(pki::NotAfter(cert.get()) - pki::NotBefore(cert.get()),
            std::chrono::hours(24 * 30) + std::chrono::minutes(5));
  EXPECT_LE(pki::NotBefore(cert.get()), clock_.Now() - std::chrono::minutes(4));

  auto chain = *pki::ParseCertificateChainPem(issued.chain_pem);
  ASSERT_EQ(chain.size(), 2u);
  auto roots = *pki::ParseCertificateChainPem(issued.bundle.roots_pem);
  pki::ChainCheck at_fake_now;
  at_fake_now.at = clock_.Now();
  EXPECT_THAT(pki::VerifyChain(cert.get(), {}, {roots[0].get()}, at_fake_now), IsOk());

  AuditRecord last = LastAudit();
  EXPECT_EQ(last.event.result, "ok");
  EXPECT_EQ(last.event.serial, issued.serial);
  EXPECT_EQ(last.event.caller, "spiffe://meshtrust/cluster/cluster1");
  EXPECT_EQ(issued.checkpoint.sequence, last.sequence);
  EXPECT_TRUE(VerifyAuditCheckpoint(ca_->state().audit_signer->public_key(), issued.checkpoint));
  ASSERT_OK_AND_ASSIGN(ClusterRecord cluster, ca_->store()->GetCluster("cluster1"));
  EXPECT_EQ(cluster.current_serial, issued.serial);
}

TEST_F(IntermediateIssuerTest, RefusesCsrsThatRequestExtensions) {
  auto key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  const std::vector<std::pair<std::string, std::string>> cases[] = {
      {{"basicConstraints", "critical,CA:TRUE,pathlen:5"}},
      {{"nameConstraints", "critical,permitted;URI:.evil.example"}},
      {{"certificatePolicies", "DER:30:06:30:04:06:02:2A:03"}},
      {{"subjectAltName", "URI:spiffe://cluster.local/ns/default/sa/x,DNS:evil.example"}},
      {{"extendedKeyUsage", "serverAuth"}},
  };
  for (const auto& exts : cases) {
    size_t before = Intermediates("cluster1");
    ExpectRefusedAndAudited(ca_->authority()->SignIntermediate(
                                agent1_, "cluster1", testing::CsrWithExtensions(key.get(), exts),
                                std::chrono::seconds(0)),
                            kInvalid, "CSR requests extensions (" + exts[0].first, before);
  }
  for (const std::string& uri :
       {std::string("spiffe://cluster.local\0.evil", 28), std::string("spiffe://fe80::1%25eth0/x"),
        std::string("spiffe://[::1]/ns/x")}) {
    ExpectRefusedAndAudited(ca_->authority()->SignIntermediate(
                                agent1_, "cluster1", testing::CsrWithRawUriSan(key.get(), uri),
                                std::chrono::seconds(0)),
                            kInvalid, "CSR requests extensions (subjectAltName)", 0);
  }
  ExpectRefusedAndAudited(
      ca_->authority()->SignIntermediate(agent1_, "cluster1",
                                         testing::CsrWithUnknownCriticalExtension(key.get()),
                                         std::chrono::seconds(0)),
      kInvalid, "1.3.6.1.4.1.99999.1", 0);
  ExpectRefusedAndAudited(ca_->authority()->SignIntermediate(
                              agent1_, "cluster1", testing::CsrWithChallengePassword(key.get()),
                              std::chrono::seconds(0)),
                          kInvalid, "CSR carries attributes (challengePassword)", 0);
}

TEST_F(IntermediateIssuerTest, RefusesBadSignaturesAndMalformedCsrs) {
  std::string csr = FreshCsr();
  ExpectRefusedAndAudited(
      ca_->authority()->SignIntermediate(agent1_, "cluster1", testing::FlipLastBit(csr),
                                         std::chrono::seconds(0)),
      kInvalid, "CSR signature does not verify", 0);
  ExpectRefusedAndAudited(ca_->authority()->SignIntermediate(agent1_, "cluster1", csr + "junk",
                                                             std::chrono::seconds(0)),
                          kInvalid, "trailing bytes", 0);
  ExpectRefusedAndAudited(ca_->authority()->SignIntermediate(agent1_, "cluster1", csr.substr(0, 40),
                                                             std::chrono::seconds(0)),
                          kInvalid, "not valid PKCS#10", 0);
  ExpectRefusedAndAudited(
      ca_->authority()->SignIntermediate(agent1_, "cluster1", std::string(1 << 20, 'A'),
                                         std::chrono::seconds(0)),
      kInvalid, "the limit is", 0);
}

TEST_F(IntermediateIssuerTest, RefusesWeakAndUnapprovedKeys) {
  struct Case {
    ossl::UniquePtr<EVP_PKEY> key;
    std::string fragment;
  };
  Case cases[] = {
      {testing::RsaKey(1024), "CSR key is RSA-1024; only RSA-2048, RSA-3072 and RSA-4096"},
      {testing::RsaKey(2048, 3), "public exponent 3"},
      {testing::EcKeyOnCurve("secp256k1"), "ECDSA secp256k1"},
      {testing::EcKeyOnCurve("brainpoolP384r1"), "brainpoolP384r1"},
      {testing::ExplicitParamsP256Key(), "explicit EC curve parameters"},
  };
  for (Case& c : cases) {
    ExpectRefusedAndAudited(ca_->authority()->SignIntermediate(
                                agent1_, "cluster1", CsrFor(c.key.get()), std::chrono::seconds(0)),
                            kInvalid, c.fragment, 0);
  }
}

TEST_F(IntermediateIssuerTest, AppliesPerClusterKeyPolicy) {
  ClusterPolicy strict;
  strict.allowed_keys = {pki::KeyAlgorithm::kEcdsaP256};
  ca_->AddCluster("strict", strict);
  Caller agent = ca_->LocalAgent("strict");
  EXPECT_THAT(
      ca_->authority()->SignIntermediate(agent, "strict", FreshCsr(pki::KeyAlgorithm::kEcdsaP384),
                                         std::chrono::seconds(0)),
      StatusIs(kDenied, HasSubstr("CSR key is ecdsa-p384; strict's policy allows ecdsa-p256")));
  EXPECT_THAT(
      ca_->authority()->SignIntermediate(agent, "strict", FreshCsr(), std::chrono::seconds(0)),
      IsOk());
}

// With name_constraints in the policy, the intermediate carries a critical
// nameConstraints extension: workloads it signs verify only inside the
// cluster's trust domain.
TEST_F(IntermediateIssuerTest, ConstrainsNamesToTheTrustDomainWhenThePolicySaysSo) {
  ClusterPolicy constrained;
  constrained.trust_domain = "east.example";
  constrained.name_constraints = true;
  ca_->AddCluster("constrained", constrained);
  auto key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  ASSERT_OK_AND_ASSIGN(IssuedIntermediate issued, ca_->authority()->SignIntermediate(
                                                      ca_->LocalAgent("constrained"), "constrained",
                                                      CsrFor(key.get()), std::chrono::seconds(0)));
  auto inter = *pki::ParseCertificatePem(issued.certificate_pem);
  int at = X509_get_ext_by_NID(inter.get(), NID_name_constraints, -1);
  ASSERT_GE(at, 0) << "no nameConstraints extension";
  EXPECT_EQ(X509_EXTENSION_get_critical(X509_get_ext(inter.get(), at)), 1);

  auto roots = *pki::ParseCertificateChainPem(issued.bundle.roots_pem);
  pki::ChainCheck check;
  check.at = clock_.Now();
  auto workload = [&](const std::string& uri) {
    pki::CertificateTemplate t;
    t.not_before = clock_.Now() - std::chrono::minutes(1);
    t.not_after = clock_.Now() + std::chrono::hours(1);
    t.key_usage = pki::kDigitalSignature;
    t.uris = {uri};
    auto leaf_key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
    return *pki::IssueCertificate(t, leaf_key.get(), inter.get(), key.get());
  };
  auto inside = workload("spiffe://east.example/ns/default/sa/app");
  EXPECT_THAT(pki::VerifyChain(inside.get(), {inter.get()}, {roots[0].get()}, check), IsOk());
  auto outside = workload("spiffe://west.example/ns/default/sa/app");
  EXPECT_FALSE(pki::VerifyChain(outside.get(), {inter.get()}, {roots[0].get()}, check).ok());

  // Without it in the policy (the default), no constraint is added.
  ASSERT_OK_AND_ASSIGN(
      IssuedIntermediate plain,
      ca_->authority()->SignIntermediate(agent1_, "cluster1", FreshCsr(), std::chrono::seconds(0)));
  auto plain_cert = *pki::ParseCertificatePem(plain.certificate_pem);
  EXPECT_LT(X509_get_ext_by_NID(plain_cert.get(), NID_name_constraints, -1), 0);
}

TEST_F(IntermediateIssuerTest, RefusesWrongIdentity) {
  // An identity of cluster1 asking for cluster2.
  ExpectRefusedAndAudited(
      ca_->authority()->SignIntermediate(agent1_, "cluster2", FreshCsr(), std::chrono::seconds(0)),
      kDenied,
      "spiffe://meshtrust/cluster/cluster1 may not request an intermediate for cluster "
      "\"cluster2\"",
      0);
  EXPECT_EQ(Intermediates("cluster2"), 0u);
  // No identity at all.
  ExpectRefusedAndAudited(ca_->authority()->SignIntermediate(Caller::Anonymous(), "cluster1",
                                                             FreshCsr(), std::chrono::seconds(0)),
                          kDenied, "anonymous is not a cluster agent", 0);
  // An admin is not an agent.
  ExpectRefusedAndAudited(ca_->authority()->SignIntermediate(ca_->LocalOperator(), "cluster1",
                                                             FreshCsr(), std::chrono::seconds(0)),
                          kDenied, "is not a cluster agent", 0);
  // A well-formed identity this CA never issued (e.g. forged with a stolen
  // control key, or from a wiped database).
  Caller forged{CallerKind::kAgent, "cluster1", "1234abcd"};
  ExpectRefusedAndAudited(
      ca_->authority()->SignIntermediate(forged, "cluster1", FreshCsr(), std::chrono::seconds(0)),
      kUnauthenticated, "was not issued by this CA", 0);
}

TEST_F(IntermediateIssuerTest, RefusesExpiredIdentitiesEvenWhereTlsWouldNotLook) {
  // A resumed TLS session or a long-lived connection is not re-verified by
  // TLS; the Authority checks the identity's expiry on every call.
  clock_.Advance(std::chrono::hours(24) + std::chrono::seconds(1));
  ExpectRefusedAndAudited(
      ca_->authority()->SignIntermediate(agent1_, "cluster1", FreshCsr(), std::chrono::seconds(0)),
      kUnauthenticated, "expired at", 0);
  EXPECT_THAT(ca_->authority()->Reauthorize(agent1_, "Watch"),
              StatusIs(kUnauthenticated, HasSubstr("renew the identity or enroll again")));
}

TEST_F(IntermediateIssuerTest, RefusesDisabledClusterUntilReenabled) {
  ASSERT_THAT(ca_->authority()->SetClusterEnabled(ca_->LocalOperator(), "cluster1", false), IsOk());
  ExpectRefusedAndAudited(
      ca_->authority()->SignIntermediate(agent1_, "cluster1", FreshCsr(), std::chrono::seconds(0)),
      kDenied, "cluster \"cluster1\" is disabled", 0);
  EXPECT_THAT(ca_->authority()->GetTrustBundle(agent1_), StatusIs(kDenied, HasSubstr("disabled")));
  ASSERT_THAT(ca_->authority()->SetClusterEnabled(ca_->LocalOperator(), "cluster1", true), IsOk());
  EXPECT_THAT(
      ca_->authority()->SignIntermediate(agent1_, "cluster1", FreshCsr(), std::chrono::seconds(0)),
      IsOk());
}

TEST_F(IntermediateIssuerTest, CapsLifetimeByPolicyAndRoot) {
  ASSERT_OK_AND_ASSIGN(
      IssuedIntermediate short_lived,
      ca_->authority()->SignIntermediate(agent1_, "cluster1", FreshCsr(), std::chrono::hours(2)));
  EXPECT_EQ(short_lived.not_after,
            std::chrono::floor<std::chrono::seconds>(clock_.Now() + std::chrono::hours(2)));
  ASSERT_OK_AND_ASSIGN(IssuedIntermediate capped,
                       ca_->authority()->SignIntermediate(agent1_, "cluster1", FreshCsr(),
                                                          std::chrono::hours(24 * 365)));
  EXPECT_EQ(capped.not_after,
            std::chrono::floor<std::chrono::seconds>(clock_.Now() + std::chrono::hours(24 * 30)));
  EXPECT_THAT(
      ca_->authority()->SignIntermediate(agent1_, "cluster1", FreshCsr(), std::chrono::seconds(-1)),
      StatusIs(kInvalid, HasSubstr("negative")));
}

TEST_F(IntermediateIssuerTest, ANewlineInTheClusterNameForgesNoLogLine) {
  std::ostringstream out;
  auto logger = std::make_shared<spdlog::logger>(
      "meshtrust-ca", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  logger->set_formatter(TextLogFormatter());
  std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);
  std::string forged = "cluster2\n[2026-01-01 00:00:00.000] [meshtrust-ca] [info] signed cluster2";
  absl::StatusOr<IssuedIntermediate> result =
      ca_->authority()->SignIntermediate(agent1_, forged, FreshCsr(), std::chrono::seconds(0));
  logger->flush();
  spdlog::set_default_logger(previous);
  ExpectRefusedAndAudited(result, kDenied, "may not request an intermediate", 0);
  std::vector<std::string> lines = absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  ASSERT_FALSE(lines.empty());
  for (const std::string& line : lines) {
    EXPECT_THAT(line, ::testing::Not(StartsWith("[2026-01-01"))) << out.str();
  }
  EXPECT_THAT(out.str(), HasSubstr("for \"cluster2\\n[2026-01-01 00:00:00.000] [meshtrust-ca]"));
}

TEST_F(IntermediateIssuerTest, RefusesALifetimeBelowTheMinimumForWhatItIs) {
  ExpectRefusedAndAudited(
      ca_->authority()->SignIntermediate(agent1_, "cluster1", FreshCsr(),
                                         std::chrono::seconds(3599)),
      kInvalid, "ttl_seconds 3599 is below the minimum intermediate lifetime of 3600 s (1 h)", 0);
  EXPECT_THAT(
      ca_->authority()->SignIntermediate(agent1_, "cluster1", FreshCsr(), std::chrono::seconds(1)),
      StatusIs(kInvalid, ::testing::Not(HasSubstr("root"))));
  ASSERT_OK_AND_ASSIGN(IssuedIntermediate shortest,
                       ca_->authority()->SignIntermediate(agent1_, "cluster1", FreshCsr(),
                                                          std::chrono::seconds(3600)));
  EXPECT_EQ(shortest.not_after,
            std::chrono::floor<std::chrono::seconds>(clock_.Now() + std::chrono::hours(1)));
}

TEST(IntermediateLifetimeTest, LifetimeNeverOutlivesTheRoot) {
  FakeClock clock;
  testing::TestCaOptions options;
  options.serve = false;
  options.clock = &clock;
  auto ca = TestCa::Create(options);
  ca->AddCluster("cluster1");
  // Identities are short-lived, so enroll the agent shortly before the end.
  auto roots = *ca->store()->ListRoots();
  auto root = *pki::ParseCertificatePem(roots[0].certificate_pem);
  TimePoint root_end = pki::NotAfter(root.get());
  clock.Advance(std::chrono::duration_cast<std::chrono::seconds>(root_end - clock.Now() -
                                                                 std::chrono::hours(24 * 10)));
  Caller agent = ca->LocalAgent("cluster1");
  ASSERT_OK_AND_ASSIGN(
      IssuedIntermediate issued,
      ca->authority()->SignIntermediate(agent, "cluster1", FreshCsr(), std::chrono::seconds(0)));
  EXPECT_EQ(issued.not_after, root_end);
  clock.Advance(std::chrono::hours(24 * 10) - std::chrono::minutes(30));
  agent = ca->LocalAgent("cluster1");  // The first identity expired meanwhile.
  EXPECT_THAT(
      ca->authority()->SignIntermediate(agent, "cluster1", FreshCsr(), std::chrono::seconds(0)),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("rotate the root")));
}

TEST_F(IntermediateIssuerTest, AuditWriteFailureFailsSigningClosed) {
  std::string db = ca_->state_dir() + "/ca.db";
  auto sql = [&](const char* stmt) {
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(h, stmt, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(h);
  };
  sql("CREATE TRIGGER audit_fault BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk full'); "
      "END;");
  uint64_t head = ca_->store()->Head().sequence;
  EXPECT_THAT(
      ca_->authority()->SignIntermediate(agent1_, "cluster1", FreshCsr(), std::chrono::seconds(0)),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("audit log write failed")));
  EXPECT_EQ(Intermediates("cluster1"), 0u);
  EXPECT_EQ(ca_->store()->Head().sequence, head);
  sql("DROP TRIGGER audit_fault;");
  EXPECT_THAT(
      ca_->authority()->SignIntermediate(agent1_, "cluster1", FreshCsr(), std::chrono::seconds(0)),
      IsOk());
  EXPECT_EQ(Intermediates("cluster1"), 1u);
}

// A real write failure, not a simulated one: the process may not grow any
// file (RLIMIT_FSIZE, what a full disk looks like to SQLite), so the commit
// of the certificate and its audit record fails. Signing fails closed,
// leaves no trace, and works again once the fault clears.
TEST_F(IntermediateIssuerTest, DiskFullFailsSigningClosedAndRecovers) {
  auto issued =
      ca_->authority()->SignIntermediate(agent1_, "cluster1", FreshCsr(), std::chrono::seconds(0));
  ASSERT_THAT(issued, IsOk());
  uint64_t head = ca_->store()->Head().sequence;
  std::string csr = FreshCsr();  // Key generation writes no file, but do it before the fault.

  struct rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto previous_handler = ::signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of a signal.
  struct rlimit full = saved;
  full.rlim_cur = 1;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &full), 0);
  auto refused =
      ca_->authority()->SignIntermediate(agent1_, "cluster1", csr, std::chrono::seconds(0));
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
  ::signal(SIGXFSZ, previous_handler);

  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("so nothing was done")));
  EXPECT_EQ(Intermediates("cluster1"), 1u);
  EXPECT_EQ(ca_->store()->Head().sequence, head);
  ASSERT_OK_AND_ASSIGN(ClusterRecord cluster, ca_->store()->GetCluster("cluster1"));
  EXPECT_EQ(cluster.current_serial, issued->serial);

  ASSERT_THAT(
      ca_->authority()->SignIntermediate(agent1_, "cluster1", FreshCsr(), std::chrono::seconds(0)),
      IsOk());
  EXPECT_EQ(Intermediates("cluster1"), 2u);
  EXPECT_EQ(ca_->store()->IntegrityCheck().value_or(""), "ok");
  ASSERT_OK_AND_ASSIGN(AuditVerification verified,
                       ca_->authority()->VerifyAudit(ca_->LocalOperator()));
  EXPECT_TRUE(verified.ok) << verified.problem;
}

TEST_F(IntermediateIssuerTest, AckIsRecordedForOwnIntermediateOnly) {
  auto issued =
      *ca_->authority()->SignIntermediate(agent1_, "cluster1", FreshCsr(), std::chrono::seconds(0));
  EXPECT_THAT(ca_->authority()->Ack(agent1_, "cluster1", "ffff", issued.bundle.sha256),
              StatusIs(kInvalid, HasSubstr("not an intermediate issued to cluster1")));
  ASSERT_THAT(ca_->authority()->Ack(agent1_, "cluster1", issued.serial, issued.bundle.sha256),
              IsOk());
  auto cluster = *ca_->store()->GetCluster("cluster1");
  EXPECT_EQ(cluster.acked_serial, issued.serial);
  EXPECT_EQ(cluster.acked_bundle_sha256, issued.bundle.sha256);
}

// An intermediate the CA signed is not one the cluster uses until its agent
// reports it installed (403 on the secret, a missing namespace...). The
// records keep the two apart, and the mesh status reports both.
TEST_F(IntermediateIssuerTest, IssuedIsToldApartFromInstalled) {
  auto first =
      *ca_->authority()->SignIntermediate(agent1_, "cluster1", FreshCsr(), std::chrono::seconds(0));
  ClusterRecord c = *ca_->store()->GetCluster("cluster1");
  EXPECT_EQ(c.current_serial, first.serial);
  EXPECT_EQ(c.acked_serial, "") << "signed is not installed";
  EXPECT_EQ(c.acked_not_after, TimePoint{});

  ASSERT_THAT(ca_->authority()->Ack(agent1_, "cluster1", first.serial, first.bundle.sha256),
              IsOk());
  clock_.Advance(std::chrono::hours(1));
  auto second =
      *ca_->authority()->SignIntermediate(agent1_, "cluster1", FreshCsr(), std::chrono::seconds(0));
  ASSERT_NE(second.not_after, first.not_after);
  ASSERT_OK_AND_ASSIGN(MeshStatusInfo status, ca_->authority()->MeshStatus(ca_->LocalOperator()));
  auto it = std::find_if(status.clusters.begin(), status.clusters.end(),
                         [](const ClusterRecord& r) { return r.name == "cluster1"; });
  ASSERT_NE(it, status.clusters.end());
  EXPECT_EQ(it->current_serial, second.serial);  // Issued, pending.
  EXPECT_EQ(it->current_not_after, second.not_after);
  EXPECT_EQ(it->acked_serial, first.serial);  // Installed.
  EXPECT_EQ(it->acked_not_after, first.not_after);
}

}  // namespace
}  // namespace meshtrust::ca
