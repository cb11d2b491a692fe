// Metrics in the Prometheus text exposition format (version 0.0.4).
//
// Counters and histograms are updated where things happen; gauges are read
// from live state when scraped (a callback), so no copy of state can go
// stale. Label values are escaped; label sets must stay small (a cluster
// name, a result code), never a serial or a caller.
//
// Thread safe.
#ifndef MESHTRUST_BASE_METRICS_H_
#define MESHTRUST_BASE_METRICS_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace meshtrust {

using Labels = std::vector<std::pair<std::string, std::string>>;

struct MetricSample {
  Labels labels;
  double value = 0;
};

class CounterFamily {
 public:
  void Add(const Labels& labels, double by = 1) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  friend class MetricsRegistry;
  mutable absl::Mutex mu_;
  std::map<Labels, double> values_ ABSL_GUARDED_BY(mu_);
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
    counts_.assign(bounds_.size(), 0);
  }
  void Observe(double value) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  friend class MetricsRegistry;
  std::vector<double> bounds_;
  mutable absl::Mutex mu_;
  std::vector<uint64_t> counts_ ABSL_GUARDED_BY(mu_);  // Per bucket, not cumulative.
  uint64_t count_ ABSL_GUARDED_BY(mu_) = 0;
  double sum_ ABSL_GUARDED_BY(mu_) = 0;
};

class MetricsRegistry {
 public:
  // The returned pointers live as long as the registry. Names follow
  // Prometheus conventions (`_total` for counters, base units).
  CounterFamily* AddCounter(const std::string& name, const std::string& help);
  Histogram* AddHistogram(const std::string& name, const std::string& help,
                          std::vector<double> upper_bounds);
  // `read` is called on every scrape, without any registry lock held.
  void AddGauge(const std::string& name, const std::string& help,
                std::function<std::vector<MetricSample>()> read);
  // A counter kept elsewhere (monotonic), read on every scrape.
  void AddCounterReader(const std::string& name, const std::string& help,
                        std::function<std::vector<MetricSample>()> read);

  // The whole registry in the text format.
  std::string Render() const;

 private:
  struct Entry {
    std::string name, help, type;
    std::unique_ptr<CounterFamily> counter;
    std::unique_ptr<Histogram> histogram;
    std::function<std::vector<MetricSample>()> gauge;
  };
  void AddReader(const std::string& name, const std::string& help, const std::string& type,
                 std::function<std::vector<MetricSample>()> read);
  mutable absl::Mutex mu_;
  // The list, not the values: each counter and histogram has its own lock.
  std::vector<std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
};

// Latency buckets in seconds, from 100 µs to 10 s.
std::vector<double> LatencyBuckets();

}  // namespace meshtrust

#endif  // MESHTRUST_BASE_METRICS_H_
