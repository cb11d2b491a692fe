#include "ca/core/issuance_throttle.h"

#include "absl/strings/str_cat.h"

namespace meshtrust::ca {

absl::Status IssuanceThrottle::Admit(const ClusterRecord& cluster, TimePoint now,
                                     AuditedCall* call) {
  const IssuanceLimit& limit = cluster.policy.issuance;
  if (limit.unlimited) return absl::OkStatus();
  std::optional<RateRefusal> refusal =
      buckets_.TryTake(cluster.name, RateLimit{limit.burst, limit.refill_every}, now);
  if (!refusal.has_value()) return absl::OkStatus();
  absl::Status status = absl::ResourceExhaustedError(absl::StrCat(
      "cluster \"", cluster.name, "\" has used up its ", what_,
      " (issuance limit: ", limit.Describe(), "); try again in ", refusal->retry_after.count(),
      "s, or an operator can change the limit with `meshtrustctl cluster limit ", cluster.name,
      "`"));
  // A flood is audited once per lockout, not once per attempt.
  return refusal->first ? call->Refuse(status) : call->Fail(status);
}

}  // namespace meshtrust::ca
