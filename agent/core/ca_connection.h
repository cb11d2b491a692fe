// CaConnection: what the agent needs from the CA, as an interface so the
// installation logic knows nothing of gRPC (grpc_ca_connection.cc implements
// it; tests may fake it).
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
};

struct TrustBundleInfo {
  std::string roots_pem;
  std::string sha256;
  std::string signing_root_pem;  // Empty when unknown.
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
};

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_CORE_CA_CONNECTION_H_
