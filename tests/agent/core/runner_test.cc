// The long-running agent against the real CA: renewal before expiry, forced
// rotation and CRL pushes over the Watch stream, repair of a deleted
// cacerts, and keeping the installed set while the CA is away.
#include "agent/core/runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "agent/files/file_sink.h"
#include "agent/grpc/grpc_ca_connection.h"
#include "base/files.h"
#include "nlohmann/json.hpp"
#include "pki/certificate.h"
#include "pki/crl.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::agent {
namespace {

using ::meshtrust::testing::IsOk;
using ::testing::Contains;

// Polls `pred` until it holds or `timeout` passes.
template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return pred();
}

struct RunningAgent {
  std::string dir;
  client::Identity identity;
  std::unique_ptr<GrpcCaConnection> ca;
  std::unique_ptr<FileSink> sink;
  std::unique_ptr<Installer> installer;
  std::unique_ptr<Runner> runner;
  std::thread thread;

  std::string Serial() {
    auto cert = ReadFile(dir + "/ca-cert.pem");
    if (!cert.ok()) return "";
    auto parsed = pki::ParseCertificatePem(*cert);
    return parsed.ok() ? pki::SerialHex(parsed->get()) : "";
  }
  ~RunningAgent() {
    if (runner != nullptr) runner->Stop();
    if (thread.joinable()) thread.join();
  }
};

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TestCaOptions options;
    options.authority.root_rotation_soak = std::chrono::seconds(0);
    ca_ = testing::TestCa::Create(options);
  }

  std::unique_ptr<RunningAgent> Start(const std::string& cluster, const Clock* clock,
                                      std::chrono::hours ttl = std::chrono::hours(0)) {
    auto a = std::make_unique<RunningAgent>();
    a->dir = dir_.Sub(cluster);
    a->identity = ca_->EnrollOverGrpc(ca_->AddCluster(cluster));
    a->ca = std::make_unique<GrpcCaConnection>(
        client::CreateChannel(ca_->address(), a->identity.control_ca_pem, &a->identity),
        std::chrono::seconds(5));
    a->sink = std::make_unique<FileSink>(a->dir);
    InstallerOptions o;
    o.cluster = cluster;
    o.ttl = ttl;
    a->installer = std::make_unique<Installer>(a->ca.get(), a->sink.get(), clock, o);
    RunnerOptions r;
    r.reconcile_interval = std::chrono::milliseconds(200);
    r.backoff_initial = std::chrono::milliseconds(50);
    r.backoff_max = std::chrono::milliseconds(400);
    r.status_file = a->dir + ".status.json";
    a->runner = std::make_unique<Runner>(a->installer.get(), a->ca.get(), clock, cluster, r);
    a->thread = std::thread([runner = a->runner.get()] { runner->Run(); });
    // The status (and its file, rewritten just after) follows the install.
    EXPECT_TRUE(WaitFor([&] {
      return !a->Serial().empty() && a->runner->status().watch_connected &&
             a->runner->status().serial == a->Serial() &&
             ReadFile(r.status_file).value_or("").find(a->Serial()) != std::string::npos;
    })) << cluster
        << " did not install";
    return a;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::TestCa> ca_;
};

TEST_F(RunnerTest, RotatesWithinSecondsWhenAnOperatorAsks) {
  auto c1 = Start("cluster1", &SystemClock::Get());
  auto c2 = Start("cluster2", &SystemClock::Get());
  std::string before1 = c1->Serial(), before2 = c2->Serial();
  std::string key_before = *ReadFile(c1->dir + "/ca-key.pem");
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_OK_AND_ASSIGN(int notified,
                       ca_->authority()->RotateIntermediate(ca_->LocalOperator(), "cluster1"));
  EXPECT_EQ(notified, 1);
  ASSERT_TRUE(WaitFor([&] { return c1->Serial() != before1; }, std::chrono::seconds(5)));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_NE(*ReadFile(c1->dir + "/ca-key.pem"), key_before);  // A new key.
  EXPECT_EQ(c2->Serial(), before2);
  // The old intermediate was not revoked.
  EXPECT_FALSE(ca_->store()->GetCertificate(before1)->revoked);
}

TEST_F(RunnerTest, RootRotationReachesEveryAgentThroughTheWatchStream) {
  auto c1 = Start("cluster1", &SystemClock::Get());
  auto c2 = Start("cluster2", &SystemClock::Get());
  ca::Authority* authority = ca_->authority();
  ca::Caller op = ca_->LocalOperator();
  auto all_acked = [&] { return authority->RootRotation(op)->blocking.empty(); };
  auto holds_bundle = [&](RunningAgent& a) {
    return ReadFile(a.dir + "/root-cert.pem").value_or("") == authority->CurrentBundle().roots_pem;
  };

  std::string serial1 = c1->Serial(), serial2 = c2->Serial();
  ASSERT_THAT(authority->BeginRootRotation(op), IsOk());
  ASSERT_TRUE(WaitFor([&] { return holds_bundle(*c1) && holds_bundle(*c2) && all_acked(); },
                      std::chrono::seconds(5)));
  EXPECT_EQ(c1->Serial(), serial1);  // A new bundle alone does not re-key.

  ASSERT_THAT(authority->ActivateRootRotation(op, false), IsOk());
  ASSERT_TRUE(
      WaitFor([&] { return c1->Serial() != serial1 && c2->Serial() != serial2 && all_acked(); },
              std::chrono::seconds(5)));
  auto status = *authority->RootRotation(op);
  for (const auto& c : status.clusters) EXPECT_TRUE(c.on_signing_root) << c.name;

  ASSERT_THAT(authority->FinishRootRotation(op), IsOk());
  ASSERT_TRUE(
      WaitFor([&] { return holds_bundle(*c1) && holds_bundle(*c2); }, std::chrono::seconds(5)));
  EXPECT_EQ(authority->CurrentBundle().roots_pem, authority->CurrentBundle().signing_root_pem);
}

TEST_F(RunnerTest, RenewsBeforeExpiryWithANewKey) {
  FakeClock clock;
  auto c1 = Start("cluster1", &clock, std::chrono::hours(3));
  std::string first = c1->Serial();
  auto status = c1->runner->status();
  EXPECT_EQ(status.serial, first);
  EXPECT_GT(status.next_renewal, clock.Now());
  nlohmann::json file = nlohmann::json::parse(*ReadFile(c1->dir + ".status.json"));
  EXPECT_EQ(file["serial"], first);
  EXPECT_FALSE(file["next_renewal"].get<std::string>().empty());
  // Not yet due: nothing changes over a few reconciles.
  clock.Advance(std::chrono::minutes(60));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(c1->Serial(), first);
  // Past two thirds of the life: renewed on the next reconcile.
  clock.Advance(std::chrono::minutes(75));
  ASSERT_TRUE(WaitFor([&] { return c1->Serial() != first; }));
}

TEST_F(RunnerTest, RepairsADeletedCacerts) {
  auto c1 = Start("cluster1", &SystemClock::Get());
  std::filesystem::remove_all(c1->dir);
  ASSERT_TRUE(WaitFor([&] { return !c1->Serial().empty(); }));
}

TEST_F(RunnerTest, RevocationReachesOtherClustersThroughTheWatchStream) {
  auto c1 = Start("cluster1", &SystemClock::Get());
  auto c2 = Start("cluster2", &SystemClock::Get());
  std::string revoked = c2->Serial();
  ASSERT_THAT(ca_->authority()->Revoke(ca_->LocalOperator(), "cluster2", "", "keyCompromise"),
              IsOk());
  auto root_crl_lists_revoked = [&] {
    auto crls = pki::ParseCrlsPem(*ReadFile(c1->dir + "/ca-crl.pem"));
    if (!crls.ok()) return false;
    for (auto& crl : *crls) {
      auto serials = pki::RevokedSerials(crl.get());
      if (std::find(serials.begin(), serials.end(), revoked) != serials.end()) return true;
    }
    return false;
  };
  EXPECT_TRUE(WaitFor(root_crl_lists_revoked, std::chrono::seconds(5)));
  // The revoked cluster's agent keeps failing, with the reason in its status.
  ASSERT_TRUE(WaitFor([&] { return c2->runner->status().consecutive_failures > 0; }));
  EXPECT_THAT(c2->runner->status().last_error, ::testing::HasSubstr("revoked"));
}

TEST_F(RunnerTest, KeepsTheInstalledSetWhileTheCaIsAwayAndRecovers) {
  auto c1 = Start("cluster1", &SystemClock::Get());
  std::string serial = c1->Serial();
  std::string key = *ReadFile(c1->dir + "/ca-key.pem");
  ca_->StopServer();
  ASSERT_TRUE(WaitFor([&] { return c1->runner->status().consecutive_failures >= 3; }));
  EXPECT_FALSE(c1->runner->status().last_error.empty());
  EXPECT_EQ(c1->Serial(), serial);
  EXPECT_EQ(*ReadFile(c1->dir + "/ca-key.pem"), key);
  // Bounded backoff: failures keep coming at most backoff_max apart, not
  // further and further apart.
  int64_t failures = c1->runner->status().failures_total;
  ASSERT_TRUE(WaitFor([&] { return c1->runner->status().failures_total >= failures + 3; }));

  // The CA comes back: the agent recovers by itself, keeping its set.
  TimePoint back = std::chrono::system_clock::now();
  ca_->RestartServer();
  ASSERT_TRUE(WaitFor([&] {
    RunnerStatus s = c1->runner->status();
    return s.consecutive_failures == 0 && s.last_success > back;
  })) << c1->runner->status().last_error;
  EXPECT_EQ(c1->Serial(), serial);
  EXPECT_EQ(*ReadFile(c1->dir + "/ca-key.pem"), key);
}

}  // namespace
}  // namespace meshtrust::agent
