#include "ca/core/enroll_limiter.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace meshtrust::ca {

void EnrollLimiter::Refill(Bucket* bucket, TimePoint now) const {
  if (now <= bucket->updated) return;
  double periods = std::chrono::duration<double>(now - bucket->updated) /
                   std::chrono::duration<double>(limits_.refill_every);
  bucket->guesses_left = std::min<double>(limits_.burst, bucket->guesses_left + periods);
  bucket->updated = now;
  if (bucket->guesses_left >= 1) bucket->refusal_reported = false;
}

absl::Status EnrollLimiter::Check(absl::string_view source, TimePoint now, bool* first) {
  *first = false;
  absl::MutexLock lock(&mu_);
  auto it = buckets_.find(source);
  if (it == buckets_.end()) return absl::OkStatus();
  Bucket& bucket = it->second;
  Refill(&bucket, now);
  if (bucket.guesses_left >= 1) return absl::OkStatus();
  *first = !bucket.refusal_reported;
  bucket.refusal_reported = true;
  auto wait = std::chrono::ceil<std::chrono::seconds>(
      std::chrono::duration<double>(limits_.refill_every) * (1 - bucket.guesses_left));
  return absl::ResourceExhaustedError(
      absl::StrCat("too many invalid join tokens from ", source, "; try again in ", wait.count(),
                   "s with a valid token (`meshtrustctl token create` makes one)"));
}

void EnrollLimiter::RecordGuess(absl::string_view source, TimePoint now) {
  absl::MutexLock lock(&mu_);
  auto it = buckets_.find(source);
  if (it == buckets_.end()) {
    if (buckets_.size() >= limits_.max_sources) {
      // Drop the bucket that has refilled the most: it carries the least.
      auto fullest = buckets_.begin();
      for (auto b = buckets_.begin(); b != buckets_.end(); ++b) {
        if (b->second.updated < fullest->second.updated) fullest = b;
      }
      buckets_.erase(fullest);
    }
    it = buckets_.emplace(std::string(source), Bucket{double(limits_.burst), now, false}).first;
  }
  Refill(&it->second, now);
  it->second.guesses_left = std::max(0.0, it->second.guesses_left - 1);
}

size_t EnrollLimiter::ThrottledSources(TimePoint now) {
  absl::MutexLock lock(&mu_);
  size_t throttled = 0;
  for (auto& [source, bucket] : buckets_) {
    Refill(&bucket, now);
    throttled += bucket.guesses_left < 1;
  }
  return throttled;
}

size_t EnrollLimiter::TrackedSources() {
  absl::MutexLock lock(&mu_);
  return buckets_.size();
}

}  // namespace meshtrust::ca
