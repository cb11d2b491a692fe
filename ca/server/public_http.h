// The CA's public HTTP endpoint: CRLs at stable URLs (no authentication; a
// CRL is public and signed), the trust bundle, and a liveness answer.
//
//   GET /crl                  every root's CRL, PEM
//   GET /crl/<root-id>.pem    one root's CRL, PEM
//   GET /crl/<root-id>.der    one root's CRL, DER (the cRLDistributionPoints URL)
//   GET /spiffe-bundle        the mesh's roots as a SPIFFE trust bundle (JWKS,
//                             spiffe_bundle.h), for Istio's spiffeBundleUrl
//                             and SPIRE federation
//   GET /healthz              "ok"
#ifndef MESHTRUST_CA_SERVER_PUBLIC_HTTP_H_
#define MESHTRUST_CA_SERVER_PUBLIC_HTTP_H_

#include "ca/core/authority.h"
#include "net/http_server.h"

namespace meshtrust::ca {

HttpResponse HandlePublicHttp(Authority* authority, const HttpRequest& request);

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_SERVER_PUBLIC_HTTP_H_
