// EnrollLimiter: throttles join-token guessing per source address.
//
// A 256-bit join token cannot be guessed, but every guess still costs the CA
// a database read and an audit record. Each source (an IPv4 address, or an
// IPv6 /64) has a bucket of `burst` failed guesses that refills by one every
// `refill_every`; a source with an empty bucket is refused before its token
// is even looked up, while every other source goes on enrolling. Only
// guesses count: a malformed or unknown token. A real token that is expired
// or already used is not a guess, and neither is a bad CSR.
//
// Concurrent guesses from one source may overshoot the burst by the number
// in flight at once; the limiter bounds the rate, not an exact count.
// Memory is bounded: at most `max_sources` buckets, the least recently
// failed dropped first. The buckets are a RateLimiter (ca/core/rate_limiter.h).
// Thread safe.
#ifndef MESHTRUST_CA_CORE_ENROLL_LIMITER_H_
#define MESHTRUST_CA_CORE_ENROLL_LIMITER_H_

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "base/clock.h"
#include "ca/core/rate_limiter.h"

namespace meshtrust::ca {

struct EnrollLimits {
  int burst = 10;
  std::chrono::seconds refill_every = std::chrono::seconds(10);
  size_t max_sources = 10000;
};

class EnrollLimiter {
 public:
  explicit EnrollLimiter(EnrollLimits limits)
      : limit_{limits.burst, limits.refill_every}, buckets_(limits.max_sources) {}

  // OK while `source` may still guess; otherwise kResourceExhausted saying
  // when it may try again. Sets *first when this is the first refusal since
  // the bucket ran dry (so callers audit a flood once, not per attempt).
  absl::Status Check(absl::string_view source, TimePoint now, bool* first);
  // Takes one guess from `source`'s bucket.
  void RecordGuess(absl::string_view source, TimePoint now) { buckets_.Take(source, limit_, now); }
  // How many sources have a partly used bucket (for tests).
  size_t TrackedSources() { return buckets_.Tracked(); }
  // How many sources are refused at `now` (for metrics and alerts).
  size_t ThrottledSources(TimePoint now) { return buckets_.Refused(now); }

 private:
  const RateLimit limit_;
  RateLimiter buckets_;
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_ENROLL_LIMITER_H_
