// GoogleTest matchers for absl::Status and absl::StatusOr.
//
//   EXPECT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pathlen")));
//   ASSERT_THAT(result, IsOk());
#ifndef MESHTRUST_TESTS_TESTING_STATUS_MATCHERS_H_
#define MESHTRUST_TESTS_TESTING_STATUS_MATCHERS_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace absl {
ABSL_NAMESPACE_BEGIN
inline void PrintTo(const Status& s, std::ostream* os) { *os << s.ToString(); }
template <typename T>
void PrintTo(const StatusOr<T>& s, std::ostream* os) {
  *os << (s.ok() ? std::string("OK (value)") : s.status().ToString());
}
ABSL_NAMESPACE_END
}  // namespace absl

namespace meshtrust::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER_P2(StatusIs, code, message_matcher, "") {
  const absl::Status& s = GetStatus(arg);
  if (s.code() != code) {
    *result_listener << "code is " << absl::StatusCodeToString(s.code()) << ": " << s.message();
    return false;
  }
  return ::testing::ExplainMatchResult(message_matcher, std::string(s.message()), result_listener);
}

MATCHER(IsOk, "") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << s.ToString();
  return s.ok();
}

#define ASSERT_OK_AND_ASSIGN(lhs, expr)                     \
  auto MESHTRUST_CONCAT(_status_or_, __LINE__) = (expr);    \
  ASSERT_TRUE(MESHTRUST_CONCAT(_status_or_, __LINE__).ok()) \
      << MESHTRUST_CONCAT(_status_or_, __LINE__).status();  \
  lhs = *std::move(MESHTRUST_CONCAT(_status_or_, __LINE__))
#define MESHTRUST_CONCAT_INNER(a, b) a##b
#define MESHTRUST_CONCAT(a, b) MESHTRUST_CONCAT_INNER(a, b)

}  // namespace meshtrust::testing

#endif  // MESHTRUST_TESTS_TESTING_STATUS_MATCHERS_H_
