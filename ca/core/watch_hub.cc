#include "ca/core/watch_hub.h"

#include <algorithm>

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

// Waiters wake when the mutex is released with their condition true, so
// nothing needs notifying.
void WatchHub::Subscription::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

void WatchHub::Subscription::Push(WatchEventType event) {
  absl::MutexLock lock(&mu_);
  if (std::find(events_.begin(), events_.end(), event) != events_.end()) return;
  if (events_.size() >= kMaxQueued) events_.pop_front();
  events_.push_back(event);
}

std::shared_ptr<WatchHub::Subscription> WatchHub::Subscribe(const std::string& cluster) {
  auto sub = std::make_shared<Subscription>(cluster);
  absl::MutexLock lock(&mu_);
  subscriptions_.erase(std::remove_if(subscriptions_.begin(), subscriptions_.end(),
                                      [](const auto& w) { return w.expired(); }),
                       subscriptions_.end());
  subscriptions_.push_back(sub);
  if (pending_rotation_.count(cluster) > 0) sub->Push(WatchEventType::kRotateNow);
  return sub;
}

int WatchHub::Publish(const std::string& cluster, WatchEventType event) {
  std::vector<std::shared_ptr<Subscription>> targets;
  {
    absl::MutexLock lock(&mu_);
    if (event == WatchEventType::kRotateNow && !cluster.empty()) pending_rotation_.insert(cluster);
    for (const auto& w : subscriptions_) {
      if (auto sub = w.lock(); sub != nullptr && (cluster.empty() || sub->cluster() == cluster)) {
        targets.push_back(std::move(sub));
      }
    }
  }
  for (const auto& sub : targets) sub->Push(event);
  return static_cast<int>(targets.size());
}

void WatchHub::RotationDone(const std::string& cluster) {
  absl::MutexLock lock(&mu_);
  pending_rotation_.erase(cluster);
}

int WatchHub::Subscribers() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(std::count_if(subscriptions_.begin(), subscriptions_.end(),
                                        [](const auto& w) { return !w.expired(); }));
}

}  // namespace meshtrust::ca
