// The one DER parser every pki/ parser goes through.
#include "pki/der.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "tests/testing/status_matchers.h"

namespace meshtrust::pki {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr DerErrors kNameErrors = {.not_valid = "name is not valid DER",
                                   .trailing = "name DER has $0 trailing bytes"};

std::string NameDer(const char* common_name) {
  ossl::UniquePtr<X509_NAME> name(X509_NAME_new());
  EXPECT_EQ(
      X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0),
      1);
  return EncodeDer(name.get(), i2d_X509_NAME);
}

TEST(DerTest, RoundTripsAnObject) {
  std::string der = NameDer("meshtrust");
  ASSERT_THAT(der, Not(::testing::IsEmpty()));
  absl::StatusOr<ossl::UniquePtr<X509_NAME>> name =
      ParseWholeDer<X509_NAME>(der, d2i_X509_NAME, kNameErrors);
  ASSERT_THAT(name, IsOk());
  EXPECT_EQ(EncodeDer(name->get(), i2d_X509_NAME), der);
}

TEST(DerTest, RejectsTrailingBytesAndSaysHowMany) {
  std::string der = NameDer("meshtrust") + "xyz";
  EXPECT_THAT(ParseWholeDer<X509_NAME>(der, d2i_X509_NAME, kNameErrors),
              StatusIs(absl::StatusCode::kInvalidArgument, "name DER has 3 trailing bytes"));
}

TEST(DerTest, RejectsGarbageWithTheOpenSslReason) {
  EXPECT_THAT(
      ParseWholeDer<X509_NAME>(std::string("\x30\x05\x01", 3), d2i_X509_NAME, kNameErrors),
      StatusIs(absl::StatusCode::kInvalidArgument,
               ::testing::AllOf(HasSubstr("name is not valid DER"), HasSubstr("[openssl: "))));
  EXPECT_THAT(ParseWholeDer<X509_NAME>(std::string(), d2i_X509_NAME, kNameErrors),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name is not valid DER")));
}

}  // namespace
}  // namespace meshtrust::pki
