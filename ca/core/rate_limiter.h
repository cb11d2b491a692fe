// RateLimiter: token buckets by key, the one throttle the CA's parts share
// (join-token guesses per source address, intermediates and identity
// renewals per cluster).
//
// A key's bucket holds at most `burst` tokens and gains one every
// `refill_every`; a key with no whole token is refused, every other key is
// not affected. A bucket is created full on first use. A bucket used with
// other limits than the ones it was filled under starts again full under the
// new ones, so an operator changing a cluster's limit gives it a fresh
// allowance.
//
// Refusals carry `first`, set for the first refusal since the bucket last
// had a token, so callers audit a flood once rather than once per attempt.
// Memory is bounded: at most `max_keys` buckets, the one refilled longest
// ago (so holding the most) dropped first. Thread safe.
#ifndef MESHTRUST_CA_CORE_RATE_LIMITER_H_
#define MESHTRUST_CA_CORE_RATE_LIMITER_H_

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "base/clock.h"

namespace meshtrust::ca {

struct RateLimit {
  int burst = 10;
  std::chrono::seconds refill_every = std::chrono::seconds(10);
  bool operator==(const RateLimit& o) const {
    return burst == o.burst && refill_every == o.refill_every;
  }
};

struct RateRefusal {
  std::chrono::seconds retry_after;  // Until the bucket holds a whole token.
  bool first = false;                // The first refusal since it last had one.
};

class RateLimiter {
 public:
  explicit RateLimiter(size_t max_keys) : max_keys_(max_keys) {}

  // nullopt while `key` has a whole token at `now`; takes nothing.
  std::optional<RateRefusal> Check(absl::string_view key, const RateLimit& limit, TimePoint now)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Takes one token (or what is left of one) from `key`'s bucket.
  void Take(absl::string_view key, const RateLimit& limit, TimePoint now) ABSL_LOCKS_EXCLUDED(mu_);
  // Check and Take in one step: of concurrent callers, only as many as
  // there are tokens get through.
  std::optional<RateRefusal> TryTake(absl::string_view key, const RateLimit& limit, TimePoint now)
      ABSL_LOCKS_EXCLUDED(mu_);
  // How many keys have a bucket (for tests).
  size_t Tracked() ABSL_LOCKS_EXCLUDED(mu_);
  // How many keys are refused at `now` (for metrics and alerts).
  size_t Refused(TimePoint now) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Bucket {
    RateLimit limit;
    double tokens = 0;
    TimePoint updated;
    bool refusal_reported = false;
  };
  // `key`'s bucket, refilled to `now`, created (full) when missing.
  Bucket& Find(absl::string_view key, const RateLimit& limit, TimePoint now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<RateRefusal> Judge(Bucket& bucket) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void Refill(Bucket* bucket, TimePoint now);

  const size_t max_keys_;
  absl::Mutex mu_;
  std::map<std::string, Bucket, std::less<>> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_RATE_LIMITER_H_
