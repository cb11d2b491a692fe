#include "keystore/pkcs11_uri.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace meshtrust::keystore {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(Pkcs11UriTest, ParsesPathAndQuery) {
  ASSERT_OK_AND_ASSIGN(
      Pkcs11Uri uri,
      ParsePkcs11Uri("pkcs11:token=mesh%20roots;manufacturer=SoftHSM%20project;serial=abc123;"
                     "model=SoftHSM%20v2;slot-id=7;object=mesh-root-1;id=%01%02%ff;type=private"
                     "?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin"));
  EXPECT_EQ(uri.token, "mesh roots");
  EXPECT_EQ(uri.manufacturer, "SoftHSM project");
  EXPECT_EQ(uri.serial, "abc123");
  EXPECT_EQ(uri.model, "SoftHSM v2");
  ASSERT_TRUE(uri.slot_id.has_value());
  EXPECT_EQ(*uri.slot_id, 7u);
  EXPECT_EQ(uri.object, "mesh-root-1");
  EXPECT_EQ(uri.id, std::string("\x01\x02\xff", 3));
  EXPECT_EQ(uri.type, "private");
  EXPECT_EQ(uri.module_path, "/usr/lib/softhsm/libsofthsm2.so");
  EXPECT_EQ(uri.pin_source, "file:/run/pin");
}

TEST(Pkcs11UriTest, SchemeIsCaseInsensitiveAndEmptyPartsAreAllowed) {
  ASSERT_OK_AND_ASSIGN(Pkcs11Uri uri, ParsePkcs11Uri("PKCS11:"));
  EXPECT_TRUE(uri.token.empty());
  EXPECT_FALSE(uri.slot_id.has_value());
  EXPECT_THAT(ParsePkcs11Uri("pkcs11:token=a?pin-source=env:HSM_PIN"), IsOk());
}

TEST(Pkcs11UriTest, VendorAttributesAreIgnored) {
  ASSERT_OK_AND_ASSIGN(Pkcs11Uri uri, ParsePkcs11Uri("pkcs11:token=a;x-vendor=1?x-other=2"));
  EXPECT_EQ(uri.token, "a");
}

TEST(Pkcs11UriTest, RefusesAPinValue) {
  EXPECT_THAT(ParsePkcs11Uri("pkcs11:token=a?pin-value=1234"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("pin-value"), HasSubstr("pin-source=file:"))));
  EXPECT_THAT(ParsePkcs11Uri("pkcs11:token=a;pin-value=1234"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pin-value")));
}

TEST(Pkcs11UriTest, RefusesMalformedInput) {
  struct Case {
    const char* uri;
    const char* says;
  } cases[] = {
      {"", "pkcs11:"},
      {"pkcs1:token=a", "pkcs11:"},
      {"https://example/", "pkcs11:"},
      {"pkcs11:token=a;token=b", "twice"},
      {"pkcs11:token=a;;object=b", "empty attribute"},
      {"pkcs11:token", "name=value"},
      {"pkcs11:=a", "name=value"},
      {"pkcs11:tokne=a", "unknown pkcs11: URI path attribute \"tokne\""},
      {"pkcs11:token=a?module=/x.so", "unknown pkcs11: URI query attribute"},
      {"pkcs11:token=a%2", "truncated percent escape"},
      {"pkcs11:token=a%", "truncated percent escape"},
      {"pkcs11:token=a%zz", "malformed percent escape"},
      {"pkcs11:slot-id=seven", "not a decimal number"},
      {"pkcs11:slot-id=-1", "not a decimal number"},
      {"pkcs11:slot-id=", "not a decimal number"},
      {"pkcs11:type=secret", "none of private"},
      {"pkcs11:token=a?module-path=relative.so", "absolute path"},
      {"pkcs11:token=a?pin-source=/run/pin", "neither file:/path nor env:NAME"},
      {"pkcs11:token=a?pin-source=file:", "names no file"},
      {"pkcs11:token=a?module-name=softhsm2", "module-path"},
      {"pkcs11:module-path=/x.so", "belongs in the query"},
      {"pkcs11:token=a#frag", "fragment"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(ParsePkcs11Uri(c.uri),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.says)))
        << c.uri;
  }
}

TEST(Pkcs11UriTest, DescribeKeepsSelectionAndDropsTheQuery) {
  ASSERT_OK_AND_ASSIGN(
      Pkcs11Uri uri,
      ParsePkcs11Uri("pkcs11:token=mesh%20roots;object=root?module-path=/m.so&pin-source=env:P"));
  EXPECT_EQ(uri.Describe(), "pkcs11:token=mesh%20roots;object=root");
  // Describe() round-trips.
  ASSERT_OK_AND_ASSIGN(Pkcs11Uri again, ParsePkcs11Uri(uri.Describe()));
  EXPECT_EQ(again.token, "mesh roots");
  EXPECT_EQ(again.object, "root");
}

TEST(Pkcs11UriTest, PercentDecodeHandlesEveryByte) {
  std::string all;
  std::string encoded;
  for (int b = 0; b < 256; ++b) {
    all.push_back(static_cast<char>(b));
    char buf[4];
    std::snprintf(buf, sizeof(buf), "%%%02x", b);
    encoded += buf;
  }
  ASSERT_OK_AND_ASSIGN(std::string decoded, PercentDecode(encoded));
  EXPECT_EQ(decoded, all);
  EXPECT_THAT(PercentDecode("%G0"), Not(IsOk()));
}

}  // namespace
}  // namespace meshtrust::keystore
