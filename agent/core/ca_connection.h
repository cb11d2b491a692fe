// CaConnection: what the agent needs from the CA once it has an identity, as
// an interface so the installation and identity logic know nothing of gRPC
// (agent/grpc/grpc_ca_connection.cc implements it over mTLS with the agent's
// identity; tests fake it). Every call but Watch and CancelWatch is made by
// one thread at a time; CancelWatch may be called from any thread.
#ifndef MESHTRUST_AGENT_CORE_CA_CONNECTION_H_
#define MESHTRUST_AGENT_CORE_CA_CONNECTION_H_

#include <chrono>
#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace meshtrust::agent {

struct SignedIntermediate {
  std::string certificate_pem;
  std::string chain_pem;
  std::string roots_pem;
  std::string bundle_sha256;
  std::string serial;
  std::string endorsements_pem;  // Cross-certificates for roots added by rotation.
};

struct TrustBundleInfo {
  std::string roots_pem;
  std::string sha256;
  std::string signing_root_pem;  // Empty when unknown.
  std::string endorsements_pem;  // Cross-certificates for roots added by rotation.
};

struct CrlSetInfo {
  std::string root_crls_pem;          // One per trusted root.
  std::string intermediate_crls_pem;  // The other clusters' intermediate CRLs.
  std::string sha256;
};

enum class CaEvent { kBundleChanged, kCrlChanged, kRotateNow, kHeartbeat };

class CaConnection {
 public:
  virtual ~CaConnection() = default;
  virtual absl::StatusOr<SignedIntermediate> SignIntermediate(const std::string& cluster,
                                                              const std::string& csr_der,
                                                              std::chrono::seconds ttl) = 0;
  virtual absl::StatusOr<TrustBundleInfo> GetTrustBundle() = 0;
  virtual absl::StatusOr<CrlSetInfo> GetCrls() = 0;
  // Reports what is installed, with the CRL this cluster signed with its
  // intermediate (shared with the other clusters).
  virtual absl::Status Ack(const std::string& cluster, const std::string& serial,
                           const std::string& bundle_sha256,
                           const std::string& intermediate_crl_pem) = 0;
  // Streams events for `cluster` to `on_event` until the stream breaks or
  // CancelWatch() is called; returns why it ended. Blocks the calling thread.
  virtual absl::Status Watch(const std::string& cluster,
                             const std::function<void(CaEvent)>& on_event) = 0;
  virtual void CancelWatch() = 0;
  // Exchanges a CSR (DER) for a new certificate (PEM) for the identity this
  // connection authenticates with. The caller generated the key and checks
  // the answer before using it.
  virtual absl::StatusOr<std::string> RenewIdentity(const std::string& csr_der) = 0;
};

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_CORE_CA_CONNECTION_H_
