// RFC 3339 timestamps: UTC, to the second, whatever the local time zone.
#include "base/time_format.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace meshtrust {
namespace {

TEST(Rfc3339Test, FormatsUtcToTheSecond) {
  EXPECT_EQ(Rfc3339(FromUnixSeconds(0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(Rfc3339(FromUnixSeconds(1796255611)), "2026-12-02T23:53:31Z");
  // A leap day, and sub-seconds are dropped rather than rounded.
  EXPECT_EQ(Rfc3339(FromUnixMillis(951782399999)), "2000-02-28T23:59:59Z");
  EXPECT_EQ(Rfc3339(FromUnixSeconds(951825600)), "2000-02-29T12:00:00Z");
}

TEST(Rfc3339Test, IgnoresTheLocalTimeZone) {
  const char* previous = std::getenv("TZ");
  std::string saved = previous != nullptr ? previous : "";
  ::setenv("TZ", "JST-9", 1);  // POSIX form: needs no tzdata.
  ::tzset();
  std::string formatted = Rfc3339(FromUnixSeconds(1796255611));
  if (previous != nullptr) {
    ::setenv("TZ", saved.c_str(), 1);
  } else {
    ::unsetenv("TZ");
  }
  ::tzset();
  EXPECT_EQ(formatted, "2026-12-02T23:53:31Z");
}

}  // namespace
}  // namespace meshtrust
