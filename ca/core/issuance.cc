#include "ca/core/issuance.h"

#include "pki/certificate.h"

namespace meshtrust::ca {

CertificateRecord IssuedCertificateRecord(X509* certificate, CertificateKind kind,
                                          absl::string_view subject_name, TimePoint issued_at,
                                          absl::string_view issuer_key_id) {
  CertificateRecord record;
  record.serial = pki::SerialHex(certificate);
  record.kind = std::string(CertificateKindName(kind));
  record.issuer_key_id = std::string(issuer_key_id);
  record.subject_name = std::string(subject_name);
  record.subject = pki::SubjectString(certificate);
  record.not_before = pki::NotBefore(certificate);
  record.not_after = pki::NotAfter(certificate);
  record.certificate_pem = pki::CertificatePem(certificate);
  record.issued_at = issued_at;
  return record;
}

}  // namespace meshtrust::ca
