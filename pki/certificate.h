// X.509 certificates: building from a template, parsing, inspecting.
//
// Certificates are built only from a CertificateTemplate the caller fills in
// from its own policy; nothing is ever copied from a CSR but the public key.
#ifndef MESHTRUST_PKI_CERTIFICATE_H_
#define MESHTRUST_PKI_CERTIFICATE_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pki/ossl.h"
#include "pki/signer.h"

namespace meshtrust::pki {

using Clock = std::chrono::system_clock;
using TimePoint = std::chrono::system_clock::time_point;

// keyUsage bits (RFC 5280 4.2.1.3).
enum KeyUsage : uint32_t {
  kDigitalSignature = 1u << 0,
  kKeyEncipherment = 1u << 2,
  kKeyCertSign = 1u << 5,
  kCrlSign = 1u << 6,
};

enum class ExtendedKeyUsage { kServerAuth, kClientAuth };

struct NameEntry {
  std::string field;  // "O", "OU", "CN"
  std::string value;
};

struct CertificateTemplate {
  std::vector<NameEntry> subject;
  TimePoint not_before;
  TimePoint not_after;
  bool is_ca = false;
  int path_len = -1;                                 // With is_ca: -1 leaves pathLenConstraint out.
  uint32_t key_usage = 0;                            // KeyUsage bits; always marked critical.
  std::vector<ExtendedKeyUsage> extended_key_usage;  // Empty: no EKU extension.
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::vector<std::string> uris;
  // With is_ca: a critical nameConstraints extension permitting only URIs in
  // these hosts/domains (RFC 5280: "host" or ".domain").
  std::vector<std::string> permitted_uri_domains;
  std::string crl_distribution_point;  // Empty: no cRLDistributionPoints.
};

// Signs a certificate for `subject_key` (its public half) built from `tmpl`,
// with `issuer_signer`, whose public key must be `issuer`'s. With `issuer` ==
// nullptr the certificate is self-signed: `issuer_signer` must then hold
// `subject_key`'s private key. The serial is 127 random bits, positive. The
// signature algorithm is the signer's (SignatureAlgorithmFor).
absl::StatusOr<ossl::UniquePtr<X509>> IssueCertificate(const CertificateTemplate& tmpl,
                                                       EVP_PKEY* subject_key, X509* issuer,
                                                       const Signer& issuer_signer);
// The same with a private key in this process's memory.
absl::StatusOr<ossl::UniquePtr<X509>> IssueCertificate(const CertificateTemplate& tmpl,
                                                       EVP_PKEY* subject_key, X509* issuer,
                                                       EVP_PKEY* issuer_key);

// A certificate as issued: its encodings and the fields a CA records.
struct IssuedCertificate {
  std::string der;
  std::string pem;
  std::string serial_hex;  // As SerialHex.
  std::string subject;     // As SubjectString.
  TimePoint not_before;
  TimePoint not_after;
};

// Signs a certificate for the public key of `csr` (whose signature the
// caller has verified), as IssueCertificate does, on the fast path: the key
// is copied from the CSR as it is encoded there, and the signed certificate
// is not parsed back. `issuer` must not be null.
absl::StatusOr<IssuedCertificate> IssueCertificateForCsr(const CertificateTemplate& tmpl,
                                                         X509_REQ* csr, X509* issuer,
                                                         const Signer& issuer_signer);

// Parsing. DER must be consumed completely; PEM must be exactly one
// CERTIFICATE block (or, for chains, one or more).
absl::StatusOr<ossl::UniquePtr<X509>> ParseCertificateDer(absl::string_view der);
absl::StatusOr<ossl::UniquePtr<X509>> ParseCertificatePem(absl::string_view pem);
absl::StatusOr<std::vector<ossl::UniquePtr<X509>>> ParseCertificateChainPem(absl::string_view pem);

std::string CertificateDer(X509* cert);
std::string CertificatePem(X509* cert);

// An ASN.1 UTCTime or GeneralizedTime; times beyond what TimePoint holds
// (after 2262, e.g. the 9999-12-31 of RFC 5280's "no expiry") saturate.
// The epoch for a missing or unreadable time.
TimePoint Asn1TimeToTimePoint(const ASN1_TIME* t);

// Inspection.
std::string SerialHex(const X509* cert);  // Lowercase, no leading zeros.
int SerialBits(const X509* cert);
TimePoint NotBefore(const X509* cert);
TimePoint NotAfter(const X509* cert);
std::string SubjectString(const X509* cert);  // RFC 2253.
std::string IssuerString(const X509* cert);
std::vector<std::string> UriSans(X509* cert);
std::vector<std::string> DnsSans(X509* cert);
std::vector<std::string> IpSans(X509* cert);  // Dotted or RFC 5952 text.
bool IsCa(X509* cert);
long PathLen(X509* cert);  // -1 if absent.  NOLINT(runtime/int)
// Whether `cert` may be used for every usage in `usages` (KeyUsage bits): its
// keyUsage extension asserts them all, or it has none (RFC 5280 4.2.1.3: no
// extension, no restriction).
bool PermitsKeyUsage(X509* cert, uint32_t usages);
// Whether `cert` is self-issued and its signature verifies with its own key.
bool IsSelfSigned(X509* cert);
// Whether `cert` carries an extendedKeyUsage extension (any purpose).
bool HasExtendedKeyUsage(X509* cert);
// The certificate's public key, borrowed (get0).
EVP_PKEY* PublicKeyOf(X509* cert);
// SHA-256 of the DER, lowercase hex.
std::string CertificateSha256Hex(X509* cert);

}  // namespace meshtrust::pki

#endif  // MESHTRUST_PKI_CERTIFICATE_H_
