#include "ca/server/spiffe_bundle.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "pki/certificate.h"
#include "pki/jwk.h"

namespace meshtrust::ca {

absl::StatusOr<std::string> SpiffeBundleJson(const TrustBundle& bundle,
                                             std::chrono::seconds refresh_hint) {
  absl::StatusOr<std::vector<ossl::UniquePtr<X509>>> roots =
      pki::ParseCertificateChainPem(bundle.roots_pem);
  if (!roots.ok()) {
    return absl::DataLossError(
        absl::StrCat("the trust bundle is unreadable: ", roots.status().message()));
  }
  nlohmann::json keys = nlohmann::json::array();
  for (const auto& root : *roots) {
    absl::StatusOr<pki::JwkPublicKey> jwk = pki::PublicKeyJwk(pki::PublicKeyOf(root.get()));
    if (!jwk.ok()) {
      return absl::DataLossError(absl::StrCat("root \"", pki::SubjectString(root.get()),
                                              "\" has no JWK form: ", jwk.status().message()));
    }
    // No "kid": the X509-SVID specification says it SHOULD NOT be set.
    nlohmann::json key = {{"kty", jwk->kty},
                          {"use", "x509-svid"},
                          {"x5c", {pki::Base64Standard(pki::CertificateDer(root.get()))}}};
    if (jwk->kty == "EC") {
      key["crv"] = jwk->crv;
      key["x"] = jwk->x;
      key["y"] = jwk->y;
    } else {
      key["n"] = jwk->n;
      key["e"] = jwk->e;
    }
    keys.push_back(std::move(key));
  }
  nlohmann::json doc = {{"keys", std::move(keys)},
                        {"spiffe_sequence", bundle.sequence},
                        {"spiffe_refresh_hint", refresh_hint.count()}};
  return doc.dump(2) + "\n";
}

}  // namespace meshtrust::ca
