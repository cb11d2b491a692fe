// The CA's public HTTP endpoint: CRLs at stable URLs (no authentication; a
// CRL is public and signed), and a liveness answer.
//
//   GET /crl                  every root's CRL, PEM
//   GET /crl/<root-id>.pem    one root's CRL, PEM
//   GET /crl/<root-id>.der    one root's CRL, DER (the cRLDistributionPoints URL)
//   GET /healthz              "ok"
#ifndef MESHTRUST_CA_SERVER_PUBLIC_HTTP_H_
#define MESHTRUST_CA_SERVER_PUBLIC_HTTP_H_

#include "ca/core/authority.h"
#include "net/http_server.h"

namespace meshtrust::ca {

HttpResponse HandlePublicHttp(Authority* authority, const HttpRequest& request);

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_SERVER_PUBLIC_HTTP_H_
