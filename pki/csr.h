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
// Trailing bytes, several blocks and oversized input are errors.
absl::StatusOr<ossl::UniquePtr<X509_REQ>> ParseCsr(absl::string_view bytes);

// kInvalidArgument unless the CSR's self-signature verifies with its own key.
absl::Status VerifyCsrSignature(X509_REQ* csr);

// Short names of the extensions a CSR requests ("basicConstraints",
// "subjectAltName", or the OID for unknown ones); empty when none.
std::vector<std::string> RequestedExtensions(X509_REQ* csr);
// Names of attributes other than extension requests (e.g. challengePassword).
std::vector<std::string> OtherAttributes(X509_REQ* csr);

// The CSR's public key, borrowed (get0).
EVP_PKEY* PublicKeyOf(X509_REQ* csr);

}  // namespace meshtrust::pki

#endif  // MESHTRUST_PKI_CSR_H_
