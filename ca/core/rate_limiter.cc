#include "ca/core/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace meshtrust::ca {

void RateLimiter::Refill(Bucket* bucket, TimePoint now) {
  if (now <= bucket->updated) return;
  double periods = std::chrono::duration<double>(now - bucket->updated) /
                   std::chrono::duration<double>(bucket->limit.refill_every);
  bucket->tokens = std::min<double>(bucket->limit.burst, bucket->tokens + periods);
  bucket->updated = now;
  if (bucket->tokens >= 1) bucket->refusal_reported = false;
}

RateLimiter::Bucket& RateLimiter::Find(absl::string_view key, const RateLimit& limit,
                                       TimePoint now) {
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_ && !buckets_.empty()) {
      // Drop the bucket that has refilled the longest: it carries the least.
      auto oldest = buckets_.begin();
      for (auto b = buckets_.begin(); b != buckets_.end(); ++b) {
        if (b->second.updated < oldest->second.updated) oldest = b;
      }
      buckets_.erase(oldest);
    }
    it = buckets_.emplace(std::string(key), Bucket{limit, double(limit.burst), now, false}).first;
  } else if (!(it->second.limit == limit)) {
    it->second = Bucket{limit, double(limit.burst), now, false};
  }
  Refill(&it->second, now);
  return it->second;
}

std::optional<RateRefusal> RateLimiter::Judge(Bucket& bucket) {
  if (bucket.tokens >= 1) return std::nullopt;
  RateRefusal refusal;
  refusal.first = !bucket.refusal_reported;
  bucket.refusal_reported = true;
  refusal.retry_after = std::chrono::ceil<std::chrono::seconds>(
      std::chrono::duration<double>(bucket.limit.refill_every) * (1 - bucket.tokens));
  return refusal;
}

std::optional<RateRefusal> RateLimiter::Check(absl::string_view key, const RateLimit& limit,
                                              TimePoint now) {
  absl::MutexLock lock(&mu_);
  auto it = buckets_.find(key);
  // No bucket yet: a full one would let the call through.
  if (it == buckets_.end()) return std::nullopt;
  return Judge(Find(key, limit, now));
}

void RateLimiter::Take(absl::string_view key, const RateLimit& limit, TimePoint now) {
  absl::MutexLock lock(&mu_);
  Bucket& bucket = Find(key, limit, now);
  bucket.tokens = std::max(0.0, bucket.tokens - 1);
}

std::optional<RateRefusal> RateLimiter::TryTake(absl::string_view key, const RateLimit& limit,
                                                TimePoint now) {
  absl::MutexLock lock(&mu_);
  Bucket& bucket = Find(key, limit, now);
  if (std::optional<RateRefusal> refusal = Judge(bucket)) return refusal;
  bucket.tokens -= 1;
  return std::nullopt;
}

size_t RateLimiter::Refused(TimePoint now) {
  absl::MutexLock lock(&mu_);
  size_t refused = 0;
  for (auto& [key, bucket] : buckets_) {
    Refill(&bucket, now);
    refused += bucket.tokens < 1;
  }
  return refused;
}

size_t RateLimiter::Tracked() {
  absl::MutexLock lock(&mu_);
  return buckets_.size();
}

}  // namespace meshtrust::ca
