#include "ca/core/enroll_limiter.h"

#include "absl/strings/str_cat.h"

namespace meshtrust::ca {

absl::Status EnrollLimiter::Check(absl::string_view source, TimePoint now, bool* first) {
  *first = false;
  std::optional<RateRefusal> refusal = buckets_.Check(source, limit_, now);
  if (!refusal.has_value()) return absl::OkStatus();
  *first = refusal->first;
  return absl::ResourceExhaustedError(absl::StrCat(
      "too many invalid join tokens from ", source, "; try again in ", refusal->retry_after.count(),
      "s with a valid token (`meshtrustctl token create` makes one)"));
}

}  // namespace meshtrust::ca
