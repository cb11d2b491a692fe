// X.509 v2 certificate revocation lists.
#ifndef MESHTRUST_PKI_CRL_H_
#define MESHTRUST_PKI_CRL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pki/certificate.h"
#include "pki/ossl.h"
#include "pki/signer.h"

namespace meshtrust::pki {

// RFC 5280 5.3.1 reason codes, by their ASN.1 names: unspecified,
// keyCompromise, cACompromise, affiliationChanged, superseded,
// cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise.
absl::StatusOr<int> ParseRevocationReason(absl::string_view name);
std::string RevocationReasonName(int code);

struct RevokedEntry {
  std::string serial_hex;
  TimePoint revoked_at;
  int reason = 0;  // CRL_REASON_* code.
};

struct CrlTemplate {
  uint64_t number = 1;  // cRLNumber; strictly increasing per issuer.
  TimePoint this_update;
  TimePoint next_update;
  std::vector<RevokedEntry> revoked;
};

// Signs a CRL for `issuer` with `issuer_signer`, whose public key must be
// the issuer's (AKI from the issuer's SKI, cRLNumber, entries with reason
// codes, sorted by serial).
absl::StatusOr<ossl::UniquePtr<X509_CRL>> IssueCrl(const CrlTemplate& tmpl, X509* issuer,
                                                   const Signer& issuer_signer);
// The same with a private key in this process's memory.
absl::StatusOr<ossl::UniquePtr<X509_CRL>> IssueCrl(const CrlTemplate& tmpl, X509* issuer,
                                                   EVP_PKEY* issuer_key);

absl::StatusOr<ossl::UniquePtr<X509_CRL>> ParseCrlDer(absl::string_view der);
// One or more "X509 CRL" PEM blocks.
absl::StatusOr<std::vector<ossl::UniquePtr<X509_CRL>>> ParseCrlsPem(absl::string_view pem);
std::string CrlDer(X509_CRL* crl);
std::string CrlPem(X509_CRL* crl);

// kFailedPrecondition unless `crl` is signed by `issuer` and names it.
absl::Status VerifyCrl(X509_CRL* crl, X509* issuer);
uint64_t CrlNumber(X509_CRL* crl);
TimePoint CrlThisUpdate(const X509_CRL* crl);
TimePoint CrlNextUpdate(const X509_CRL* crl);
std::vector<std::string> RevokedSerials(X509_CRL* crl);
// The CRL's issuer name, RFC 2253 (as SubjectString).
std::string CrlIssuerString(const X509_CRL* crl);

}  // namespace meshtrust::pki

#endif  // MESHTRUST_PKI_CRL_H_
