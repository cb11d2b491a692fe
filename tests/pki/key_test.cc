#include "pki/key.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/hostile_inputs.h"
#include "tests/testing/status_matchers.h"

namespace meshtrust::pki {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::testing::HasSubstr;

class KeyAlgorithmTest : public ::testing::TestWithParam<KeyAlgorithm> {};

TEST_P(KeyAlgorithmTest, GeneratesClassifiesAndRoundTrips) {
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<EVP_PKEY> key, GenerateKey(GetParam()));
  ASSERT_OK_AND_ASSIGN(KeyAlgorithm alg, ClassifyKey(key.get()));
  EXPECT_EQ(alg, GetParam());
  ASSERT_OK_AND_ASSIGN(SecretBytes pem, PrivateKeyToPkcs8Pem(key.get()));
  EXPECT_EQ(pem.UnsafeSecretString().substr(0, 27), "-----BEGIN PRIVATE KEY-----");
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<EVP_PKEY> back, PrivateKeyFromPem(pem));
  EXPECT_TRUE(SamePublicKey(key.get(), back.get()));
  ASSERT_OK_AND_ASSIGN(KeyAlgorithm parsed, ParseKeyAlgorithm(KeyAlgorithmName(GetParam())));
  EXPECT_EQ(parsed, GetParam());
}

INSTANTIATE_TEST_SUITE_P(All, KeyAlgorithmTest,
                         ::testing::Values(KeyAlgorithm::kEcdsaP256, KeyAlgorithm::kEcdsaP384,
                                           KeyAlgorithm::kRsa2048, KeyAlgorithm::kRsa3072,
                                           KeyAlgorithm::kRsa4096));

TEST(KeyTest, RefusesWeakAndUnapprovedKeys) {
  constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_THAT(ClassifyKey(testing::RsaKey(1024).get()), StatusIs(kInvalid, HasSubstr("RSA-1024")));
  EXPECT_THAT(ClassifyKey(testing::RsaKey(2048, 3).get()),
              StatusIs(kInvalid, HasSubstr("public exponent 3")));
  EXPECT_THAT(ClassifyKey(testing::EcKeyOnCurve("secp256k1").get()),
              StatusIs(kInvalid, HasSubstr("secp256k1")));
  EXPECT_THAT(ClassifyKey(testing::EcKeyOnCurve("brainpoolP256r1").get()),
              StatusIs(kInvalid, HasSubstr("brainpoolP256r1")));
  EXPECT_THAT(ClassifyKey(testing::ExplicitParamsP256Key().get()),
              StatusIs(kInvalid, HasSubstr("explicit EC curve parameters")));
  ossl::UniquePtr<EVP_PKEY> ed(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  EXPECT_THAT(ClassifyKey(ed.get()), StatusIs(kInvalid, HasSubstr("ED25519")));
}

TEST(KeyTest, RejectsUnknownAlgorithmName) {
  EXPECT_THAT(ParseKeyAlgorithm("rsa-1024"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown key algorithm")));
}

TEST(KeyTest, PinIsSha256OfSpki) {
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<EVP_PKEY> key, GenerateKey(KeyAlgorithm::kEcdsaP256));
  ASSERT_OK_AND_ASSIGN(std::string pin, SpkiSha256Pin(key.get()));
  EXPECT_THAT(pin, ::testing::MatchesRegex("sha256:[0-9a-f]{64}"));
  ASSERT_OK_AND_ASSIGN(std::string spki, PublicKeySpkiDer(key.get()));
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<EVP_PKEY> pub, PublicKeyFromSpkiDer(spki));
  EXPECT_TRUE(SamePublicKey(key.get(), pub.get()));
  EXPECT_THAT(PublicKeyFromSpkiDer(spki + "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trailing")));
}

TEST(KeyTest, RejectsTrailingBytesAndGarbageInPrivateKeys) {
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<EVP_PKEY> key, GenerateKey(KeyAlgorithm::kEcdsaP256));
  ASSERT_OK_AND_ASSIGN(SecretBytes der, PrivateKeyToPkcs8Der(key.get()));
  std::string padded(der.UnsafeSecretString());
  padded += '\0';
  EXPECT_THAT(PrivateKeyFromPkcs8Der(SecretBytes::CopyOf(absl::string_view(padded))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trailing")));
  EXPECT_THAT(PrivateKeyFromPkcs8Der(SecretBytes::CopyOf(absl::string_view("\x30\x01"))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid PKCS#8")));
  EXPECT_THAT(PrivateKeyFromPem(SecretBytes::CopyOf(absl::string_view(
                  "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a private key")));
}

TEST(KeyTest, SecureKeyHeapIsSetUpOnceAndKeysStillWork) {
  absl::Status first = InitSecureKeyHeap(1 << 16);
  if (!first.ok()) {  // Where mlock is limited the heap exists but is not locked.
    EXPECT_THAT(first, StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not locked")));
  }
  EXPECT_THAT(InitSecureKeyHeap(1 << 16),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("secure heap")));
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<EVP_PKEY> key, GenerateKey(KeyAlgorithm::kEcdsaP256));
  ASSERT_OK_AND_ASSIGN(SecretBytes der, PrivateKeyToPkcs8Der(key.get()));
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<EVP_PKEY> back, PrivateKeyFromPkcs8Der(der));
  EXPECT_TRUE(SamePublicKey(key.get(), back.get()));
}

}  // namespace
}  // namespace meshtrust::pki
