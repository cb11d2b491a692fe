// Revocation end to end: three clusters with agents, a cluster revoked, its
// intermediate in every other cluster's ca-crl.pem, and CRL-checking
// handshakes with the real openssl refusing the revoked cluster's workload
// while the others still talk.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/core/installer.h"
#include "base/files.h"
#include "pki/certificate.h"
#include "pki/crl.h"
#include "pki/key.h"
#include "tests/testing/mesh.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::agent {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::RunCommand;
using ::meshtrust::testing::StatusIs;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

using ::meshtrust::testing::MeshCluster;
using ::meshtrust::testing::Workload;

class RevocationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = testing::TestCa::Create();
    for (const char* name : {"cluster1", "cluster2", "cluster3"}) {
      clusters_.push_back(testing::JoinMesh(ca_.get(), dir_, name));
    }
    // Two rounds: the second picks up the other clusters' intermediate CRLs.
    for (int round = 0; round < 2; ++round) {
      for (auto& c : clusters_) ASSERT_THAT(c->installer->EnsureInstalled(), IsOk());
    }
    for (auto& c : clusters_) workloads_[c->name] = testing::IssueWorkload(*c, "app");
  }

  // A CRL-checking handshake between the clusters' workloads, each trusting
  // its own root-cert.pem and ca-crl.pem as installed now.
  testing::CommandResult Handshake(const MeshCluster& server, const MeshCluster& client) {
    return testing::Handshake(workloads_[server.name], testing::TrustFile(server, "crl", true),
                              workloads_[client.name], testing::TrustFile(client, "crl", true),
                              /*check_crls=*/true);
  }

  std::vector<std::string> RootCrlSerials(const MeshCluster& c) {
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
  std::vector<std::unique_ptr<MeshCluster>> clusters_;
  std::map<std::string, Workload> workloads_;
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

TEST_F(RevocationTest, CrlExchangeBetweenClustersSettles) {
  // After SetUp's two rounds every cluster holds every other cluster's CRL.
  // Picking up another cluster's CRL must not re-sign this cluster's own, or
  // each refresh would make every other cluster refresh again, without end.
  std::map<std::string, std::string> own_crl;
  for (auto& c : clusters_) {
    own_crl[c->name] =
        pki::CrlPem(pki::ParseCrlsPem(*ReadFile(c->dir + "/ca-crl.pem"))->at(0).get());
  }
  for (int round = 0; round < 2; ++round) {
    for (auto& c : clusters_) {
      ASSERT_OK_AND_ASSIGN(InstallResult r, c->installer->EnsureInstalled());
      EXPECT_FALSE(r.changed) << c->name << " changed in round " << round << ": " << r.reason;
    }
  }
  for (auto& c : clusters_) {
    auto crls = *pki::ParseCrlsPem(*ReadFile(c->dir + "/ca-crl.pem"));
    EXPECT_EQ(pki::CrlPem(crls[0].get()), own_crl[c->name]);
  }
}

TEST_F(RevocationTest, PreviousIntermediatesStayCheckableAfterARekey) {
  MeshCluster& c1 = *clusters_[0];
  MeshCluster& c2 = *clusters_[1];
  Workload old_workload = workloads_["cluster2"];
  ASSERT_OK_AND_ASSIGN(InstallResult rekeyed, c2.installer->EnsureInstalled(true));
  EXPECT_TRUE(rekeyed.reissued);
  for (auto& c : clusters_) ASSERT_THAT(c->installer->EnsureInstalled(), IsOk());
  workloads_["cluster2"] = testing::IssueWorkload(c2, "app-new");
  auto fresh = Handshake(c1, c2);
  EXPECT_EQ(fresh.exit_code, 0) << fresh.output;
  // Until istiod re-issues it, the old workload still presents a chain
  // through cluster2's previous intermediate; verifiers checking every CA in
  // the chain need that intermediate's CRL too, in both clusters.
  for (MeshCluster* verifier : {&c1, &c2}) {
    auto old =
        testing::Handshake(workloads_[verifier->name], testing::TrustFile(*verifier, "old-v", true),
                           old_workload, testing::TrustFile(c2, "old", true), /*check_crls=*/true);
    EXPECT_EQ(old.exit_code, 0) << verifier->name << "\n" << old.output;
  }
}

TEST_F(RevocationTest, RevokedClusterIsCutOffEverywhere) {
  MeshCluster& c1 = *clusters_[0];
  MeshCluster& c2 = *clusters_[1];
  MeshCluster& c3 = *clusters_[2];
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
  for (MeshCluster* c : {&c1, &c3}) {
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

TEST_F(RevocationTest, AnAgentWhoseIntermediateWasRevokedBySerialReissues) {
  MeshCluster& c1 = *clusters_[0];
  std::string revoked = c1.Serial();
  ASSERT_THAT(ca_->authority()->Revoke(ca_->LocalOperator(), "", revoked, "keyCompromise"), IsOk());
  // The next reconcile sees its serial in the root CRL and re-keys, instead
  // of acknowledging a revoked intermediate again and again.
  ASSERT_OK_AND_ASSIGN(InstallResult r, c1.installer->EnsureInstalled());
  EXPECT_TRUE(r.reissued);
  EXPECT_EQ(r.reason, "the installed intermediate was revoked");
  EXPECT_NE(c1.Serial(), revoked);
  EXPECT_THAT(RootCrlSerials(c1), Contains(revoked));
  ASSERT_OK_AND_ASSIGN(InstallResult again, c1.installer->EnsureInstalled());
  EXPECT_FALSE(again.reissued);
}

TEST_F(RevocationTest, AReleasedHoldReachesEveryClusterAsAFreshValidCrlSet) {
  MeshCluster& c1 = *clusters_[0];
  MeshCluster& c2 = *clusters_[1];
  MeshCluster& c3 = *clusters_[2];
  std::string held = c2.Serial();
  ASSERT_THAT(ca_->authority()->Revoke(ca_->LocalOperator(), "", held, "certificateHold"), IsOk());
  for (MeshCluster* c : {&c1, &c3}) ASSERT_THAT(c->installer->EnsureInstalled(), IsOk());
  EXPECT_THAT(RootCrlSerials(c1), Contains(held));
  EXPECT_NE(Handshake(c1, c2).exit_code, 0);

  ASSERT_OK_AND_ASSIGN(auto released, ca_->authority()->ReleaseHold(ca_->LocalOperator(), held));
  for (MeshCluster* c : {&c1, &c3}) {
    SCOPED_TRACE(c->name);
    ASSERT_OK_AND_ASSIGN(InstallResult r, c->installer->EnsureInstalled());
    EXPECT_TRUE(r.changed);
    EXPECT_THAT(RootCrlSerials(*c), Not(Contains(held)));
    // Never an empty ca-crl.pem: fresh, signed CRLs, one from every CA in
    // the chain, which istiod of every version takes.
    ASSERT_OK_AND_ASSIGN(std::optional<InstalledCaCerts> installed, c->sink->Read());
    ASSERT_FALSE(installed->files.ca_crl_pem.empty());
    auto crls = *pki::ParseCrlsPem(installed->files.ca_crl_pem);
    EXPECT_GE(crls.size(), 2u);
    auto root = *pki::ParseCertificatePem(installed->files.root_cert_pem);
    bool fresh_root_crl = false;
    for (auto& crl : crls) {
      fresh_root_crl |= pki::VerifyCrl(crl.get(), root.get()).ok() &&
                        pki::CrlNumber(crl.get()) == released.crl_number;
    }
    EXPECT_TRUE(fresh_root_crl);
    EXPECT_FALSE(IstiodVerdict(installed->files, std::nullopt, pki::RootBundleRule::kBytes,
                               std::chrono::system_clock::now())
                     .has_value());
  }
  // cluster2's workloads are trusted again.
  EXPECT_EQ(Handshake(c1, c2).exit_code, 0) << Handshake(c1, c2).output;
  // And cluster2's agent keeps its intermediate: it is no longer revoked.
  ASSERT_OK_AND_ASSIGN(InstallResult c2_result, c2.installer->EnsureInstalled());
  EXPECT_FALSE(c2_result.reissued);
  EXPECT_EQ(c2.Serial(), held);
}

}  // namespace
}  // namespace meshtrust::agent
