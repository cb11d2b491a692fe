// WatchHub: how the Authority tells connected agents that something changed.
// Transport-neutral: the gRPC Watch stream drains a Subscription.
#ifndef MESHTRUST_CA_CORE_WATCH_HUB_H_
#define MESHTRUST_CA_CORE_WATCH_HUB_H_

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace meshtrust::ca {

enum class WatchEventType { kBundleChanged, kCrlChanged, kRotateNow };

class WatchHub {
 public:
  // One agent's queue of events. Thread safe.
  class Subscription {
   public:
    explicit Subscription(std::string cluster) : cluster_(std::move(cluster)) {}
    // The next event, or nullopt after `timeout` or once closed.
    std::optional<WatchEventType> Next(std::chrono::milliseconds timeout) ABSL_LOCKS_EXCLUDED(mu_);
    void Close() ABSL_LOCKS_EXCLUDED(mu_);
    const std::string& cluster() const { return cluster_; }

   private:
    friend class WatchHub;
    void Push(WatchEventType event) ABSL_LOCKS_EXCLUDED(mu_);
    // What Next waits for.
    bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closed_ || !events_.empty(); }
    const std::string cluster_;
    absl::Mutex mu_;
    std::deque<WatchEventType> events_ ABSL_GUARDED_BY(mu_);
    bool closed_ ABSL_GUARDED_BY(mu_) = false;
  };

  // A subscription for `cluster`'s agent. When a re-key was asked of the
  // cluster and is not yet done, its first event is kRotateNow.
  std::shared_ptr<Subscription> Subscribe(const std::string& cluster) ABSL_LOCKS_EXCLUDED(mu_);
  // Delivers `event` to every subscriber of `cluster`, or of every cluster
  // when `cluster` is empty. Returns how many subscriptions received it.
  // kRotateNow for one cluster also stays pending until RotationDone, so an
  // agent between two streams (renewing its identity, reconnecting) is told
  // when it next subscribes.
  int Publish(const std::string& cluster, WatchEventType event) ABSL_LOCKS_EXCLUDED(mu_);
  // `cluster` was issued a new intermediate: a pending re-key is done.
  void RotationDone(const std::string& cluster) ABSL_LOCKS_EXCLUDED(mu_);
  int Subscribers() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Mutex mu_;
  std::vector<std::weak_ptr<Subscription>> subscriptions_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> pending_rotation_ ABSL_GUARDED_BY(mu_);  // Clusters.
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_WATCH_HUB_H_
