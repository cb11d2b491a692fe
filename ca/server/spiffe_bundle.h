// The mesh's roots as a SPIFFE trust bundle (SPIFFE Trust Domain and Bundle
// specification, section 4; X509-SVID specification, section 6): a JWK Set
// whose keys each carry one root, for Istio's
// meshConfig.caCertificates[].spiffeBundleUrl and SPIRE federation.
#ifndef MESHTRUST_CA_SERVER_SPIFFE_BUNDLE_H_
#define MESHTRUST_CA_SERVER_SPIFFE_BUNDLE_H_

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "ca/core/trust_state.h"

namespace meshtrust::ca {

// How often consumers are asked to fetch the bundle again.
inline constexpr std::chrono::seconds kSpiffeRefreshHint{300};

// The bundle as JSON:
//   {"keys": [{"kty": "EC", "use": "x509-svid", "x5c": ["<base64 DER>"],
//              "crv": "P-256", "x": "...", "y": "..."}, ...],
//    "spiffe_sequence": <bundle.sequence>, "spiffe_refresh_hint": 300}
// One key per root of `bundle.roots_pem`, in its order; RSA roots carry
// "n" and "e" instead of crv/x/y. kDataLoss when a stored root is unreadable.
absl::StatusOr<std::string> SpiffeBundleJson(const TrustBundle& bundle,
                                             std::chrono::seconds refresh_hint);

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_SERVER_SPIFFE_BUNDLE_H_
