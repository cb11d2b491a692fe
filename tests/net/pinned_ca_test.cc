// The pin and address parsing in front of the pinned bootstrap connection.
#include "net/pinned_ca.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "tests/testing/status_matchers.h"

namespace meshtrust::net {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::testing::_;
using ::testing::HasSubstr;

TEST(PinnedCaTest, AcceptsOnlySha256AndSixtyFourLowercaseHexDigits) {
  const std::string hex(64, 'a');
  EXPECT_THAT(ValidatePin("sha256:" + hex), IsOk());
  EXPECT_THAT(ValidatePin("sha256:" + std::string(64, 'A')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("64 lowercase hex")));
  EXPECT_THAT(ValidatePin("sha256:" + hex.substr(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, _));
  EXPECT_THAT(ValidatePin("sha512:" + hex), StatusIs(absl::StatusCode::kInvalidArgument, _));
  EXPECT_THAT(ValidatePin(""), StatusIs(absl::StatusCode::kInvalidArgument, _));
}

TEST(PinnedCaTest, SplitsHostPortAndBracketedIpv6) {
  std::string host, port;
  ASSERT_THAT(SplitHostPort("ca.example:8443", &host, &port), IsOk());
  EXPECT_EQ(host, "ca.example");
  EXPECT_EQ(port, "8443");
  ASSERT_THAT(SplitHostPort("[::1]:443", &host, &port), IsOk());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, "443");
  for (const char* bad : {"ca.example", ":443", "ca.example:"}) {
    EXPECT_THAT(SplitHostPort(bad, &host, &port),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not host:port")))
        << bad;
  }
}

TEST(PinnedCaTest, FetchRefusesABadPinBeforeConnecting) {
  EXPECT_THAT(FetchPinnedCa("127.0.0.1:1", "sha256:nope", std::chrono::milliseconds(100)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CA pin")));
}

}  // namespace
}  // namespace meshtrust::net
