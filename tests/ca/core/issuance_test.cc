// IssuedCertificateRecord: the one place a certificate becomes the store's
// record, for intermediates and identities alike.
#include "ca/core/issuance.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ca/core/authority.h"
#include "pki/certificate.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::ca {
namespace {

using ::meshtrust::testing::IsOk;

ossl::UniquePtr<X509> SelfSigned(const std::string& cn) {
  auto key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  pki::CertificateTemplate tmpl;
  tmpl.subject = {{"O", "meshtrust"}, {"CN", cn}};
  tmpl.not_before = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  tmpl.not_after = tmpl.not_before + std::chrono::hours(2);
  tmpl.is_ca = true;
  tmpl.key_usage = pki::kKeyCertSign | pki::kCrlSign;
  return *pki::IssueCertificate(tmpl, key.get(), nullptr, key.get());
}

TEST(IssuedCertificateRecordTest, RecordsWhatTheCertificateSays) {
  ossl::UniquePtr<X509> cert = SelfSigned("cluster1 intermediate CA 1");
  TimePoint issued_at = std::chrono::system_clock::now();
  CertificateRecord record = IssuedCertificateRecord(cert.get(), CertificateKind::kIntermediate,
                                                     "cluster1", issued_at, "mesh-root-2");
  EXPECT_EQ(record.serial, pki::SerialHex(cert.get()));
  EXPECT_EQ(record.kind, "intermediate");
  EXPECT_EQ(record.subject_name, "cluster1");
  EXPECT_EQ(record.subject, "CN=cluster1 intermediate CA 1,O=meshtrust");
  EXPECT_EQ(record.not_before, pki::NotBefore(cert.get()));
  EXPECT_EQ(record.not_after, pki::NotAfter(cert.get()));
  EXPECT_EQ(record.not_after - record.not_before, std::chrono::hours(2));
  EXPECT_EQ(record.certificate_pem, pki::CertificatePem(cert.get()));
  EXPECT_EQ(record.issued_at, issued_at);
  EXPECT_EQ(record.issuer_key_id, "mesh-root-2");
  EXPECT_FALSE(record.revoked);
}

TEST(IssuedCertificateRecordTest, IdentitiesNameNoSigningRoot) {
  ossl::UniquePtr<X509> cert = SelfSigned("op");
  CertificateRecord agent =
      IssuedCertificateRecord(cert.get(), CertificateKind::kAgentIdentity, "cluster1", TimePoint());
  EXPECT_EQ(agent.kind, "agent-identity");
  EXPECT_EQ(agent.issuer_key_id, "");
  CertificateRecord admin =
      IssuedCertificateRecord(cert.get(), CertificateKind::kAdminIdentity, "op", TimePoint());
  EXPECT_EQ(admin.kind, "admin-identity");
}

// What the Authority stores for each kind it issues is exactly the builder's
// record of the certificate it returned.
class IssuedRecordsTest : public testing::LocalCaTest {
 protected:
  void ExpectStoredAsBuilt(const std::string& certificate_pem, CertificateKind kind,
                           const std::string& subject_name, const std::string& issuer_key_id) {
    auto cert = pki::ParseCertificatePem(certificate_pem);
    ASSERT_THAT(cert, IsOk());
    auto stored = ca_->store()->GetCertificate(pki::SerialHex(cert->get()));
    ASSERT_THAT(stored, IsOk());
    CertificateRecord built =
        IssuedCertificateRecord(cert->get(), kind, subject_name, stored->issued_at, issuer_key_id);
    EXPECT_EQ(stored->serial, built.serial);
    EXPECT_EQ(stored->kind, built.kind);
    EXPECT_EQ(stored->subject_name, built.subject_name);
    EXPECT_EQ(stored->subject, built.subject);
    EXPECT_EQ(stored->not_before, built.not_before);
    EXPECT_EQ(stored->not_after, built.not_after);
    EXPECT_EQ(stored->certificate_pem, built.certificate_pem);
    EXPECT_EQ(stored->issuer_key_id, built.issuer_key_id);
  }
};

TEST_F(IssuedRecordsTest, IntermediatesEnrollmentsAndRenewals) {
  ASSERT_OK_AND_ASSIGN(IssuedIntermediate intermediate,
                       ca_->authority()->SignIntermediate(agent1_, "cluster1", testing::FreshCsr(),
                                                          std::chrono::seconds(0)));
  ExpectStoredAsBuilt(intermediate.certificate_pem, CertificateKind::kIntermediate, "cluster1",
                      "mesh-root-1");

  ASSERT_OK_AND_ASSIGN(IssuedIdentity renewed,
                       ca_->authority()->RenewIdentity(agent1_, testing::FreshCsr()));
  ExpectStoredAsBuilt(renewed.certificate_pem, CertificateKind::kAgentIdentity, "cluster1", "");

  auto token =
      ca_->authority()->CreateAdminToken({CallerKind::kAuditor, "eve"}, std::chrono::hours(1));
  ASSERT_THAT(token, IsOk());
  ASSERT_OK_AND_ASSIGN(IssuedIdentity admin,
                       ca_->authority()->Enroll(token->token, testing::FreshCsr()));
  ExpectStoredAsBuilt(admin.certificate_pem, CertificateKind::kAdminIdentity, "eve", "");
}

}  // namespace
}  // namespace meshtrust::ca
