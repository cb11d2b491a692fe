// Revocation end to end: three clusters with agents, a cluster revoked, its
// intermediate in every other cluster's ca-crl.pem, and CRL-checking
// handshakes with the real openssl refusing the revoked cluster's workload
// while the others still talk.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/file_sink.h"
#include "agent/grpc_ca_connection.h"
#include "agent/installer.h"
#include "base/files.h"
#include "pki/certificate.h"
#include "pki/crl.h"
#include "pki/key.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::agent {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::RunCommand;
using ::meshtrust::testing::StatusIs;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

struct Cluster {
  std::string name;
  std::string dir;  // The file sink: Istio's /etc/cacerts.
  client::Identity identity;
  std::unique_ptr<GrpcCaConnection> ca;
  std::unique_ptr<FileSink> sink;
  std::unique_ptr<Installer> installer;
};

class RevocationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = testing::TestCa::Create();
    for (const char* name : {"cluster1", "cluster2", "cluster3"}) {
      auto c = std::make_unique<Cluster>();
      c->name = name;
      c->dir = dir_.Sub(name);
      c->identity = ca_->EnrollOverGrpc(ca_->AddCluster(name));
      c->ca = std::make_unique<GrpcCaConnection>(
          client::CreateChannel(ca_->address(), c->identity.control_ca_pem, &c->identity),
          std::chrono::seconds(10));
      c->sink = std::make_unique<FileSink>(c->dir);
      InstallerOptions o;
      o.cluster = name;
      c->installer =
          std::make_unique<Installer>(c->ca.get(), c->sink.get(), &SystemClock::Get(), o);
      clusters_.push_back(std::move(c));
    }
    // Two rounds: the second picks up the other clusters' intermediate CRLs.
    for (int round = 0; round < 2; ++round) {
      for (auto& c : clusters_) ASSERT_THAT(c->installer->EnsureInstalled(), IsOk());
    }
    for (auto& c : clusters_) MakeWorkload(*c);
  }

  // A workload certificate signed with the cluster's installed intermediate,
  // as istiod would issue it.
  void MakeWorkload(const Cluster& c) {
    auto ca_cert = *pki::ParseCertificatePem(*ReadFile(c.dir + "/ca-cert.pem"));
    auto ca_key = *pki::PrivateKeyFromPem(*ReadSecretFile(c.dir + "/ca-key.pem"));
    auto key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
    pki::CertificateTemplate t;
    t.not_before = std::chrono::system_clock::now() - std::chrono::minutes(1);
    t.not_after = std::chrono::system_clock::now() + std::chrono::hours(1);
    t.key_usage = pki::kDigitalSignature;
    t.extended_key_usage = {pki::ExtendedKeyUsage::kServerAuth, pki::ExtendedKeyUsage::kClientAuth};
    t.uris = {absl::StrCat("spiffe://cluster.local/ns/", c.name, "/sa/app")};
    auto cert = *pki::IssueCertificate(t, key.get(), ca_cert.get(), ca_key.get());
    ASSERT_THAT(WriteFileAtomically(c.dir + "-app.pem", pki::CertificatePem(cert.get()), 0644),
                IsOk());
    ASSERT_THAT(
        WriteFileAtomically(c.dir + "-app.key",
                            pki::PrivateKeyToPkcs8Pem(key.get())->UnsafeSecretString(), 0600),
        IsOk());
  }

  // The workload's trust file as a CRL-checking proxy would load it.
  std::string TrustWithCrls(const Cluster& c) {
    std::string path = c.dir + "-trust.pem";
    EXPECT_THAT(
        WriteFileAtomically(
            path, *ReadFile(c.dir + "/root-cert.pem") + *ReadFile(c.dir + "/ca-crl.pem"), 0644),
        IsOk());
    return path;
  }

  testing::CommandResult Handshake(const Cluster& server, const Cluster& client) {
    std::string log = dir_.Sub("handshake.log");
    auto r = RunCommand(absl::StrCat(
        "HANDSHAKE_LOG=", log, " ", MESHTRUST_SOURCE_DIR, "/scripts/mtls-handshake.sh ", server.dir,
        "-app.pem ", server.dir, "-app.key ", server.dir, "/ca-cert.pem ", TrustWithCrls(server),
        " ", client.dir, "-app.pem ", client.dir, "-app.key ", client.dir, "/ca-cert.pem ",
        TrustWithCrls(client), " crl"));
    r.output += *ReadFile(log);
    return r;
  }

  std::vector<std::string> RootCrlSerials(const Cluster& c) {
    auto crls = *pki::ParseCrlsPem(*ReadFile(c.dir + "/ca-crl.pem"));
    auto root = *pki::ParseCertificatePem(*ReadFile(c.dir + "/root-cert.pem"));
    for (auto& crl : crls) {
      if (pki::VerifyCrl(crl.get(), root.get()).ok()) return pki::RevokedSerials(crl.get());
    }
    ADD_FAILURE() << "no root CRL in " << c.dir;
    return {};
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::TestCa> ca_;
  std::vector<std::unique_ptr<Cluster>> clusters_;
};

TEST_F(RevocationTest, EveryClusterHoldsTheWholeMeshCrlSet) {
  for (auto& c : clusters_) {
    auto crls = *pki::ParseCrlsPem(*ReadFile(c->dir + "/ca-crl.pem"));
    // Its own intermediate CRL first, then the root's, then the two others'.
    ASSERT_EQ(crls.size(), 4u) << c->name;
    auto own = *pki::ParseCertificatePem(*ReadFile(c->dir + "/ca-cert.pem"));
    EXPECT_THAT(pki::VerifyCrl(crls[0].get(), own.get()), IsOk());
    EXPECT_TRUE(RootCrlSerials(*c).empty());
  }
  auto r =
      RunCommand(absl::StrCat("openssl crl -noout -text -in ", clusters_[0]->dir, "/ca-crl.pem"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("X509v3 CRL Number"));
  auto ok = Handshake(*clusters_[0], *clusters_[1]);
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
}

TEST_F(RevocationTest, RevokedClusterIsCutOffEverywhere) {
  Cluster& c1 = *clusters_[0];
  Cluster& c2 = *clusters_[1];
  Cluster& c3 = *clusters_[2];
  std::string revoked_serial =
      pki::SerialHex(pki::ParseCertificatePem(*ReadFile(c2.dir + "/ca-cert.pem"))->get());

  v1::RevokeRequest req;
  req.set_cluster("cluster2");
  req.set_reason("keyCompromise");
  v1::RevokeResponse resp;
  client::Identity admin = ca_->EnrollOverGrpc(ca_->init().admin_token);
  auto ctx = client::NewContext();
  grpc::Status s = ca_->AdminStub(admin)->Revoke(ctx.get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(
      std::vector<std::string>(resp.revoked_serials().begin(), resp.revoked_serials().end()),
      Contains(revoked_serial));

  // The other clusters pick up the new CRL set (the Watch stream will push
  // it; here their agents run again).
  for (Cluster* c : {&c1, &c3}) {
    ASSERT_OK_AND_ASSIGN(InstallResult r, c->installer->EnsureInstalled());
    EXPECT_TRUE(r.changed);
    EXPECT_FALSE(r.reissued);
    EXPECT_THAT(RootCrlSerials(*c), Contains(revoked_serial));
  }
  // openssl reads the root's CRL as cluster1 installed it.
  auto root = *pki::ParseCertificatePem(*ReadFile(c1.dir + "/root-cert.pem"));
  auto installed_crls = pki::ParseCrlsPem(*ReadFile(c1.dir + "/ca-crl.pem"));
  ASSERT_THAT(installed_crls, IsOk());
  for (auto& crl : *installed_crls) {
    if (!pki::VerifyCrl(crl.get(), root.get()).ok()) continue;
    ASSERT_THAT(WriteFileAtomically(dir_.Sub("root.crl"), pki::CrlPem(crl.get()), 0644), IsOk());
  }
  auto crl_text = RunCommand("openssl crl -noout -text -in " + dir_.Sub("root.crl"));
  EXPECT_THAT(crl_text.output,
              HasSubstr("Serial Number: " + absl::AsciiStrToUpper(revoked_serial)));
  EXPECT_THAT(crl_text.output, HasSubstr("Key Compromise"));

  auto refused = Handshake(c1, c2);
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("certificate revoked"));
  auto refused_other_way = Handshake(c3, c2);
  EXPECT_NE(refused_other_way.exit_code, 0);
  auto fine = Handshake(c1, c3);
  EXPECT_EQ(fine.exit_code, 0) << fine.output;

  // The revoked cluster can no longer get anything signed or enroll again.
  EXPECT_THAT(c2.installer->EnsureInstalled(true),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("has been revoked")));
  auto token =
      ca_->authority()->CreateJoinToken(ca_->LocalOperator(), "cluster2", std::chrono::hours(1));
  ASSERT_THAT(token, IsOk());
  EXPECT_THAT(
      client::Enroll(ca_->address(), ca_->pin(), token->token, pki::KeyAlgorithm::kEcdsaP256),
      StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("disabled")));
}

}  // namespace
}  // namespace meshtrust::agent
