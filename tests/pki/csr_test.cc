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

TEST_F(CsrTest, AcceptsOnlyDer) {
  ASSERT_OK_AND_ASSIGN(std::string der, BuildCsrDer(key_.get(), "cluster1"));
  constexpr absl::string_view kBer =
      "CSR is not DER (BER encoding: indefinite length or non-minimal length octets)";
  EXPECT_THAT(ParseCsr(testing::WithNonMinimalOuterLength(der)),
              StatusIs(kInvalid, HasSubstr(std::string(kBer))));
  EXPECT_THAT(ParseCsr(testing::WithIndefiniteOuterLength(der)),
              StatusIs(kInvalid, HasSubstr(std::string(kBer))));
  EXPECT_THAT(ParseCsr(testing::CsrWithBerInSignedPart(key_.get())),
              StatusIs(kInvalid, HasSubstr(std::string(kBer))));
  EXPECT_THAT(ParseCsr(EncodePem(testing::WithNonMinimalOuterLength(der), "CERTIFICATE REQUEST")),
              StatusIs(kInvalid, HasSubstr(std::string(kBer))));
}

TEST_F(CsrTest, ReportsVersionSignatureKeyFormAndSubject) {
  ASSERT_OK_AND_ASSIGN(std::string der, BuildCsrDer(key_.get(), "cluster1"));
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509_REQ> csr, ParseCsr(der));
  EXPECT_EQ(CsrVersion(csr.get()), 0);
  EXPECT_EQ(CsrSignatureAlgorithm(csr.get()), "ecdsa-with-SHA256");
  EXPECT_EQ(CsrSignatureDigest(csr.get()), "SHA256");
  EXPECT_FALSE(HasCompressedEcPoint(csr.get()));
  ASSERT_EQ(SubjectEntries(csr.get()).size(), 1u);
  EXPECT_EQ(SubjectEntries(csr.get())[0].field, "CN");
  EXPECT_EQ(SubjectEntries(csr.get())[0].value, "cluster1");

  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509_REQ> v3,
                       ParseCsr(testing::CsrWithVersion(key_.get(), 3)));
  EXPECT_EQ(CsrVersion(v3.get()), 3);
  EXPECT_THAT(VerifyCsrSignature(v3.get()), IsOk());
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509_REQ> sha1,
                       ParseCsr(testing::CsrSignedWith(key_.get(), EVP_sha1())));
  EXPECT_EQ(CsrSignatureAlgorithm(sha1.get()), "ecdsa-with-SHA1");
  EXPECT_EQ(CsrSignatureDigest(sha1.get()), "SHA1");
  auto compressed_key = testing::EcKeyOnCurve("P-256");
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509_REQ> compressed,
                       ParseCsr(testing::CsrWithCompressedKey(compressed_key.get())));
  EXPECT_TRUE(HasCompressedEcPoint(compressed.get()));
  ASSERT_OK_AND_ASSIGN(
      ossl::UniquePtr<X509_REQ> printable,
      ParseCsr(testing::CsrWithRawSubject(key_.get(), {{"O", "a*b"}}, V_ASN1_PRINTABLESTRING)));
  ASSERT_EQ(SubjectEntries(printable.get()).size(), 1u);
  EXPECT_TRUE(SubjectEntries(printable.get())[0].printable_string);
  EXPECT_EQ(SubjectEntries(printable.get())[0].value, "a*b");
}

TEST_F(CsrTest, NamesUnknownAttributesByDottedOid) {
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509_REQ> csr,
                       ParseCsr(testing::CsrWithAttribute(key_.get(), "1.3.6.1.4.1.99999.7")));
  EXPECT_THAT(OtherAttributes(csr.get()), ElementsAre("1.3.6.1.4.1.99999.7"));
}

}  // namespace
}  // namespace meshtrust::pki
