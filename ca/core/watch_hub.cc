#include "ca/core/watch_hub.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace meshtrust::ca {
namespace {
// A slow agent's queue is bounded; events are idempotent hints, so dropping
// duplicates loses nothing.
constexpr size_t kMaxQueued = 64;
}  // namespace

std::optional<WatchEventType> WatchHub::Subscription::Next(std::chrono::milliseconds timeout) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(this, &Subscription::Ready), absl::FromChrono(timeout));
  if (closed_ || events_.empty()) return std::nullopt;
  WatchEventType e = events_.front();
  events_.pop_front();
  return e;
}

std::optional<WatchEventType> WatchHub::Subscription::TryNext() {
  absl::MutexLock lock(&mu_);
  if (closed_ || events_.empty()) return std::nullopt;
  WatchEventType e = events_.front();
  events_.pop_front();
  return e;
}

void WatchHub::Subscription::SetListener(std::function<void()> listener) {
  bool queued;
  {
    absl::MutexLock lock(&mu_);
    listener_ = listener;
    queued = !events_.empty();
  }
  if (queued && listener) listener();
}

// Waiters wake when the mutex is released with their condition true, so
// nothing needs notifying.
void WatchHub::Subscription::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

void WatchHub::Subscription::Push(WatchEventType event) {
  std::function<void()> listener;
  {
    absl::MutexLock lock(&mu_);
    if (std::find(events_.begin(), events_.end(), event) != events_.end()) return;
    if (events_.size() >= kMaxQueued) events_.pop_front();
    events_.push_back(event);
    listener = listener_;
  }
  if (listener) listener();
}

void WatchHub::DropExpired() {
  subscriptions_.erase(std::remove_if(subscriptions_.begin(), subscriptions_.end(),
                                      [](const auto& w) { return w.expired(); }),
                       subscriptions_.end());
}

absl::StatusOr<std::shared_ptr<WatchHub::Subscription>> WatchHub::Subscribe(
    const std::string& cluster, bool* first_refusal) {
  if (first_refusal != nullptr) *first_refusal = false;
  absl::MutexLock lock(&mu_);
  DropExpired();
  if (max_per_cluster_ > 0) {
    int open = static_cast<int>(
        std::count_if(subscriptions_.begin(), subscriptions_.end(), [&](const auto& w) {
          std::shared_ptr<Subscription> sub = w.lock();
          return sub != nullptr && sub->cluster() == cluster;
        }));
    if (open >= max_per_cluster_) {
      bool first = refusal_reported_.insert(cluster).second;
      if (first_refusal != nullptr) *first_refusal = first;
      return absl::ResourceExhaustedError(absl::StrCat(
          "too many Watch streams: cluster \"", cluster, "\" already has ", open,
          " open, the most one cluster may hold; close the others (is more than one agent "
          "running for this cluster?) or raise `meshtrust-ca serve "
          "--max-watch-streams-per-cluster`"));
    }
  }
  refusal_reported_.erase(cluster);
  auto sub = std::make_shared<Subscription>(cluster);
  subscriptions_.push_back(sub);
  return sub;
}

int WatchHub::Publish(const std::string& cluster, WatchEventType event) {
  std::vector<std::shared_ptr<Subscription>> targets;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& w : subscriptions_) {
      if (auto sub = w.lock(); sub != nullptr && (cluster.empty() || sub->cluster() == cluster)) {
        targets.push_back(std::move(sub));
      }
    }
  }
  for (const auto& sub : targets) sub->Push(event);
  return static_cast<int>(targets.size());
}

int WatchHub::Subscribers() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(std::count_if(subscriptions_.begin(), subscriptions_.end(),
                                        [](const auto& w) { return !w.expired(); }));
}

int WatchHub::SubscribersOf(const std::string& cluster) {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(
      std::count_if(subscriptions_.begin(), subscriptions_.end(), [&](const auto& w) {
        std::shared_ptr<Subscription> sub = w.lock();
        return sub != nullptr && sub->cluster() == cluster;
      }));
}

}  // namespace meshtrust::ca
