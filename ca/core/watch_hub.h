// WatchHub: how the Authority tells connected agents that something changed.
// Transport-neutral: the gRPC Watch stream drains a Subscription.
#ifndef MESHTRUST_CA_CORE_WATCH_HUB_H_
#define MESHTRUST_CA_CORE_WATCH_HUB_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace meshtrust::ca {

enum class WatchEventType { kBundleChanged, kCrlChanged, kRotateNow };

class WatchHub {
 public:
  // One agent's queue of events. Thread safe.
  class Subscription {
   public:
    explicit Subscription(std::string cluster) : cluster_(std::move(cluster)) {}
    // The next event, or nullopt after `timeout` or once closed.
    std::optional<WatchEventType> Next(std::chrono::milliseconds timeout);
    void Close();
    const std::string& cluster() const { return cluster_; }

   private:
    friend class WatchHub;
    void Push(WatchEventType event);
    const std::string cluster_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<WatchEventType> events_;
    bool closed_ = false;
  };

  std::shared_ptr<Subscription> Subscribe(const std::string& cluster);
  // Delivers `event` to every subscriber of `cluster`, or of every cluster
  // when `cluster` is empty. Returns how many subscriptions received it.
  int Publish(const std::string& cluster, WatchEventType event);
  int Subscribers();

 private:
  std::mutex mu_;
  std::vector<std::weak_ptr<Subscription>> subscriptions_;
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_WATCH_HUB_H_
