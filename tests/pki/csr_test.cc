#include "pki/csr.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pki/key.h"
#include "pki/pem.h"
#include "tests/testing/hostile_inputs.h"
#include "tests/testing/status_matchers.h"

namespace meshtrust::pki {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

class CsrTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key = GenerateKey(KeyAlgorithm::kEcdsaP256);
    ASSERT_THAT(key, IsOk());
    key_ = *std::move(key);
  }
  ossl::UniquePtr<EVP_PKEY> key_;
};

TEST_F(CsrTest, BuildsParsesAndVerifiesDerAndPem) {
  ASSERT_OK_AND_ASSIGN(std::string der, BuildCsrDer(key_.get(), "cluster1"));
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509_REQ> csr, ParseCsr(der));
  EXPECT_THAT(VerifyCsrSignature(csr.get()), IsOk());
  EXPECT_TRUE(SamePublicKey(PublicKeyOf(csr.get()), key_.get()));
  EXPECT_TRUE(RequestedExtensions(csr.get()).empty());
  EXPECT_TRUE(OtherAttributes(csr.get()).empty());
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509_REQ> from_pem,
                       ParseCsr(EncodePem(der, "CERTIFICATE REQUEST")));
  EXPECT_THAT(VerifyCsrSignature(from_pem.get()), IsOk());
}

TEST_F(CsrTest, RefusesBadSignature) {
  ASSERT_OK_AND_ASSIGN(std::string der, BuildCsrDer(key_.get(), "cluster1"));
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509_REQ> csr, ParseCsr(testing::FlipLastBit(der)));
  EXPECT_THAT(VerifyCsrSignature(csr.get()), StatusIs(kInvalid, HasSubstr("does not verify")));
}

TEST_F(CsrTest, RefusesMalformedInput) {
  ASSERT_OK_AND_ASSIGN(std::string der, BuildCsrDer(key_.get(), "cluster1"));
  EXPECT_THAT(ParseCsr(""), StatusIs(kInvalid, HasSubstr("empty")));
  EXPECT_THAT(ParseCsr(der.substr(0, der.size() / 2)), StatusIs(kInvalid, HasSubstr("not valid")));
  EXPECT_THAT(ParseCsr(der + std::string("\x00\x01", 2)),
              StatusIs(kInvalid, HasSubstr("trailing bytes")));
  EXPECT_THAT(ParseCsr(std::string(kMaxCsrBytes + 1, '\x30')),
              StatusIs(kInvalid, HasSubstr("limit")));
  EXPECT_THAT(
      ParseCsr(EncodePem(der, "CERTIFICATE REQUEST") + EncodePem(der, "CERTIFICATE REQUEST")),
      StatusIs(kInvalid, HasSubstr("found 2")));
  EXPECT_THAT(ParseCsr(EncodePem(der, "CERTIFICATE")),
              StatusIs(kInvalid, HasSubstr("CERTIFICATE")));
  // Deeply nested ASN.1: 5000 nested SEQUENCE headers.
  std::string nested;
  for (int i = 0; i < 5000; ++i) nested += "\x30\x80";
  EXPECT_THAT(ParseCsr(nested), StatusIs(kInvalid, HasSubstr("not valid")));
}

TEST_F(CsrTest, ReportsRequestedExtensionsAndAttributes) {
  std::string der =
      testing::CsrWithExtensions(key_.get(), {{"basicConstraints", "critical,CA:TRUE,pathlen:5"},
                                              {"nameConstraints", "permitted;DNS:example.com"}});
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509_REQ> csr, ParseCsr(der));
  EXPECT_THAT(RequestedExtensions(csr.get()), ElementsAre("basicConstraints", "nameConstraints"));
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509_REQ> unknown,
                       ParseCsr(testing::CsrWithUnknownCriticalExtension(key_.get())));
  EXPECT_THAT(RequestedExtensions(unknown.get()), ElementsAre("1.3.6.1.4.1.99999.1"));
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509_REQ> challenge,
                       ParseCsr(testing::CsrWithChallengePassword(key_.get())));
  EXPECT_THAT(OtherAttributes(challenge.get()), ElementsAre("challengePassword"));
}

}  // namespace
}  // namespace meshtrust::pki
