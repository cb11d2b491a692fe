#include "ca/core/issuance.h"

#include "pki/certificate.h"

namespace meshtrust::ca {

CertificateRecord IssuedCertificateRecord(X509* certificate, CertificateKind kind,
                                          absl::string_view subject_name, TimePoint issued_at,
                                          absl::string_view issuer_key_id) {
  pki::IssuedCertificate issued;
  issued.serial_hex = pki::SerialHex(certificate);
  issued.subject = pki::SubjectString(certificate);
  issued.not_before = pki::NotBefore(certificate);
  issued.not_after = pki::NotAfter(certificate);
  issued.pem = pki::CertificatePem(certificate);
  return IssuedCertificateRecord(std::move(issued), kind, subject_name, issued_at, issuer_key_id);
}

CertificateRecord IssuedCertificateRecord(pki::IssuedCertificate certificate, CertificateKind kind,
                                          absl::string_view subject_name, TimePoint issued_at,
                                          absl::string_view issuer_key_id) {
  CertificateRecord record;
  record.serial = std::move(certificate.serial_hex);
  record.kind = std::string(CertificateKindName(kind));
  record.issuer_key_id = std::string(issuer_key_id);
  record.subject_name = std::string(subject_name);
  record.subject = std::move(certificate.subject);
  record.not_before = certificate.not_before;
  record.not_after = certificate.not_after;
  record.certificate_pem = std::move(certificate.pem);
  record.issued_at = issued_at;
  return record;
}

}  // namespace meshtrust::ca
