// Public keys as JSON Web Keys (RFC 7517/7518), for the SPIFFE trust bundle.
#ifndef MESHTRUST_PKI_JWK_H_
#define MESHTRUST_PKI_JWK_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pki/certificate.h"

namespace meshtrust::pki {

// The key parameters of a JWK. EC: kty "EC", crv "P-256" or "P-384", x and
// y the affine coordinates, each padded to the field size. RSA: kty "RSA",
// n and e, unsigned big-endian without leading zeros. All values base64url
// without padding (RFC 7518 6.2.1, 6.3.1); the members a key type does not
// use are empty.
struct JwkPublicKey {
  std::string kty, crv, x, y, n, e;
};

// kInvalidArgument for a key that is neither ECDSA P-256/P-384 nor RSA.
absl::StatusOr<JwkPublicKey> PublicKeyJwk(EVP_PKEY* key);

// Base64 of `bytes`: RFC 4648 section 4 with padding (x5c, RFC 7517 4.7),
// and section 5 without padding (JWK key members).
std::string Base64Standard(absl::string_view bytes);
std::string Base64UrlNoPadding(absl::string_view bytes);

}  // namespace meshtrust::pki

#endif  // MESHTRUST_PKI_JWK_H_
