// Clock: the one source of "now" for code whose behaviour depends on time,
// so tests can move time instead of sleeping.
#ifndef MESHTRUST_BASE_CLOCK_H_
#define MESHTRUST_BASE_CLOCK_H_

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
inline TimePoint FromUnixSeconds(int64_t s) { return TimePoint(std::chrono::seconds(s)); }

}  // namespace meshtrust

#endif  // MESHTRUST_BASE_CLOCK_H_
