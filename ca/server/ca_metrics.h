// The CA's metrics: signing results and latency (recorded by the gRPC layer
// around each SignIntermediate), and gauges read from the Authority and its
// Store on every scrape. docs/metrics.md describes each one.
#ifndef MESHTRUST_CA_SERVER_CA_METRICS_H_
#define MESHTRUST_CA_SERVER_CA_METRICS_H_

#include <chrono>

#include "absl/status/status.h"
#include "base/clock.h"
#include "base/metrics.h"
#include "ca/core/authority.h"
#include "ca/store/store.h"

namespace meshtrust::ca {

class CaMetrics {
 public:
  // Registers everything in `registry`; all pointers must outlive this.
  CaMetrics(MetricsRegistry* registry, Authority* authority, Store* store, const Clock* clock);

  // One SignIntermediate call: "issued", or refused with the status code as
  // the reason.
  void RecordSigning(const absl::Status& result, std::chrono::nanoseconds took);

 private:
  CounterFamily* signings_;
  Histogram* signing_seconds_;
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_SERVER_CA_METRICS_H_
