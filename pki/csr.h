// PKCS#10 certificate signing requests.
#ifndef MESHTRUST_PKI_CSR_H_
#define MESHTRUST_PKI_CSR_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pki/ossl.h"

namespace meshtrust::pki {

// Largest CSR meshtrust reads, PEM or DER. An RSA-4096 CSR is under 2 KiB.
inline constexpr size_t kMaxCsrBytes = 16 * 1024;

// A CSR for `key` with subject CN=`common_name` and no attributes.
absl::StatusOr<std::string> BuildCsrDer(EVP_PKEY* key, absl::string_view common_name);

// Parses a CSR given as DER or as exactly one PEM block "CERTIFICATE REQUEST".
// Trailing bytes, several blocks, oversized input and BER that is not DER
// (indefinite lengths, non-minimal length octets, anything that does not
// re-encode to the same bytes) are errors.
absl::StatusOr<ossl::UniquePtr<X509_REQ>> ParseCsr(absl::string_view bytes);

// kInvalidArgument unless the CSR's self-signature verifies with its own key.
absl::Status VerifyCsrSignature(X509_REQ* csr);

// Short names of the extensions a CSR requests ("basicConstraints",
// "subjectAltName", or the OID for unknown ones); empty when none.
std::vector<std::string> RequestedExtensions(X509_REQ* csr);
// Names of attributes other than extension requests (e.g. challengePassword).
std::vector<std::string> OtherAttributes(X509_REQ* csr);

// The CSR's version field as encoded (0 means v1, the only version PKCS#10 has).
long CsrVersion(X509_REQ* csr);  // NOLINT(runtime/int): OpenSSL's type.

// The CSR's signature algorithm by its long name ("ecdsa-with-SHA256",
// "sha1WithRSAEncryption"), or its dotted OID when it has none.
std::string CsrSignatureAlgorithm(X509_REQ* csr);
// The digest that algorithm uses ("SHA256", "SHA1", "MD5"); empty when the
// algorithm names none or is unknown.
std::string CsrSignatureDigest(X509_REQ* csr);

// True when the CSR's key is an EC point in compressed (or hybrid) form, as
// read from the SubjectPublicKeyInfo bytes.
bool HasCompressedEcPoint(X509_REQ* csr);

// One subject entry: the attribute's short name (or dotted OID), its value
// bytes, and whether it is encoded as a PrintableString.
struct SubjectEntry {
  std::string field;
  std::string value;
  bool printable_string = false;
};
std::vector<SubjectEntry> SubjectEntries(X509_REQ* csr);
// Size of the subject Name's DER encoding in bytes.
size_t SubjectDerBytes(X509_REQ* csr);

// The CSR's public key, borrowed (get0).
EVP_PKEY* PublicKeyOf(X509_REQ* csr);

}  // namespace meshtrust::pki

#endif  // MESHTRUST_PKI_CSR_H_
