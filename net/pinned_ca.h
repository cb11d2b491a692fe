// Bootstrapping trust in the CA server from a pin, as `kubeadm join` does:
// connect once without verification, find the certificate in the server's
// chain whose SubjectPublicKeyInfo has the pinned SHA-256, check that it is a
// CA, that it issued the server's certificate and that this certificate is a
// TLS server's (serverAuth) for the host connected to, and return it. Every later
// connection verifies the server normally against that CA.
#ifndef MESHTRUST_NET_PINNED_CA_H_
#define MESHTRUST_NET_PINNED_CA_H_

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "pki/ossl.h"

namespace meshtrust::net {

// `address` is host:port; `pin` is "sha256:<64 hex>".
absl::StatusOr<ossl::UniquePtr<X509>> FetchPinnedCa(const std::string& address,
                                                    const std::string& pin,
                                                    std::chrono::milliseconds timeout);

// kPermissionDenied unless `leaf` is for a TLS server (an explicit serverAuth
// extended key usage) and names `host` (a DNS name, or an IP address literal)
// in its subjectAltName, as the later gRPC channel requires. `address` is for
// the message.
absl::Status CheckServerCertificateFor(X509* leaf, const std::string& host,
                                       const std::string& address);

// kInvalidArgument unless `pin` is "sha256:" followed by 64 lowercase hex.
absl::Status ValidatePin(const std::string& pin);

// Splits "host:port" or "[v6]:port".
absl::Status SplitHostPort(const std::string& address, std::string* host, std::string* port);

}  // namespace meshtrust::net

#endif  // MESHTRUST_NET_PINNED_CA_H_
