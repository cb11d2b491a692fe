#include "agent/core/runner.h"

#include <algorithm>
#include <random>

#include "base/files.h"
#include "base/logging.h"
#include "base/time_format.h"
#include "nlohmann/json.hpp"

namespace meshtrust::agent {

absl::Status CheckInstalledReady(const RunnerStatus& status, TimePoint now) {
  if (status.serial.empty()) {
    return absl::UnavailableError(status.last_error.empty()
                                      ? "no intermediate installed yet"
                                      : "no intermediate installed yet: " + status.last_error);
  }
  if (now >= status.not_after) return absl::UnavailableError("the installed intermediate expired");
  if (now >= status.next_renewal + (status.not_after - status.next_renewal) / 2) {
    return absl::UnavailableError(
        "the installed intermediate is near expiry and renewal keeps failing: " +
        status.last_error);
  }
  return absl::OkStatus();
}

Runner::~Runner() { Stop(); }

void Runner::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  ca_->CancelWatch();
}

void Runner::Wake(bool rotate) {
  absl::MutexLock lock(&mu_);
  wake_ = true;
  rotate_ = rotate_ || rotate;
}

void Runner::WakeForCrls() {
  std::chrono::milliseconds delay = Jittered(options_.crl_refresh_delay);
  absl::MutexLock lock(&mu_);
  if (crl_due_.has_value()) return;
  crl_due_ = std::chrono::steady_clock::now() + delay;
  crl_scheduled_ = true;
}

RunnerStatus Runner::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

std::chrono::milliseconds Runner::Jittered(std::chrono::milliseconds d) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> factor(1.0 - options_.jitter, 1.0 + options_.jitter);
  return std::chrono::milliseconds(
      static_cast<int64_t>(static_cast<double>(d.count()) * factor(rng)));
}

std::chrono::milliseconds Runner::EqualJitter(std::chrono::milliseconds d) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  std::uniform_int_distribution<int64_t> half(0, d.count() / 2);
  return std::chrono::milliseconds(d.count() - d.count() / 2 + half(rng));
}

void Runner::WatchLoop() {
  std::chrono::milliseconds initial =
      std::min(options_.watch_reconnect_initial, options_.watch_reconnect_max);
  std::chrono::milliseconds backoff = initial;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
    }
    bool connected_once = false;
    absl::Status ended = ca_->Watch(cluster_, [&](CaEvent event) {
      if (!connected_once) {
        connected_once = true;
        backoff = initial;
        {
          absl::MutexLock lock(&mu_);
          status_.watch_connected = true;
        }
        // Anything may have changed while we were not listening.
        Wake(false);
      }
      switch (event) {
        case CaEvent::kRotateNow:
          spdlog::info("the CA asked for a new intermediate now");
          Wake(true);
          break;
        case CaEvent::kBundleChanged:
          Wake(false);
          break;
        case CaEvent::kCrlChanged:
          WakeForCrls();
          break;
        case CaEvent::kHeartbeat:
          break;
      }
    });
    absl::MutexLock lock(&mu_);
    status_.watch_connected = false;
    if (stop_) return;
    ++status_.watch_failures;
    std::chrono::milliseconds wait = EqualJitter(backoff);
    status_.watch_backoff = backoff;
    status_.watch_wait = wait;
    spdlog::warn("watch stream to the CA ended ({}); reconnecting in {} ms", ended.message(),
                 wait.count());
    mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::FromChrono(wait));
    backoff = std::min(backoff * 2, options_.watch_reconnect_max);
  }
}

void Runner::WriteStatusFile(const RunnerStatus& s) const {
  if (options_.status_file.empty()) return;
  auto time = [](TimePoint t) { return t == TimePoint{} ? std::string() : Rfc3339(t); };
  nlohmann::json j = {{"cluster", cluster_},
                      {"serial", s.serial},
                      {"not_after", time(s.not_after)},
                      {"next_renewal", time(s.next_renewal)},
                      {"last_success", time(s.last_success)},
                      {"last_error", s.last_error},
                      {"consecutive_failures", s.consecutive_failures},
                      {"changes", s.changes},
                      {"watch_connected", s.watch_connected}};
  if (absl::Status w = WriteFileAtomically(options_.status_file, j.dump(2) + "\n", 0644); !w.ok()) {
    spdlog::warn("cannot write the status file: {}", w);
  }
}

void Runner::Run() {
  watch_thread_ = std::thread([this] { WatchLoop(); });
  int failures = 0;
  auto next_check = std::chrono::steady_clock::now();
  while (true) {
    bool force = false;
    {
      absl::MutexLock lock(&mu_);
      while (true) {
        auto deadline = crl_due_.has_value() ? std::min(next_check, *crl_due_) : next_check;
        mu_.AwaitWithTimeout(absl::Condition(this, &Runner::StoppedOrWoken),
                             absl::FromChrono(deadline - std::chrono::steady_clock::now()));
        if (stop_ || wake_ || std::chrono::steady_clock::now() >= deadline) break;
        // A CRL change announced while waiting: wait for its deadline.
        crl_scheduled_ = false;
      }
      if (stop_) break;
      force = rotate_;
      rotate_ = false;
      wake_ = false;
      // This attempt reads the CRLs as they are now: whatever was pending
      // is picked up by it.
      crl_due_.reset();
      crl_scheduled_ = false;
    }
    int64_t refusals_before = installer_->trust_refusals();
    IstiodRefusals istiod_before = installer_->istiod_refusals();
    CrlRepairs repairs_before = installer_->crl_repairs();
    if (options_.before_attempt) options_.before_attempt();
    absl::StatusOr<InstallResult> result = installer_->EnsureInstalled(force);
    if (options_.after_attempt) options_.after_attempt();
    int64_t refused = installer_->trust_refusals() - refusals_before;
    RunnerStatus snapshot;
    std::chrono::milliseconds backoff{0};
    {
      absl::MutexLock lock(&mu_);
      ++status_.attempts;
      status_.trust_refusals += refused;
      // The installer counts from its start; the status from the first Runner's.
      for (const auto& [rule, n] : installer_->istiod_refusals())
        status_.istiod_refusals[rule] += n - istiod_before[rule];
      for (const auto& [what, n] : installer_->crl_repairs())
        status_.crl_repairs[what] += n - repairs_before[what];
      if (result.ok()) {
        failures = 0;
        status_.serial = result->serial;
        status_.not_after = result->not_after;
        status_.next_renewal = result->renew_at;
        status_.last_success = clock_->Now();
        status_.last_error.clear();
        if (result->changed) ++status_.changes;
      } else {
        ++failures;
        ++status_.failures_total;
        // A requested rotation is not forgotten because the CA was away.
        rotate_ = rotate_ || force;
        status_.last_error = std::string(result.status().message());
        backoff = options_.backoff_initial * (1 << std::min(failures - 1, 16));
        backoff = std::min<std::chrono::milliseconds>(backoff, options_.backoff_max);
        status_.retry_backoff = backoff;
      }
      status_.consecutive_failures = failures;
      snapshot = status_;
    }
    WriteStatusFile(snapshot);
    auto now = std::chrono::steady_clock::now();
    if (result.ok()) {
      if (result->changed && options_.after_change) {
        if (absl::Status s = options_.after_change(); !s.ok()) {
          spdlog::error("after installing: {}", s);
        }
      }
      // Wake at the renewal point or the next reconcile, whichever is first.
      auto until_renewal =
          std::chrono::duration_cast<std::chrono::milliseconds>(result->renew_at - clock_->Now());
      next_check = now + std::max(std::chrono::milliseconds(0),
                                  std::min(Jittered(options_.reconcile_interval), until_renewal));
    } else {
      spdlog::error("attempt {} failed, keeping what is installed; retrying in ~{} ms: {}",
                    failures, backoff.count(), result.status());
      next_check = now + Jittered(backoff);
    }
  }
  ca_->CancelWatch();
  if (watch_thread_.joinable()) watch_thread_.join();
}

}  // namespace meshtrust::agent
