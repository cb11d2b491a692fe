// WatchHub: how the Authority tells connected agents that something changed.
// Transport-neutral: the gRPC Watch stream drains a Subscription.
//
// Every open stream costs the server memory and a share of its writes, so
// the number of streams one cluster may hold open at once is capped
// (`max_per_cluster`). The cap
// is per cluster, not per client certificate: a cluster has one agent
// identity, and renewing it yields a new certificate serial, so a cap per
// serial would let one cluster lift its own cap by renewing. A cluster needs
// one stream, two while a restarted agent's old stream is still being torn
// down; the default of 4 leaves room for that and a half-open connection.
#ifndef MESHTRUST_CA_CORE_WATCH_HUB_H_
#define MESHTRUST_CA_CORE_WATCH_HUB_H_

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace meshtrust::ca {

enum class WatchEventType { kBundleChanged, kCrlChanged, kRotateNow };

// Open Watch streams allowed per cluster by default.
inline constexpr int kDefaultMaxWatchStreamsPerCluster = 4;

class WatchHub {
 public:
  // One agent's queue of events. Thread safe.
  class Subscription {
   public:
    explicit Subscription(std::string cluster) : cluster_(std::move(cluster)) {}
    // The next event, or nullopt after `timeout` or once closed.
    std::optional<WatchEventType> Next(std::chrono::milliseconds timeout) ABSL_LOCKS_EXCLUDED(mu_);
    // The next event if one is queued, without waiting.
    std::optional<WatchEventType> TryNext() ABSL_LOCKS_EXCLUDED(mu_);
    void Close() ABSL_LOCKS_EXCLUDED(mu_);
    // Queues `event` (once: an event already queued is not queued again).
    void Push(WatchEventType event) ABSL_LOCKS_EXCLUDED(mu_);
    // Calls `listener` (with no lock held, on the pushing thread) after
    // each Push, and at once when events are already queued: for a stream
    // that is written when there is something to write, instead of a
    // thread waiting in Next. It must be quick and must not call back in.
    void SetListener(std::function<void()> listener) ABSL_LOCKS_EXCLUDED(mu_);
    const std::string& cluster() const { return cluster_; }

   private:
    // What Next waits for.
    bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closed_ || !events_.empty(); }
    const std::string cluster_;
    absl::Mutex mu_;
    std::deque<WatchEventType> events_ ABSL_GUARDED_BY(mu_);
    bool closed_ ABSL_GUARDED_BY(mu_) = false;
    std::function<void()> listener_ ABSL_GUARDED_BY(mu_);
  };

  // `max_per_cluster` open subscriptions per cluster; 0 for no cap.
  explicit WatchHub(int max_per_cluster = kDefaultMaxWatchStreamsPerCluster)
      : max_per_cluster_(max_per_cluster) {}

  // A subscription for `cluster`'s agent, open until the last reference to
  // it is dropped. kResourceExhausted when `cluster` already holds
  // `max_per_cluster` of them; `*first_refusal` (when given) is set for the
  // first refusal since the cluster last subscribed, so a flood is audited
  // once rather than once per attempt.
  absl::StatusOr<std::shared_ptr<Subscription>> Subscribe(const std::string& cluster,
                                                          bool* first_refusal = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Delivers `event` to every subscriber of `cluster`, or of every cluster
  // when `cluster` is empty. Returns how many subscriptions received it.
  // Nothing is kept for agents not subscribed now: what must reach an agent
  // between two streams (a requested rotation) is kept in the store, and
  // pushed on its next subscription by whoever opens it (AgentWatch).
  int Publish(const std::string& cluster, WatchEventType event) ABSL_LOCKS_EXCLUDED(mu_);
  int Subscribers() ABSL_LOCKS_EXCLUDED(mu_);
  // Open subscriptions of `cluster`.
  int SubscribersOf(const std::string& cluster) ABSL_LOCKS_EXCLUDED(mu_);
  int max_per_cluster() const { return max_per_cluster_; }

 private:
  void DropExpired() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int max_per_cluster_;
  absl::Mutex mu_;
  std::vector<std::weak_ptr<Subscription>> subscriptions_ ABSL_GUARDED_BY(mu_);
  // Clusters whose refusal was reported since they last subscribed.
  std::set<std::string> refusal_reported_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_WATCH_HUB_H_
