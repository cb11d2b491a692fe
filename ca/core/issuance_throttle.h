// IssuanceThrottle: a cluster policy's issuance limit (IssuanceLimit in
// ca/core/policy.h) applied to one kind of certificate, per cluster. A
// refusal is kResourceExhausted, audited once per lockout like the join-token
// throttle: the first refusal since the cluster's bucket ran dry is
// recorded, the flood after it is not, so a runaway agent cannot fill the
// audit log either. The counts live in memory: a restarted CA starts every
// cluster with a full bucket. Thread safe.
#ifndef MESHTRUST_CA_CORE_ISSUANCE_THROTTLE_H_
#define MESHTRUST_CA_CORE_ISSUANCE_THROTTLE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "base/clock.h"
#include "ca/core/audited_call.h"
#include "ca/core/rate_limiter.h"
#include "ca/store/store.h"

namespace meshtrust::ca {

class IssuanceThrottle {
 public:
  // `what` names the certificates in messages: "intermediates",
  // "identity renewals".
  explicit IssuanceThrottle(std::string what) : what_(std::move(what)), buckets_(kMaxClusters) {}

  // OK, with one certificate counted against `cluster`'s limit at `now`;
  // or the refusal, already ended on `call` (recorded when it is the first
  // of a lockout).
  absl::Status Admit(const ClusterRecord& cluster, TimePoint now, AuditedCall* call);
  // Clusters refused at `now` (for metrics and alerts).
  size_t Throttled(TimePoint now) { return buckets_.Refused(now); }

 private:
  static constexpr size_t kMaxClusters = 100000;
  const std::string what_;
  RateLimiter buckets_;
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_ISSUANCE_THROTTLE_H_
