// Certificate path validation against an explicit set of trusted roots.
#ifndef MESHTRUST_PKI_CHAIN_H_
#define MESHTRUST_PKI_CHAIN_H_

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "pki/certificate.h"
#include "pki/ossl.h"

namespace meshtrust::pki {

struct ChainCheck {
  // Validate at this time instead of now.
  std::optional<TimePoint> at;
  // Require the leaf to be usable for TLS client authentication.
  bool require_client_auth = false;
};

// Verifies that `leaf` chains through `intermediates` (untrusted) to one of
// `roots` with X.509 strict checks. kFailedPrecondition names OpenSSL's reason
// ("certificate has expired", "unable to get local issuer certificate").
absl::Status VerifyChain(X509* leaf, const std::vector<X509*>& intermediates,
                         const std::vector<X509*>& roots, const ChainCheck& check = {});

// Verifies that `cross` endorses `root` on behalf of `endorser`: a CA
// certificate with `root`'s subject and public key, issued by `endorser` and
// valid at `at` (a cross-certificate). Whoever trusts `endorser` may then
// trust `root`. kFailedPrecondition says which part fails.
absl::Status VerifyEndorsement(X509* cross, X509* root, X509* endorser, TimePoint at);

}  // namespace meshtrust::pki

#endif  // MESHTRUST_PKI_CHAIN_H_
