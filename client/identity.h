// A client identity issued by the control CA. No gRPC here.
#ifndef MESHTRUST_CLIENT_IDENTITY_H_
#define MESHTRUST_CLIENT_IDENTITY_H_

#include <string>

#include "base/secret_bytes.h"

namespace meshtrust::client {

// A client identity: certificate and key (PEM), the control CA that issued
// it and the server's certificate, and the audit log's public key, both
// pinned at enrollment.
struct Identity {
  std::string identity;  // spiffe://meshtrust/...
  std::string certificate_pem;
  SecretBytes key_pem;
  std::string control_ca_pem;
  // Ed25519, 32 raw bytes. Empty for an identity enrolled before the CA
  // delivered it: then audit checkpoints are not verified until the client
  // enrolls again.
  std::string audit_public_key;
};

}  // namespace meshtrust::client

#endif  // MESHTRUST_CLIENT_IDENTITY_H_
