#include "pki/certificate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pki/chain.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/signer.h"
#include "tests/testing/status_matchers.h"

namespace meshtrust::pki {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Ca {
  ossl::UniquePtr<X509> cert;
  ossl::UniquePtr<EVP_PKEY> key;
};

Ca MakeRoot(TimePoint now) {
  Ca ca;
  ca.key = *GenerateKey(KeyAlgorithm::kEcdsaP256);
  CertificateTemplate t;
  t.subject = {{"O", "test"}, {"CN", "root"}};
  t.not_before = now - std::chrono::minutes(5);
  t.not_after = now + std::chrono::hours(24 * 365);
  t.is_ca = true;
  t.path_len = 1;
  t.key_usage = kKeyCertSign | kCrlSign;
  ca.cert = *IssueCertificate(t, ca.key.get(), nullptr, ca.key.get());
  return ca;
}

TEST(CertificateTest, IssuesIntermediateFromTemplate) {
  TimePoint now = Clock::now();
  Ca root = MakeRoot(now);
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<EVP_PKEY> key, GenerateKey(KeyAlgorithm::kEcdsaP384));
  CertificateTemplate t;
  t.subject = {{"O", "test"}, {"OU", "cluster1"}, {"CN", "cluster1 intermediate CA 1"}};
  t.not_before = now - std::chrono::minutes(5);
  t.not_after = now + std::chrono::hours(24);
  t.is_ca = true;
  t.path_len = 0;
  t.key_usage = kKeyCertSign | kCrlSign | kDigitalSignature;
  t.permitted_uri_domains = {"cluster.local"};
  t.crl_distribution_point = "http://ca.example/crl.der";
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509> cert,
                       IssueCertificate(t, key.get(), root.cert.get(), root.key.get()));
  EXPECT_TRUE(IsCa(cert.get()));
  EXPECT_EQ(PathLen(cert.get()), 0);
  EXPECT_GE(SerialBits(cert.get()), 64);
  EXPECT_EQ(X509_get_key_usage(cert.get()),
            static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN | KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extension_flags(cert.get()) & EXFLAG_XKUSAGE, 0u);
  EXPECT_NE(X509_get0_subject_key_id(cert.get()), nullptr);
  EXPECT_NE(X509_get0_authority_key_id(cert.get()), nullptr);
  EXPECT_EQ(SubjectString(cert.get()), "CN=cluster1 intermediate CA 1,OU=cluster1,O=test");
  EXPECT_TRUE(SamePublicKey(PublicKeyOf(cert.get()), key.get()));
  EXPECT_THAT(VerifyChain(cert.get(), {}, {root.cert.get()}), IsOk());

  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509> reparsed,
                       ParseCertificatePem(CertificatePem(cert.get())));
  EXPECT_EQ(SerialHex(reparsed.get()), SerialHex(cert.get()));
  EXPECT_THAT(ParseCertificateDer(CertificateDer(cert.get()) + "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trailing")));
}

// The fast path for a CSR's key (its SubjectPublicKeyInfo copied field by
// field, the signed certificate not parsed back) issues, for every key
// algorithm meshtrust accepts, the certificate the general path would: the
// CSR's key, a valid chain, and fields that match what it reports.
TEST(CertificateTest, IssuesForEveryCsrKeyAlgorithmOnTheFastPath) {
  TimePoint now = Clock::now();
  Ca root = MakeRoot(now);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Signer> signer,
                       NewInMemorySigner(ossl::UpRef(root.key.get())));
  for (KeyAlgorithm alg : AllKeyAlgorithms()) {
    SCOPED_TRACE(std::string(KeyAlgorithmName(alg)));
    ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<EVP_PKEY> key, GenerateKey(alg));
    ASSERT_OK_AND_ASSIGN(std::string csr_der, BuildCsrDer(key.get(), "x"));
    ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509_REQ> csr, ParseCsr(csr_der));
    CertificateTemplate t;
    t.subject = {{"O", "test"}, {"CN", "issued"}};
    t.not_before = now - std::chrono::minutes(5);
    t.not_after = now + std::chrono::hours(24);
    t.is_ca = true;
    t.path_len = 0;
    t.key_usage = kKeyCertSign | kCrlSign;
    ASSERT_OK_AND_ASSIGN(IssuedCertificate issued,
                         IssueCertificateForCsr(t, csr.get(), root.cert.get(), *signer));
    ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509> cert, ParseCertificateDer(issued.der));
    EXPECT_TRUE(SamePublicKey(PublicKeyOf(cert.get()), key.get()));
    EXPECT_THAT(VerifyChain(cert.get(), {}, {root.cert.get()}), IsOk());
    EXPECT_EQ(issued.serial_hex, SerialHex(cert.get()));
    EXPECT_EQ(issued.subject, SubjectString(cert.get()));
    EXPECT_EQ(issued.not_after, NotAfter(cert.get()));
    EXPECT_EQ(issued.pem, CertificatePem(cert.get()));
    EXPECT_NE(X509_get0_subject_key_id(cert.get()), nullptr);
  }
}

TEST(CertificateTest, SerialsAreRandomAndPositive) {
  TimePoint now = Clock::now();
  Ca a = MakeRoot(now);
  Ca b = MakeRoot(now);
  EXPECT_NE(SerialHex(a.cert.get()), SerialHex(b.cert.get()));
  EXPECT_EQ(SerialBits(a.cert.get()), 127);
}

TEST(CertificateTest, ClientIdentityCarriesUriAndEku) {
  TimePoint now = Clock::now();
  Ca root = MakeRoot(now);
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<EVP_PKEY> key, GenerateKey(KeyAlgorithm::kEcdsaP256));
  CertificateTemplate t;
  t.subject = {{"CN", "cluster1"}};
  t.not_before = now - std::chrono::minutes(1);
  t.not_after = now + std::chrono::hours(1);
  t.key_usage = kDigitalSignature;
  t.extended_key_usage = {ExtendedKeyUsage::kClientAuth};
  t.uris = {"spiffe://meshtrust/cluster/cluster1"};
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509> cert,
                       IssueCertificate(t, key.get(), root.cert.get(), root.key.get()));
  EXPECT_THAT(UriSans(cert.get()), ElementsAre("spiffe://meshtrust/cluster/cluster1"));
  EXPECT_FALSE(IsCa(cert.get()));
  ChainCheck check;
  check.require_client_auth = true;
  EXPECT_THAT(VerifyChain(cert.get(), {}, {root.cert.get()}, check), IsOk());
}

TEST(ChainTest, RefusesWrongRootAndExpiry) {
  TimePoint now = Clock::now();
  Ca root = MakeRoot(now);
  Ca other = MakeRoot(now);
  EXPECT_THAT(VerifyChain(root.cert.get(), {}, {other.cert.get()}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("does not verify")));
  ChainCheck later;
  later.at = now + std::chrono::hours(24 * 400);
  EXPECT_THAT(VerifyChain(root.cert.get(), {}, {root.cert.get()}, later),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("expired")));
  EXPECT_THAT(VerifyChain(root.cert.get(), {}, {}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no trusted roots")));
}

// Found by x509_fuzz: a notAfter past 2262 overflowed the nanosecond
// TimePoint (undefined behaviour; in practice it wrapped into the past).
// RFC 5280 recommends 99991231235959Z for certificates with no expiry.
TEST(CertificateTest, FarFutureAndFarPastTimesSaturate) {
  Ca root = MakeRoot(std::chrono::system_clock::now());
  ossl::UniquePtr<ASN1_STRING> far(ASN1_TIME_new());
  ASSERT_EQ(ASN1_TIME_set_string(far.get(), "99991231235959Z"), 1);
  EXPECT_GT(Asn1TimeToTimePoint(far.get()), NotAfter(root.cert.get()));
  EXPECT_GT(Asn1TimeToTimePoint(far.get()),
            std::chrono::system_clock::now() + std::chrono::hours(24 * 365 * 200));
  ASSERT_EQ(ASN1_TIME_set_string(far.get(), "00010101000000Z"), 1);
  EXPECT_LT(Asn1TimeToTimePoint(far.get()), TimePoint{} - std::chrono::hours(24 * 365 * 200));
  EXPECT_EQ(Asn1TimeToTimePoint(nullptr), TimePoint{});
}

TEST(CertificateTest, ReportsKeyUsageAndExtendedKeyUsage) {
  TimePoint now = Clock::now();
  Ca root = MakeRoot(now);  // keyCertSign, cRLSign; no EKU.
  EXPECT_TRUE(PermitsKeyUsage(root.cert.get(), kKeyCertSign | kCrlSign));
  EXPECT_TRUE(PermitsKeyUsage(root.cert.get(), kCrlSign));
  EXPECT_FALSE(PermitsKeyUsage(root.cert.get(), kKeyCertSign | kDigitalSignature));
  EXPECT_FALSE(HasExtendedKeyUsage(root.cert.get()));

  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<EVP_PKEY> key, GenerateKey(KeyAlgorithm::kEcdsaP256));
  CertificateTemplate t;
  t.subject = {{"CN", "client"}};
  t.not_before = now - std::chrono::minutes(5);
  t.not_after = now + std::chrono::hours(1);
  t.key_usage = kDigitalSignature;
  t.extended_key_usage = {ExtendedKeyUsage::kClientAuth};
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509> client,
                       IssueCertificate(t, key.get(), root.cert.get(), root.key.get()));
  EXPECT_TRUE(PermitsKeyUsage(client.get(), kDigitalSignature));
  EXPECT_FALSE(PermitsKeyUsage(client.get(), kKeyCertSign));
  EXPECT_FALSE(PermitsKeyUsage(client.get(), kCrlSign));
  EXPECT_TRUE(HasExtendedKeyUsage(client.get()));

  // No keyUsage extension restricts nothing (RFC 5280 4.2.1.3).
  t.key_usage = 0;
  t.extended_key_usage.clear();
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<X509> unrestricted,
                       IssueCertificate(t, key.get(), root.cert.get(), root.key.get()));
  EXPECT_TRUE(PermitsKeyUsage(unrestricted.get(), kKeyCertSign | kCrlSign | kDigitalSignature));
  EXPECT_FALSE(HasExtendedKeyUsage(unrestricted.get()));
}

}  // namespace
}  // namespace meshtrust::pki
