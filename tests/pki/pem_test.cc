#include "pki/pem.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace meshtrust::pki {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::testing::HasSubstr;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

TEST(PemTest, RoundTripsOneBlock) {
  std::string der = "\x30\x03\x02\x01\x05";
  std::string pem = EncodePem(der, "CERTIFICATE");
  EXPECT_EQ(pem.rfind("-----BEGIN CERTIFICATE-----\n", 0), 0u);
  ASSERT_OK_AND_ASSIGN(std::string decoded, DecodeSinglePem(pem, "CERTIFICATE"));
  EXPECT_EQ(decoded, der);
}

TEST(PemTest, WrapsLongContentAt64Columns) {
  std::string der(200, 'x');
  std::string pem = EncodePem(der, "CERTIFICATE");
  size_t start = pem.find('\n') + 1;
  EXPECT_EQ(pem.find('\n', start) - start, 64u);
  ASSERT_OK_AND_ASSIGN(std::string decoded, DecodeSinglePem(pem, "CERTIFICATE"));
  EXPECT_EQ(decoded, der);
}

TEST(PemTest, RejectsTrailingGarbage) {
  std::string pem = EncodePem("abc", "CERTIFICATE") + "garbage";
  EXPECT_THAT(DecodeSinglePem(pem, "CERTIFICATE"),
              StatusIs(kInvalid, HasSubstr("unexpected data")));
}

TEST(PemTest, RejectsLeadingText) {
  std::string pem = "hello\n" + EncodePem("abc", "CERTIFICATE");
  EXPECT_THAT(DecodeSinglePem(pem, "CERTIFICATE"), StatusIs(kInvalid, HasSubstr("does not start")));
}

TEST(PemTest, RejectsSeveralBlocksWhereOneIsExpected) {
  std::string pem = EncodePem("abc", "CERTIFICATE") + EncodePem("def", "CERTIFICATE");
  EXPECT_THAT(DecodeSinglePem(pem, "CERTIFICATE"), StatusIs(kInvalid, HasSubstr("found 2")));
}

TEST(PemTest, RejectsOtherLabel) {
  std::string pem = EncodePem("abc", "PRIVATE KEY");
  EXPECT_THAT(DecodeSinglePem(pem, "CERTIFICATE REQUEST"),
              StatusIs(kInvalid, HasSubstr("found \"PRIVATE KEY\"")));
  EXPECT_THAT(DecodePemSequence(EncodePem("a", "CERTIFICATE") + pem, "CERTIFICATE"),
              StatusIs(kInvalid, HasSubstr("PRIVATE KEY")));
}

TEST(PemTest, RejectsHeadersInvalidBase64MissingEndAndEmpty) {
  EXPECT_THAT(DecodePemBlocks("-----BEGIN X-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END X-----\n"),
              StatusIs(kInvalid, HasSubstr("headers")));
  EXPECT_THAT(DecodePemBlocks("-----BEGIN X-----\nA*AA\n-----END X-----\n"),
              StatusIs(kInvalid, HasSubstr("invalid base64")));
  EXPECT_THAT(DecodePemBlocks("-----BEGIN X-----\nAAAA\n"),
              StatusIs(kInvalid, HasSubstr("no END")));
  EXPECT_THAT(DecodePemBlocks("  \n"), StatusIs(kInvalid, HasSubstr("empty")));
  EXPECT_THAT(DecodePemBlocks("-----BEGIN X-----\n-----END X-----\n"),
              StatusIs(kInvalid, HasSubstr("empty")));
}

TEST(PemTest, DecodesSequenceInOrder) {
  std::string pem = EncodePem("one", "CERTIFICATE") + "\n\n" + EncodePem("two", "CERTIFICATE");
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> ders, DecodePemSequence(pem, "CERTIFICATE"));
  EXPECT_THAT(ders, ::testing::ElementsAre("one", "two"));
}

TEST(PemTest, SecretRoundTripStaysInSecretBytes) {
  SecretBytes der = SecretBytes::CopyOf(absl::string_view("secret key bytes"));
  SecretBytes pem = SecretDerToPem(der, "PRIVATE KEY");
  ASSERT_OK_AND_ASSIGN(PemSecretBlock block, DecodeSecretPem(pem));
  EXPECT_EQ(block.label, "PRIVATE KEY");
  EXPECT_TRUE(block.der.Equals(der));
}

}  // namespace
}  // namespace meshtrust::pki
