// Clock: the one source of "now" for code whose behaviour depends on time,
// so tests can move time instead of sleeping.
#ifndef MESHTRUST_BASE_CLOCK_H_
#define MESHTRUST_BASE_CLOCK_H_

#include <algorithm>
#include <atomic>
#include <chrono>

namespace meshtrust {

using TimePoint = std::chrono::system_clock::time_point;

// Implementations are thread safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
  static const Clock& Get() {
    static const SystemClock clock;
    return clock;
  }
};

// A clock tests set and advance by hand.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start = std::chrono::system_clock::now())
      : now_(start.time_since_epoch().count()) {}
  TimePoint Now() const override { return TimePoint(TimePoint::duration(now_.load())); }
  void Advance(std::chrono::seconds d) {
    now_ += std::chrono::duration_cast<TimePoint::duration>(d).count();
  }

 private:
  std::atomic<TimePoint::rep> now_;
};

inline int64_t UnixSeconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
inline int64_t UnixMillis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
// These saturate at the TimePoint range (about the years 1678 to 2262): a
// time read from a certificate or a file may be anything (RFC 5280 even
// recommends 9999-12-31 for "no expiry"), and a plain conversion to
// nanoseconds would overflow.
template <typename Unit>
TimePoint FromUnix(int64_t count) {
  constexpr int64_t kLimit = std::chrono::duration_cast<Unit>(TimePoint::duration::max()).count();
  return TimePoint(Unit(std::clamp(count, -kLimit, kLimit)));
}
inline TimePoint FromUnixSeconds(int64_t s) { return FromUnix<std::chrono::seconds>(s); }
inline TimePoint FromUnixMillis(int64_t ms) { return FromUnix<std::chrono::milliseconds>(ms); }

}  // namespace meshtrust

#endif  // MESHTRUST_BASE_CLOCK_H_
