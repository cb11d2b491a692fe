// Hex as the audit log, key fingerprints and join tokens print it.
#include "base/hex.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "tests/testing/status_matchers.h"

namespace meshtrust {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::testing::HasSubstr;

TEST(HexTest, EncodesLowercaseTwoDigitsPerByte) {
  EXPECT_EQ(HexEncode(""), "");
  EXPECT_EQ(HexEncode(std::string("\x00\x01\xab\xff", 4)), "0001abff");
}

TEST(HexTest, DecodesWhatItEncodes) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  absl::StatusOr<std::string> decoded = HexDecode(HexEncode(all));
  ASSERT_THAT(decoded, IsOk());
  EXPECT_EQ(*decoded, all);
  EXPECT_EQ(*HexDecode("01AB"), "\x01\xab");
  EXPECT_EQ(*HexDecode(""), "");
}

TEST(HexTest, RefusesAnythingButHexDigitPairs) {
  for (const char* bad : {"zz", "01a", "01 ab", "0x01", "01ab\n"}) {
    EXPECT_THAT(HexDecode(bad),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a hex string")))
        << bad;
  }
}

}  // namespace
}  // namespace meshtrust
