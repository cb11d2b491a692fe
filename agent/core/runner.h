// Runner: the long-running agent. Keeps the installed intermediate valid
// (renewing at a fraction of its life, with jitter), reconciles the sink
// periodically (repairing a deleted or altered cacerts), reacts within
// seconds to the CA's Watch events, and backs off exponentially on failure
// while the current, still-valid set stays untouched.
#ifndef MESHTRUST_AGENT_CORE_RUNNER_H_
#define MESHTRUST_AGENT_CORE_RUNNER_H_

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "agent/core/ca_connection.h"
#include "agent/core/installer.h"
#include "base/clock.h"

namespace meshtrust::agent {

struct RunnerStatus {
  std::string serial;
  TimePoint not_after;
  TimePoint next_renewal;
  TimePoint last_success;
  std::string last_error;
  int consecutive_failures = 0;
  int64_t failures_total = 0;
  int changes = 0;
  int64_t trust_refusals = 0;  // CA answers whose roots RootTrust refused.
  // Sets not written because istiod would have refused them, by rule.
  std::map<std::string, int64_t> istiod_refusals;
  // Changes to the CA's CRLs so that istiod accepts ca-crl.pem, by kind.
  std::map<std::string, int64_t> crl_repairs;
  bool watch_connected = false;
  // Observability of the loops themselves (not in the status file): every
  // reconcile attempt, and the waits chosen after failures, so callers can
  // wait for "N more reconciles" rather than for time, and see the backoff.
  int64_t attempts = 0;
  std::chrono::milliseconds retry_backoff{0};  // Before the next attempt, after a failure.
  int64_t watch_failures = 0;                  // Watch streams that ended or never opened.
  // The step of the Watch reconnect backoff (the wait is drawn from its
  // upper half), and the wait last drawn.
  std::chrono::milliseconds watch_backoff{0};
  std::chrono::milliseconds watch_wait{0};
};

struct RunnerOptions {
  std::chrono::milliseconds reconcile_interval = std::chrono::seconds(30);
  // Retries of failed work (the CA refused or could not sign, the sink could
  // not be written): doubling from backoff_initial up to backoff_max.
  std::chrono::milliseconds backoff_initial = std::chrono::seconds(1);
  std::chrono::milliseconds backoff_max = std::chrono::minutes(5);
  // Reconnecting the Watch stream while the CA is unreachable: doubling from
  // watch_reconnect_initial up to watch_reconnect_max, each wait drawn with
  // equal jitter (between half the step and the step), so an agent is back
  // on the stream within seconds of the CA's return, and a fleet does not
  // reconnect in step. Kept short and apart from the retry backoff: a
  // reconnect costs the CA one stream, not an audited signing.
  std::chrono::milliseconds watch_reconnect_initial = std::chrono::milliseconds(500);
  std::chrono::milliseconds watch_reconnect_max = std::chrono::seconds(5);
  // A CRL-only change is picked up this long after it is announced (with
  // jitter), so that a burst of them (a fleet re-keying, each new
  // intermediate bringing its CRL) is written once rather than once each.
  // Rotations, trust-bundle changes and reconnects are acted on at once.
  std::chrono::milliseconds crl_refresh_delay = std::chrono::seconds(2);
  double jitter = 0.1;      // +/- this fraction on every other wait.
  std::string status_file;  // JSON, rewritten after every attempt; empty: none.
  // Called after every change to the installed set (e.g. restart istiod).
  std::function<absl::Status()> after_change;
  // Called just before and just after each reconcile attempt (e.g. to hold
  // each attempt to a deadline).
  std::function<void()> before_attempt;
  std::function<void()> after_attempt;
  // Where the status starts (a previous Runner's, so counters carry on).
  const RunnerStatus* initial_status = nullptr;
};

// Whether the installed intermediate can be relied on: one is installed, and
// the agent has not overrun its renewal point by more than half of the time
// left after it (a healthy agent renews right at that point).
absl::Status CheckInstalledReady(const RunnerStatus& status, TimePoint now);

class Runner {
 public:
  // Pointers must outlive the Runner.
  Runner(Installer* installer, CaConnection* ca, const Clock* clock, std::string cluster,
         RunnerOptions options)
      : installer_(installer),
        ca_(ca),
        clock_(clock),
        cluster_(std::move(cluster)),
        options_(std::move(options)) {
    if (options_.initial_status != nullptr) status_ = *options_.initial_status;
  }
  ~Runner();

  // Runs until Stop() is called (from another thread or a signal handler
  // thread).
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  RunnerStatus status() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void WatchLoop() ABSL_LOCKS_EXCLUDED(mu_);
  void Wake(bool rotate) ABSL_LOCKS_EXCLUDED(mu_);
  // Wakes the loop crl_refresh_delay from now, unless a wake is due sooner.
  void WakeForCrls() ABSL_LOCKS_EXCLUDED(mu_);
  std::chrono::milliseconds Jittered(std::chrono::milliseconds d);
  // Between d/2 and d, uniformly.
  static std::chrono::milliseconds EqualJitter(std::chrono::milliseconds d);
  void WriteStatusFile(const RunnerStatus& status) const;

  Installer* installer_;
  CaConnection* ca_;
  const Clock* clock_;
  std::string cluster_;
  RunnerOptions options_;

  bool StoppedOrWoken() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stop_ || wake_ || crl_scheduled_;
  }

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool rotate_ ABSL_GUARDED_BY(mu_) = false;
  // When a CRL-only change is to be picked up; unset when none is pending.
  std::optional<std::chrono::steady_clock::time_point> crl_due_ ABSL_GUARDED_BY(mu_);
  bool crl_scheduled_ ABSL_GUARDED_BY(mu_) = false;  // crl_due_ set since the wait began.
  RunnerStatus status_ ABSL_GUARDED_BY(mu_);
  std::thread watch_thread_;
};

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_CORE_RUNNER_H_
