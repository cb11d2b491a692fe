// The long-running agent against the real CA: renewal before expiry, forced
// rotation and CRL pushes over the Watch stream, repair of a deleted
// cacerts, and keeping the installed set while the CA is away.
#include "agent/core/runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/core/agent_metrics.h"
#include "agent/files/file_sink.h"
#include "agent/grpc/grpc_ca_connection.h"
#include "base/files.h"
#include "base/metrics.h"
#include "nlohmann/json.hpp"
#include "pki/certificate.h"
#include "pki/crl.h"
#include "pki/digest.h"
#include "pki/key.h"
#include "pki/pem.h"
#include "tests/testing/hostile_inputs.h"
#include "tests/testing/mesh.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::agent {
namespace {

using ::meshtrust::testing::IsOk;
using ::testing::Contains;
using ::testing::HasSubstr;

// Waits for an event the agent makes observable (a file, a counter in its
// status). The bound is a safety net against a hung agent, generous enough
// for a loaded sanitizer build; no test depends on how fast anything is.
constexpr std::chrono::seconds kSafetyBound(120);

template <typename Pred>
::testing::AssertionResult WaitFor(const std::string& what, Pred pred) {
  auto end = std::chrono::steady_clock::now() + kSafetyBound;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return ::testing::AssertionSuccess();
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  if (pred()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "waited " << kSafetyBound.count() << " s for " << what;
}

// The real connection, with a switch that makes the CA's answers (not its
// Watch stream) fail as if the CA were away, and one that makes it answer as
// an impostor would: the real bundle with a root of its own appended.
class GatedConnection : public CaConnection {
 public:
  explicit GatedConnection(CaConnection* real) : real_(real) {}
  std::atomic<bool> away{false};
  std::atomic<bool> append_rogue_root{false};
  std::atomic<bool> junk_crl{false};

  absl::StatusOr<SignedIntermediate> SignIntermediate(const std::string& cluster,
                                                      const std::string& csr,
                                                      std::chrono::seconds ttl) override {
    if (away) return absl::UnavailableError("the CA is away (test)");
    return real_->SignIntermediate(cluster, csr, ttl);
  }
  absl::StatusOr<TrustBundleInfo> GetTrustBundle() override {
    if (away) return absl::UnavailableError("the CA is away (test)");
    absl::StatusOr<TrustBundleInfo> bundle = real_->GetTrustBundle();
    if (bundle.ok() && append_rogue_root) {
      bundle->roots_pem += pki::CertificatePem(testing::MakeRogueRoot().cert.get());
      bundle->sha256 = pki::Sha256Hex(bundle->roots_pem);
    }
    return bundle;
  }
  absl::StatusOr<CrlSetInfo> GetCrls() override {
    if (away) return absl::UnavailableError("the CA is away (test)");
    absl::StatusOr<CrlSetInfo> crls = real_->GetCrls();
    if (crls.ok() && junk_crl) {
      crls->intermediate_crls_pem += pki::EncodePem("not a CRL", "X509 CRL");
      crls->sha256 = pki::Sha256Hex(crls->root_crls_pem + crls->intermediate_crls_pem);
    }
    return crls;
  }
  absl::Status Watch(const std::string& cluster,
                     const std::function<void(CaEvent)>& on_event) override {
    return real_->Watch(cluster, on_event);
  }
  void CancelWatch() override { real_->CancelWatch(); }
  absl::Status Ack(const std::string& c, const std::string& s, const std::string& b,
                   const std::string& crl) override {
    if (away) return absl::UnavailableError("the CA is away (test)");
    return real_->Ack(c, s, b, crl);
  }
  absl::StatusOr<std::string> RenewIdentity(const std::string& csr_der) override {
    if (away) return absl::UnavailableError("the CA is away (test)");
    return real_->RenewIdentity(csr_der);
  }

 private:
  CaConnection* real_;
};

struct RunningAgent {
  std::string dir;
  client::Identity identity;
  std::unique_ptr<GrpcCaConnection> ca;
  std::unique_ptr<GatedConnection> gate;
  std::unique_ptr<FileSink> sink;
  testing::PinnedRoots roots;
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

  // With a long `reconcile_interval`, only the CA's Watch events (and the
  // renewal point) make the agent act.
  std::unique_ptr<RunningAgent> Start(
      const std::string& cluster, const Clock* clock,
      std::chrono::hours ttl = std::chrono::hours(0),
      std::chrono::milliseconds reconcile_interval = std::chrono::milliseconds(200),
      const std::function<void(RunnerOptions*)>& adjust = nullptr) {
    auto a = std::make_unique<RunningAgent>();
    a->dir = dir_.Sub(cluster);
    a->identity = ca_->EnrollOverGrpc(ca_->AddCluster(cluster));
    a->ca = std::make_unique<GrpcCaConnection>(
        client::CreateChannel(ca_->address(), a->identity.control_ca_pem, &a->identity),
        std::chrono::seconds(30));
    a->gate = std::make_unique<GatedConnection>(a->ca.get());
    a->sink = std::make_unique<FileSink>(a->dir);
    InstallerOptions o;
    o.cluster = cluster;
    o.ttl = ttl;
    a->roots = testing::PinCaRoot(*ca_, a->dir + "-identity", clock);
    a->installer =
        std::make_unique<Installer>(a->gate.get(), a->sink.get(), a->roots.trust.get(), clock, o);
    RunnerOptions r;
    r.reconcile_interval = reconcile_interval;
    r.backoff_initial = std::chrono::milliseconds(50);
    r.backoff_max = std::chrono::milliseconds(400);
    r.watch_reconnect_initial = std::chrono::milliseconds(50);
    r.watch_reconnect_max = std::chrono::milliseconds(400);
    r.status_file = a->dir + ".status.json";
    if (adjust) adjust(&r);
    a->runner = std::make_unique<Runner>(a->installer.get(), a->gate.get(), clock, cluster, r);
    a->thread = std::thread([runner = a->runner.get()] { runner->Run(); });
    // The status (and its file, rewritten just after) follows the install.
    EXPECT_TRUE(WaitFor(cluster + " to install and connect its Watch stream", [&] {
      return !a->Serial().empty() && a->runner->status().watch_connected &&
             a->runner->status().serial == a->Serial() &&
             ReadFile(r.status_file).value_or("").find(a->Serial()) != std::string::npos;
    }));
    return a;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::TestCa> ca_;
};

// The periodic reconcile is an hour away, so only the CA's Watch event can
// make the agent re-key: no timing is needed to tell the push from a poll.
constexpr std::chrono::milliseconds kOnlyEvents = std::chrono::hours(1);

TEST_F(RunnerTest, RotatesWhenAnOperatorAsksThroughTheWatchStream) {
  auto c1 = Start("cluster1", &SystemClock::Get(), std::chrono::hours(0), kOnlyEvents);
  auto c2 = Start("cluster2", &SystemClock::Get(), std::chrono::hours(0), kOnlyEvents);
  std::string before1 = c1->Serial(), before2 = c2->Serial();
  std::string key_before = *ReadFile(c1->dir + "/ca-key.pem");
  ASSERT_OK_AND_ASSIGN(int notified,
                       ca_->authority()->RotateIntermediate(ca_->LocalOperator(), "cluster1"));
  EXPECT_EQ(notified, 1);
  ASSERT_TRUE(
      WaitFor("cluster1 to install a new intermediate", [&] { return c1->Serial() != before1; }));
  EXPECT_NE(*ReadFile(c1->dir + "/ca-key.pem"), key_before);  // A new key.
  EXPECT_EQ(c2->Serial(), before2);
  // The old intermediate was not revoked.
  EXPECT_FALSE(ca_->store()->GetCertificate(before1)->revoked);
}

TEST_F(RunnerTest, RootRotationReachesEveryAgentThroughTheWatchStream) {
  auto c1 = Start("cluster1", &SystemClock::Get(), std::chrono::hours(0), kOnlyEvents);
  auto c2 = Start("cluster2", &SystemClock::Get(), std::chrono::hours(0), kOnlyEvents);
  ca::Authority* authority = ca_->authority();
  ca::Caller op = ca_->LocalOperator();
  auto all_acked = [&] { return authority->RootRotation(op)->blocking.empty(); };
  auto holds_bundle = [&](RunningAgent& a) {
    return ReadFile(a.dir + "/root-cert.pem").value_or("") == authority->CurrentBundle().roots_pem;
  };

  std::string serial1 = c1->Serial(), serial2 = c2->Serial();
  ASSERT_THAT(authority->BeginRootRotation(op), IsOk());
  ASSERT_TRUE(WaitFor("both agents to install and acknowledge the A+B bundle",
                      [&] { return holds_bundle(*c1) && holds_bundle(*c2) && all_acked(); }));
  EXPECT_EQ(c1->Serial(), serial1);  // A new bundle alone does not re-key.

  ASSERT_THAT(authority->ActivateRootRotation(op, false), IsOk());
  ASSERT_TRUE(WaitFor("both agents to re-key onto the new root", [&] {
    return c1->Serial() != serial1 && c2->Serial() != serial2 && all_acked();
  }));
  auto status = *authority->RootRotation(op);
  for (const auto& c : status.clusters) EXPECT_TRUE(c.on_signing_root) << c.name;

  ASSERT_THAT(authority->FinishRootRotation(op), IsOk());
  ASSERT_TRUE(WaitFor("both agents to install the new-root-only bundle",
                      [&] { return holds_bundle(*c1) && holds_bundle(*c2); }));
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
  // Not yet due: three more reconciles (counted, not slept for) change nothing.
  clock.Advance(std::chrono::minutes(60));
  int64_t attempts = c1->runner->status().attempts;
  ASSERT_TRUE(WaitFor("three reconciles after an hour of the intermediate's life",
                      [&] { return c1->runner->status().attempts >= attempts + 3; }));
  EXPECT_EQ(c1->runner->status().consecutive_failures, 0) << c1->runner->status().last_error;
  EXPECT_EQ(c1->Serial(), first);
  EXPECT_EQ(c1->runner->status().changes, status.changes);
  // Past two thirds of the life: renewed on the next reconcile.
  clock.Advance(std::chrono::minutes(75));
  ASSERT_TRUE(
      WaitFor("a renewal past two thirds of the life", [&] { return c1->Serial() != first; }));
}

TEST_F(RunnerTest, RepairsADeletedCacerts) {
  auto c1 = Start("cluster1", &SystemClock::Get());
  std::filesystem::remove_all(c1->dir);
  ASSERT_TRUE(
      WaitFor("the deleted set to be written again", [&] { return !c1->Serial().empty(); }));
}

// A rotation writes the rotating cluster's cacerts once (its own new CRL,
// coming back from the CA in the mesh's CRL set, changes nothing written),
// and a burst of other clusters' re-keys is written once, not once each.
TEST_F(RunnerTest, ARotationIsWrittenOnceAndABurstOfCrlChangesOnce) {
  auto slow = [](RunnerOptions* r) { r->crl_refresh_delay = std::chrono::seconds(5); };
  auto c1 = Start("cluster1", &SystemClock::Get(), std::chrono::hours(0), kOnlyEvents, slow);
  auto c2 = Start("cluster2", &SystemClock::Get(), std::chrono::hours(0), kOnlyEvents, slow);
  auto c3 = Start("cluster3", &SystemClock::Get(), std::chrono::hours(0), kOnlyEvents, slow);
  // Every file holds the CRL every current intermediate signed.
  auto holds_crls_of = [&](RunningAgent* a, std::vector<std::string> clusters) {
    std::string file = ReadFile(a->dir + "/ca-crl.pem").value_or("");
    for (const std::string& c : clusters) {
      auto record = ca_->store()->GetCluster(c);
      if (!record.ok() || record->intermediate_crl_pem.empty() ||
          record->acked_serial != record->current_serial ||
          file.find(record->intermediate_crl_pem) == std::string::npos) {
        return false;
      }
    }
    return true;
  };
  const std::vector<std::string> all = {"cluster1", "cluster2", "cluster3"};
  ASSERT_TRUE(WaitFor("every cluster to hold every CRL", [&] {
    return holds_crls_of(c1.get(), all) && holds_crls_of(c2.get(), all) &&
           holds_crls_of(c3.get(), all);
  }));
  // The attempts that wrote those files finish (their acknowledgements and
  // status updates come just after the write).
  std::this_thread::sleep_for(std::chrono::seconds(1));

  // cluster2 re-keys alone: it writes once; the CRL change it causes is
  // looked at (an attempt) and written nowhere but in the other clusters.
  RunnerStatus c2_before = c2->runner->status();
  RunnerStatus c1_before = c1->runner->status();
  std::string old2 = c2->Serial();
  ASSERT_THAT(ca_->authority()->RotateIntermediate(ca_->LocalOperator(), "cluster2"), IsOk());
  ASSERT_TRUE(WaitFor("cluster1 to hold cluster2's new CRL", [&] {
    return c2->Serial() != old2 && holds_crls_of(c1.get(), all) &&
           c1->runner->status().changes > c1_before.changes;
  }));
  ASSERT_TRUE(WaitFor("cluster2 to look at the CRL change its own re-key caused",
                      [&] { return c2->runner->status().attempts >= c2_before.attempts + 2; }));
  EXPECT_EQ(c2->runner->status().changes, c2_before.changes + 1) << "one write per rotation";
  EXPECT_EQ(c1->runner->status().changes, c1_before.changes + 1);
  std::string c2_crls = *ReadFile(c2->dir + "/ca-crl.pem");
  std::string own = ca_->store()->GetCluster("cluster2")->intermediate_crl_pem;
  EXPECT_EQ(c2_crls.find(own), 0u) << "its own CRL comes first";
  EXPECT_EQ(c2_crls.find(own, own.size()), std::string::npos) << "and only once";

  // cluster2 and cluster3 re-key together: cluster1 writes once for both.
  c1_before = c1->runner->status();
  std::string old3 = c3->Serial();
  old2 = c2->Serial();
  ASSERT_THAT(ca_->authority()->RotateIntermediate(ca_->LocalOperator(), "cluster2"), IsOk());
  ASSERT_THAT(ca_->authority()->RotateIntermediate(ca_->LocalOperator(), "cluster3"), IsOk());
  ASSERT_TRUE(WaitFor("cluster1 to hold both new CRLs", [&] {
    return c2->Serial() != old2 && c3->Serial() != old3 && holds_crls_of(c1.get(), all) &&
           c1->runner->status().changes > c1_before.changes;
  }));
  // Had the burst been written once per CRL, the second write's status
  // would follow within this second.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(c1->runner->status().changes, c1_before.changes + 1) << "a burst is written once";
}

TEST_F(RunnerTest, RevocationReachesOtherClustersThroughTheWatchStream) {
  // cluster1 learns of the new CRL only through its Watch stream; revoked
  // cluster2 finds out at its next periodic reconcile (the CA refuses its
  // Watch, which sends no event).
  auto c1 = Start("cluster1", &SystemClock::Get(), std::chrono::hours(0), kOnlyEvents);
  auto c2 = Start("cluster2", &SystemClock::Get());
  std::string revoked = c2->Serial();
  ASSERT_THAT(ca_->authority()->Revoke(ca_->LocalOperator(), "cluster2", "", "keyCompromise"),
              IsOk());
  auto root_crl_lists_revoked = [&] {
    auto crls = pki::ParseCrlsPem(ReadFile(c1->dir + "/ca-crl.pem").value_or(""));
    if (!crls.ok()) return false;
    for (auto& crl : *crls) {
      auto serials = pki::RevokedSerials(crl.get());
      if (std::find(serials.begin(), serials.end(), revoked) != serials.end()) return true;
    }
    return false;
  };
  EXPECT_TRUE(WaitFor("cluster1's ca-crl.pem to list " + revoked, root_crl_lists_revoked));
  // The revoked cluster's agent keeps failing, with the reason in its status.
  ASSERT_TRUE(WaitFor("cluster2's agent to fail",
                      [&] { return c2->runner->status().consecutive_failures > 0; }));
  EXPECT_THAT(c2->runner->status().last_error, ::testing::HasSubstr("revoked"));
}

TEST_F(RunnerTest, KeepsTheInstalledSetWhileTheCaIsAwayAndRecovers) {
  auto c1 = Start("cluster1", &SystemClock::Get());
  std::string serial = c1->Serial();
  std::string key = *ReadFile(c1->dir + "/ca-key.pem");
  ca_->StopServer();
  ASSERT_TRUE(WaitFor("three consecutive failures",
                      [&] { return c1->runner->status().consecutive_failures >= 3; }));
  EXPECT_FALSE(c1->runner->status().last_error.empty());
  EXPECT_EQ(c1->Serial(), serial);
  EXPECT_EQ(*ReadFile(c1->dir + "/ca-key.pem"), key);

  // The CA comes back: the agent recovers by itself, keeping its set.
  TimePoint back = std::chrono::system_clock::now();
  ca_->RestartServer();
  ASSERT_TRUE(WaitFor("a successful reconcile after the CA came back", [&] {
    RunnerStatus s = c1->runner->status();
    return s.consecutive_failures == 0 && s.last_success > back;
  })) << c1->runner->status().last_error;
  EXPECT_EQ(c1->Serial(), serial);
  EXPECT_EQ(*ReadFile(c1->dir + "/ca-key.pem"), key);
}

// Bounded backoff, read from the waits the runner chose rather than timed:
// 50, 100, 200, 400 ms, then backoff_max (400 ms) however long it lasts.
// Uncapped doubling would reach 800 ms at the fifth failure.
TEST_F(RunnerTest, RetryBackoffDoublesUpToItsCap) {
  auto c1 = Start("cluster1", &SystemClock::Get());
  c1->gate->away = true;
  ASSERT_TRUE(WaitFor("six consecutive failures",
                      [&] { return c1->runner->status().consecutive_failures >= 6; }));
  EXPECT_EQ(c1->runner->status().retry_backoff, std::chrono::milliseconds(400));
  c1->gate->away = false;
}

// The Watch reconnect has its own bound, apart from the retry backoff: here
// the retries may wait a minute, the reconnects 400 ms (each wait between
// half of that and all of it).
TEST_F(RunnerTest, WatchReconnectBackoffDoublesUpToItsCap) {
  auto c1 =
      Start("cluster1", &SystemClock::Get(), std::chrono::hours(0), std::chrono::milliseconds(200),
            [](RunnerOptions* r) { r->backoff_max = std::chrono::minutes(1); });
  ca_->StopServer();
  ASSERT_TRUE(WaitFor("eight failed Watch reconnects",
                      [&] { return c1->runner->status().watch_failures >= 8; }));
  RunnerStatus s = c1->runner->status();
  EXPECT_EQ(s.watch_backoff, std::chrono::milliseconds(400));
  EXPECT_GE(s.watch_wait, std::chrono::milliseconds(200));
  EXPECT_LE(s.watch_wait, std::chrono::milliseconds(400));
  EXPECT_FALSE(s.watch_connected);
}

// The CA away for over half a minute, then back: with the agent's default
// timing (retries back off to minutes), the Watch stream is open again
// within seconds, not after a backoff grown while the CA was away (an
// unbounded doubling from 1 s waits 32 s by then, and gRPC's own channel
// backoff up to 120 s).
TEST_F(RunnerTest, WatchReconnectsWithinSecondsOfTheCaComingBack) {
  auto c1 = Start("cluster1", &SystemClock::Get(), std::chrono::hours(0),
                  std::chrono::milliseconds(200), [](RunnerOptions* r) {
                    RunnerOptions defaults;
                    defaults.reconcile_interval = r->reconcile_interval;
                    defaults.status_file = r->status_file;
                    *r = defaults;
                  });
  auto stopped = std::chrono::steady_clock::now();
  ca_->StopServer();
  ASSERT_TRUE(WaitFor("33 s of the CA away", [&] {
    return std::chrono::steady_clock::now() - stopped > std::chrono::seconds(33);
  }));
  RunnerStatus away = c1->runner->status();
  EXPECT_FALSE(away.watch_connected);
  EXPECT_GE(away.watch_failures, 5);
  EXPECT_LE(away.watch_backoff, std::chrono::seconds(5));
  std::string before = c1->Serial();
  auto back = std::chrono::steady_clock::now();
  ca_->RestartServer();
  // An operator rotates the moment the CA is back, before the agent has
  // reconnected: the request is kept and delivered when it does.
  ASSERT_THAT(ca_->authority()->RotateIntermediate(ca_->LocalOperator(), "cluster1"), IsOk());
  ASSERT_TRUE(WaitFor("the Watch stream to reconnect",
                      [&] { return c1->runner->status().watch_connected; }));
  auto took = std::chrono::steady_clock::now() - back;
  // The bound: one reconnect wait (at most 5 s) and one gRPC channel
  // reconnect (at most 5 s and its 20 % jitter), with room for a loaded
  // machine.
  EXPECT_LT(took, std::chrono::seconds(15))
      << "reconnected " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
      << " ms after the CA came back";
  ASSERT_TRUE(WaitFor("the rotation requested at restart", [&] { return c1->Serial() != before; }));
  auto rekeyed = std::chrono::steady_clock::now() - back;
  std::cout << "reconnected " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms and re-keyed "
            << std::chrono::duration_cast<std::chrono::milliseconds>(rekeyed).count()
            << " ms after the CA came back\n";
  EXPECT_LT(rekeyed, std::chrono::seconds(20));
}

TEST_F(RunnerTest, PerformsARotationRequestedWhileTheCaIsAwayLater) {
  auto c1 = Start("cluster1", &SystemClock::Get(), std::chrono::hours(0), kOnlyEvents);
  std::string before = c1->Serial();
  c1->gate->away = true;
  int64_t failures = c1->runner->status().failures_total;
  // The request arrives over the Watch stream, but the CA cannot sign now.
  ASSERT_OK_AND_ASSIGN(int notified,
                       ca_->authority()->RotateIntermediate(ca_->LocalOperator(), "cluster1"));
  EXPECT_EQ(notified, 1);
  ASSERT_TRUE(WaitFor("the requested rotation to fail while the CA is away",
                      [&] { return c1->runner->status().failures_total > failures; }));
  EXPECT_EQ(c1->Serial(), before);
  c1->gate->away = false;
  ASSERT_TRUE(WaitFor("a successful attempt once the CA is back",
                      [&] { return c1->runner->status().consecutive_failures == 0; }));
  // That attempt was the rotation, not a check that found the set current.
  EXPECT_NE(c1->Serial(), before);
  EXPECT_EQ(c1->runner->status().serial, c1->Serial());
}

TEST_F(RunnerTest, ReadinessGoesFalseNearExpiryWhileRenewalKeepsFailing) {
  FakeClock clock;
  auto c1 = Start("cluster1", &clock, std::chrono::hours(3));
  RunnerStatus installed = c1->runner->status();
  EXPECT_THAT(CheckInstalledReady(installed, clock.Now()), IsOk());
  c1->gate->away = true;
  // Just past the renewal point, renewal failing: still ready (a renewal
  // may take a few attempts).
  clock.Advance(std::chrono::ceil<std::chrono::seconds>(installed.next_renewal - clock.Now()) +
                std::chrono::minutes(1));
  int64_t failures = c1->runner->status().failures_total;
  ASSERT_TRUE(WaitFor("a failed renewal past the renewal point",
                      [&] { return c1->runner->status().failures_total > failures; }));
  EXPECT_THAT(CheckInstalledReady(c1->runner->status(), clock.Now()), IsOk());
  // Half of the remaining life later, still failing: not ready, with the reason.
  clock.Advance(
      std::chrono::ceil<std::chrono::seconds>((installed.not_after - installed.next_renewal) / 2));
  failures = c1->runner->status().failures_total;
  ASSERT_TRUE(WaitFor("another failed renewal near expiry",
                      [&] { return c1->runner->status().failures_total > failures; }));
  EXPECT_THAT(CheckInstalledReady(c1->runner->status(), clock.Now()),
              testing::StatusIs(absl::StatusCode::kUnavailable,
                                ::testing::HasSubstr("near expiry and renewal keeps failing: the "
                                                     "CA is away (test)")));
  EXPECT_EQ(c1->Serial(), installed.serial);  // The set is kept meanwhile.
  c1->gate->away = false;
}

TEST_F(RunnerTest, CountsCrlRepairsAndIstiodRefusalsInItsMetrics) {
  auto a = Start("cluster1", &SystemClock::Get());
  MetricsRegistry registry;
  RegisterAgentMetrics(&registry, "cluster1", [&] { return a->runner->status(); });
  std::string before = registry.Render();
  for (const char* rule :
       {"chain", "key", "key_mismatch", "crl_parse", "crl_missing", "root_bundle"}) {
    EXPECT_THAT(before, HasSubstr(absl::StrCat("meshtrust_agent_istiod_refusals_total{rule=\"",
                                               rule, "\"} 0\n")));
  }
  EXPECT_THAT(before,
              HasSubstr("meshtrust_agent_crl_repairs_total{action=\"dropped_unparsable\"} 0\n"));

  // A CRL set with a block that is not a CRL: left out, the rest installed.
  a->gate->junk_crl = true;
  ASSERT_TRUE(WaitFor("a repaired CRL set",
                      [&] { return a->runner->status().crl_repairs["dropped_unparsable"] >= 1; }));
  EXPECT_THAT(registry.Render(),
              ::testing::ContainsRegex(
                  "meshtrust_agent_crl_repairs_total\\{action=\"dropped_unparsable\"\\} "
                  "[1-9][0-9]*\n"));
  EXPECT_THAT(*ReadFile(a->dir + "/ca-crl.pem"),
              ::testing::Not(HasSubstr(pki::EncodePem("not a CRL", "X509 CRL"))));
  EXPECT_TRUE(a->runner->status().istiod_refusals.empty());
  a->gate->junk_crl = false;
}

TEST_F(RunnerTest, RefusesAnUnendorsedRootLoudlyAndKeepsWhatIsInstalled) {
  auto a = Start("cluster1", &SystemClock::Get());
  std::string roots_before = *ReadFile(a->dir + "/root-cert.pem");
  MetricsRegistry registry;
  RegisterAgentMetrics(&registry, "cluster1", [&] { return a->runner->status(); });
  EXPECT_THAT(registry.Render(), HasSubstr("meshtrust_agent_trust_refusals_total 0\n"));

  a->gate->append_rogue_root = true;
  ASSERT_TRUE(
      WaitFor("two refused reconciles", [&] { return a->runner->status().trust_refusals >= 2; }));
  RunnerStatus refused = a->runner->status();
  EXPECT_THAT(refused.last_error,
              HasSubstr("refused the CA's trust bundle: it adds root \"CN=rogue root\""));
  EXPECT_GE(refused.consecutive_failures, 2);
  EXPECT_THAT(registry.Render(),
              ::testing::ContainsRegex("meshtrust_agent_trust_refusals_total [1-9][0-9]*\n"));
  EXPECT_EQ(*ReadFile(a->dir + "/root-cert.pem"), roots_before);

  a->gate->append_rogue_root = false;
  ASSERT_TRUE(WaitFor("the agent to recover",
                      [&] { return a->runner->status().consecutive_failures == 0; }));
  EXPECT_EQ(*ReadFile(a->dir + "/root-cert.pem"), roots_before);
}

}  // namespace
}  // namespace meshtrust::agent
