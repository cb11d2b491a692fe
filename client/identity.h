// A client identity issued by the control CA. No gRPC here.
#ifndef MESHTRUST_CLIENT_IDENTITY_H_
#define MESHTRUST_CLIENT_IDENTITY_H_

#include <string>

#include "base/secret_bytes.h"

namespace meshtrust::client {

// A client identity: certificate and key (PEM), and the control CA that
// issued it and the server's certificate.
struct Identity {
  std::string identity;  // spiffe://meshtrust/...
  std::string certificate_pem;
  SecretBytes key_pem;
  std::string control_ca_pem;
};

}  // namespace meshtrust::client

#endif  // MESHTRUST_CLIENT_IDENTITY_H_
