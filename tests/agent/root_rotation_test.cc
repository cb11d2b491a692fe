// Root rotation across a mesh of three clusters, one agent step at a time:
// after every step of every phase, workloads of every cluster complete mutual
// TLS (real openssl) with workloads of every other cluster, each side
// trusting only the root-cert.pem its own cluster holds at that moment.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/files.h"
#include "pki/certificate.h"
#include "tests/testing/mesh.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::agent {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::MeshCluster;
using ::meshtrust::testing::StatusIs;
using ::meshtrust::testing::Workload;
using ::testing::HasSubstr;

class RootRotationMeshTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TestCaOptions options;
    // Workloads here live for the test only; production keeps >= their TTL.
    options.authority.root_rotation_soak = std::chrono::seconds(0);
    ca_ = testing::TestCa::Create(options);
    for (const char* name : {"cluster1", "cluster2", "cluster3"}) {
      clusters_.push_back(testing::JoinMesh(ca_.get(), dir_, name));
    }
    for (auto& c : clusters_) ASSERT_THAT(c->installer->EnsureInstalled(), IsOk());
    op_ = ca_->LocalOperator();
  }

  MeshCluster& C(int i) { return *clusters_[i]; }

  // One agent run; returns whether it issued a new intermediate.
  bool Step(MeshCluster& c) {
    absl::StatusOr<InstallResult> r = c.installer->EnsureInstalled();
    EXPECT_THAT(r, IsOk()) << c.name;
    return r.ok() && r->reissued;
  }

  // Issues a workload from `c`'s current intermediate and keeps it.
  void NewWorkload(MeshCluster& c) {
    std::string label = absl::StrCat("app", workloads_[c.name].size());
    workloads_[c.name].push_back(testing::IssueWorkload(c, label));
  }

  // Every kept workload of every cluster against every kept workload of every
  // other cluster, each trusting its own cluster's root-cert.pem as of now.
  void ExpectFullMesh(const std::string& when) {
    ++round_;
    int handshakes = 0;
    for (size_t i = 0; i < clusters_.size(); ++i) {
      for (size_t j = i + 1; j < clusters_.size(); ++j) {
        std::string trust_i = testing::TrustFile(C(i), absl::StrCat("r", round_), false);
        std::string trust_j = testing::TrustFile(C(j), absl::StrCat("r", round_), false);
        for (const Workload& wi : workloads_[C(i).name]) {
          for (const Workload& wj : workloads_[C(j).name]) {
            testing::CommandResult r = testing::Handshake(wi, trust_i, wj, trust_j);
            EXPECT_EQ(r.exit_code, 0) << when << ": " << wi.cert << " <-> " << wj.cert << "\n"
                                      << r.output;
            ++handshakes;
          }
        }
      }
    }
    EXPECT_GT(handshakes, 0);
  }

  std::string Installed(const MeshCluster& c, const std::string& file) {
    return ReadFile(c.dir + "/" + file).value_or("");
  }
  std::string SigningRootOfInstalled(const MeshCluster& c) {
    auto chain = pki::ParseCertificateChainPem(Installed(c, "cert-chain.pem"));
    return chain.ok() ? pki::CertificatePem(chain->back().get()) : "";
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::TestCa> ca_;
  std::vector<std::unique_ptr<MeshCluster>> clusters_;
  std::map<std::string, std::vector<Workload>> workloads_;
  ca::Caller op_;
  int round_ = 0;
};

TEST_F(RootRotationMeshTest, WorkloadsKeepTalkingAcrossClustersThroughEveryPhase) {
  for (auto& c : clusters_) NewWorkload(*c);
  ExpectFullMesh("before the rotation");
  std::string bundle_a = Installed(C(0), "root-cert.pem");

  // Phase 1: begin. Each agent in turn rewrites root-cert.pem (A, then B
  // appended byte-exactly) without re-keying; mixed A / A+B meshes work.
  ASSERT_THAT(ca_->authority()->BeginRootRotation(op_), IsOk());
  for (auto& c : clusters_) {
    EXPECT_FALSE(Step(*c)) << c->name << " re-keyed on a bundle change";
    std::string bundle_ab = Installed(*c, "root-cert.pem");
    EXPECT_TRUE(absl::StartsWith(bundle_ab, bundle_a)) << c->name;
    EXPECT_GT(bundle_ab.size(), bundle_a.size());
    ExpectFullMesh(absl::StrCat("begun, ", c->name, " has A+B"));
  }
  EXPECT_EQ(ca_->authority()->RootRotation(op_)->blocking, "");

  // Phase 2: activate. Each agent in turn re-keys onto B; workloads from A
  // intermediates and from B intermediates all talk to each other.
  ASSERT_THAT(ca_->authority()->ActivateRootRotation(op_, false), IsOk());
  std::string root_b = ca_->authority()->CurrentBundle().signing_root_pem;
  for (auto& c : clusters_) {
    std::string before = c->Serial();
    EXPECT_TRUE(Step(*c)) << c->name << " did not re-key onto the new root";
    EXPECT_NE(c->Serial(), before);
    EXPECT_EQ(SigningRootOfInstalled(*c), root_b);
    NewWorkload(*c);
    ExpectFullMesh(absl::StrCat("activated, ", c->name, " re-keyed onto B"));
  }

  // Phase 3: finish. The bundle becomes B alone; B workloads keep talking.
  ASSERT_OK_AND_ASSIGN(ca::RootRotationStatus finished, ca_->authority()->FinishRootRotation(op_));
  EXPECT_EQ(finished.phase, ca::RotationPhase::kIdle);
  std::map<std::string, std::vector<Workload>> all = workloads_;
  for (auto& c : clusters_) workloads_[c->name].erase(workloads_[c->name].begin());
  for (auto& c : clusters_) {
    EXPECT_FALSE(Step(*c));
    EXPECT_EQ(Installed(*c, "root-cert.pem"), root_b);
    ExpectFullMesh(absl::StrCat("finished, ", c->name, " trusts B only"));
  }
  // A is gone: a workload that still chains to it is refused (by then the
  // soak time has let every such certificate expire).
  testing::CommandResult stale =
      testing::Handshake(workloads_["cluster1"][0], testing::TrustFile(C(0), "end", false),
                         all["cluster2"][0], testing::TrustFile(C(1), "end", false));
  EXPECT_NE(stale.exit_code, 0) << stale.output;
}

TEST_F(RootRotationMeshTest, ForcingActivationCutsOffClustersThatHadNotAcknowledged) {
  ASSERT_THAT(ca_->authority()->BeginRootRotation(op_), IsOk());
  Step(C(0));  // cluster2 and cluster3 never see the A+B bundle.
  EXPECT_THAT(ca_->authority()->ActivateRootRotation(op_, false),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("not yet acknowledged the new trust bundle: cluster2, cluster3")));
  ASSERT_THAT(ca_->authority()->ActivateRootRotation(op_, true), IsOk());
  EXPECT_TRUE(Step(C(0)));
  NewWorkload(C(0));
  NewWorkload(C(1));
  // This is what the gate prevents: cluster2 trusts A only, cluster1 now
  // presents a chain to B.
  testing::CommandResult r =
      testing::Handshake(workloads_["cluster1"][0], testing::TrustFile(C(0), "f", false),
                         workloads_["cluster2"][0], testing::TrustFile(C(1), "f", false));
  EXPECT_NE(r.exit_code, 0) << r.output;
  // Once cluster2's agent runs, it picks up A+B and re-keys; the two talk again.
  EXPECT_TRUE(Step(C(1)));
  NewWorkload(C(1));
  testing::CommandResult healed =
      testing::Handshake(workloads_["cluster1"][0], testing::TrustFile(C(0), "g", false),
                         workloads_["cluster2"][1], testing::TrustFile(C(1), "g", false));
  EXPECT_EQ(healed.exit_code, 0) << healed.output;
}

}  // namespace
}  // namespace meshtrust::agent
