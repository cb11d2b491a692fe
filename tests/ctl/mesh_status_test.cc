// What `meshtrustctl status` flags, from a MeshStatus as the CA returns it.
#include "ctl/mesh_status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace meshtrust::ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr int64_t kNow = 1'800'000'000;
constexpr int64_t kDay = 86400;

v1::MeshStatus Healthy() {
  v1::MeshStatus s;
  s.mutable_now()->set_seconds(kNow);
  s.set_bundle_sha256("b1");
  for (const char* name : {"cluster1", "cluster2"}) {
    v1::Cluster* c = s.add_clusters();
    c->set_name(name);
    c->set_enabled(true);
    c->set_current_serial(std::string(name) + "-s1");
    c->mutable_current_not_after()->set_seconds(kNow + 20 * kDay);
    c->set_acked_serial(std::string(name) + "-s1");
    c->mutable_acked_not_after()->set_seconds(kNow + 20 * kDay);
    c->set_acked_bundle_sha256("b1");
  }
  v1::MeshStatus::RootCrl* crl = s.add_crls();
  crl->set_root_key_id("mesh-root-1");
  crl->mutable_this_update()->set_seconds(kNow - kDay);
  crl->mutable_next_update()->set_seconds(kNow + 6 * kDay);
  return s;
}

TEST(MeshStatusTest, AHealthyMeshNeedsNothing) {
  EXPECT_THAT(NeedsAttention(Healthy()), IsEmpty());
}

TEST(MeshStatusTest, NamesEachClusterProblem) {
  v1::MeshStatus s = Healthy();
  s.mutable_clusters(0)->mutable_current_not_after()->set_seconds(kNow + 2 * kDay);
  s.mutable_clusters(0)->mutable_acked_not_after()->set_seconds(kNow + 2 * kDay);
  s.mutable_clusters(1)->set_acked_serial("cluster2-s0");
  s.mutable_clusters(1)->set_acked_bundle_sha256("b0");
  v1::Cluster* fresh = s.add_clusters();
  fresh->set_name("cluster3");
  fresh->set_enabled(true);
  v1::Cluster* off = s.add_clusters();
  off->set_name("cluster4");  // Disabled: nothing expected of it.
  EXPECT_THAT(NeedsAttention(s),
              ElementsAre(HasSubstr("cluster1: intermediate expires in 2d0h"),
                          HasSubstr("cluster2: has not acknowledged its current intermediate "
                                    "cluster2-s1 (installed: cluster2-s0)"),
                          HasSubstr("cluster2: its root-cert.pem is not the current trust bundle"),
                          HasSubstr("cluster3: no intermediate issued yet")));
}

TEST(MeshStatusTest, FlagsExpiredIntermediatesAndStaleCrls) {
  v1::MeshStatus s = Healthy();
  s.mutable_clusters(0)->mutable_current_not_after()->set_seconds(kNow - 3600);
  s.mutable_clusters(0)->mutable_acked_not_after()->set_seconds(kNow - 3600);
  s.mutable_crls(0)->mutable_this_update()->set_seconds(kNow - 6 * kDay);
  s.mutable_crls(0)->mutable_next_update()->set_seconds(kNow + kDay);
  EXPECT_THAT(NeedsAttention(s),
              ElementsAre(HasSubstr("cluster1: intermediate cluster1-s1 expired 1h0m ago"),
                          HasSubstr("the CRL of root mesh-root-1 reaches its nextUpdate in 1d0h")));
  s.mutable_crls(0)->mutable_next_update()->set_seconds(kNow - 60);
  EXPECT_THAT(NeedsAttention(s).back(), HasSubstr("passed its nextUpdate 1m ago"));
}

// The CA once reported an intermediate as the cluster's current one as soon
// as it was signed, although its agent never managed to write it. Status
// judges a cluster by the intermediate its agent acknowledged.
TEST(MeshStatusTest, JudgesByTheInstalledIntermediateNotTheIssuedOne) {
  v1::MeshStatus s = Healthy();
  // cluster1: a fresh intermediate was signed but never installed, while the
  // installed one is about to expire.
  v1::Cluster* c1 = s.mutable_clusters(0);
  c1->set_current_serial("cluster1-s2");
  c1->mutable_current_not_after()->set_seconds(kNow + 30 * kDay);
  c1->mutable_acked_not_after()->set_seconds(kNow + 3 * kDay);
  // cluster3: issued, never installed at all.
  v1::Cluster* c3 = s.add_clusters();
  c3->set_name("cluster3");
  c3->set_enabled(true);
  c3->set_current_serial("cluster3-s1");
  c3->mutable_current_not_after()->set_seconds(kNow + 30 * kDay);
  c3->set_acked_bundle_sha256("b1");
  EXPECT_THAT(
      NeedsAttention(s),
      ElementsAre(HasSubstr("cluster1: intermediate expires in 3d0h and its renewal is not "
                            "installed yet"),
                  HasSubstr("cluster1: has not acknowledged its current intermediate "
                            "cluster1-s2 (installed: cluster1-s1)"),
                  HasSubstr("cluster3: intermediate cluster3-s1 was issued but its agent never "
                            "reported it installed")));
  // Once the agent acknowledges it, nothing is left to flag.
  c1->set_acked_serial("cluster1-s2");
  c1->mutable_acked_not_after()->set_seconds(kNow + 30 * kDay);
  c3->set_acked_serial("cluster3-s1");
  c3->mutable_acked_not_after()->set_seconds(kNow + 30 * kDay);
  EXPECT_THAT(NeedsAttention(s), IsEmpty());
  // An installed intermediate that expired is flagged even when a newer one
  // was issued: the cluster still runs on the expired one.
  c1->set_current_serial("cluster1-s3");
  c1->mutable_acked_not_after()->set_seconds(kNow - 60);
  EXPECT_THAT(NeedsAttention(s),
              ElementsAre(HasSubstr("cluster1: intermediate cluster1-s2 expired 1m ago"),
                          HasSubstr("cluster1: has not acknowledged its current intermediate "
                                    "cluster1-s3")));
}

TEST(MeshStatusTest, HumanDurations) {
  EXPECT_EQ(HumanDuration(59), "59s");
  EXPECT_EQ(HumanDuration(3 * 3600 + 120), "3h2m");
  EXPECT_EQ(HumanDuration(-2 * kDay - 7200), "-2d2h");
}

}  // namespace
}  // namespace meshtrust::ctl
