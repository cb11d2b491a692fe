// TLS contexts built from meshtrust's own certificate and key types.
#ifndef MESHTRUST_NET_TLS_H_
#define MESHTRUST_NET_TLS_H_

#include <string>

#include "absl/status/statusor.h"
#include "pki/ossl.h"

namespace meshtrust::net {

// A server context presenting `cert_chain_pem` (leaf first) with `key`.
absl::StatusOr<ossl::UniquePtr<SSL_CTX>> NewTlsServerContext(const std::string& cert_chain_pem,
                                                             EVP_PKEY* key);

}  // namespace meshtrust::net

#endif  // MESHTRUST_NET_TLS_H_
