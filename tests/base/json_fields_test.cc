#include "base/json_fields.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace meshtrust {
namespace {

using ::meshtrust::testing::StatusIs;
using ::testing::HasSubstr;

TEST(JsonFieldsTest, ReadsPresentMembersAndFallsBackForAbsentOnes) {
  nlohmann::json j = nlohmann::json::parse(R"({"s":"text","i":-5,"big":9223372036854775807})");
  EXPECT_EQ(*JsonString(j, "s"), "text");
  EXPECT_EQ(*JsonString(j, "absent", "fallback"), "fallback");
  EXPECT_EQ(*JsonInt64(j, "i"), -5);
  EXPECT_EQ(*JsonInt64(j, "big"), INT64_MAX);
  EXPECT_EQ(*JsonInt64(j, "absent", 42), 42);
}

TEST(JsonFieldsTest, WrongTypesAreNamedNotThrown) {
  nlohmann::json j = nlohmann::json::parse(
      R"({"n":1,"s":"x","a":[],"o":{},"null":null,"f":1.5,"huge":18446744073709551615})");
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_THAT(JsonString(j, "n"), StatusIs(kInvalid, HasSubstr("field \"n\" is number")));
  EXPECT_THAT(JsonString(j, "a"), StatusIs(kInvalid, HasSubstr("field \"a\" is array")));
  EXPECT_THAT(JsonString(j, "null"), StatusIs(kInvalid, HasSubstr("is null, not a string")));
  EXPECT_THAT(JsonInt64(j, "s"), StatusIs(kInvalid, HasSubstr("field \"s\" is string")));
  EXPECT_THAT(JsonInt64(j, "f"), StatusIs(kInvalid, HasSubstr("not an integer")));
  EXPECT_THAT(JsonInt64(j, "huge"), StatusIs(kInvalid, HasSubstr("fits in 64 bits")));
  EXPECT_THAT(JsonInt64(j, "o"), StatusIs(kInvalid, HasSubstr("is object")));
  EXPECT_THAT(JsonString(nlohmann::json::array(), "s"),
              StatusIs(kInvalid, HasSubstr("the document is array, not an object")));
  EXPECT_THAT(JsonString(nlohmann::json::parse("{", nullptr, false), "s"),
              StatusIs(kInvalid, HasSubstr("the document is not JSON")));
}

}  // namespace
}  // namespace meshtrust
