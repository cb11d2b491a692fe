// CaServer: the gRPC server with TLS and client-certificate authentication.
#ifndef MESHTRUST_CA_SERVER_SERVER_H_
#define MESHTRUST_CA_SERVER_SERVER_H_

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/metrics.h"
#include "base/secret_bytes.h"
#include "ca/core/authority.h"
#include "net/gated_listener.h"

namespace grpc {
class Server;
namespace experimental {
class ExternalConnectionAcceptor;
}
}  // namespace grpc

namespace meshtrust::ca {

class CaMetrics;
class TrustAuthorityService;
class AdminService;

struct ServerOptions {
  std::string listen_address = "127.0.0.1:8443";  // host:port; port 0 picks one.
  std::string server_chain_pem;                   // Server certificate, then the control CA.
  const SecretBytes* server_key_pem = nullptr;    // Borrowed for the duration of Start().
  std::string client_ca_pem;                      // The control CA: the only client trust.
  int max_message_bytes = 256 * 1024;
  int max_concurrent_streams = 256;
  // Connections open at once, in all and from one peer address. The total
  // is lowered further to fit the open-files limit (ConnectionCapForLimit).
  int max_connections = 16384;
  int max_connections_per_peer = 512;
  // A connection that has not finished its TLS handshake by then is closed.
  std::chrono::milliseconds handshake_timeout{10000};
  // Memory gRPC may hold for all connections' buffers together (its
  // resource quota): bounds what unauthenticated clients can make it
  // allocate before any of our code runs.
  int64_t memory_quota_bytes = 32LL * 1024 * 1024;
  CaMetrics* metrics = nullptr;  // Optional; must outlive the server.
};

class CaServer {
 public:
  static absl::StatusOr<std::unique_ptr<CaServer>> Start(Authority* authority,
                                                         const ServerOptions& options);
  ~CaServer();
  int port() const { return port_; }
  int connection_cap() const { return connection_cap_; }
  // Readiness: a gRPC health check over a new TLS connection to our own
  // port, made every second on a thread of its own (so a slow check never
  // holds up the HTTP threads or the kubelet's probe); this returns the
  // latest answer. Fails while the listener is at its connection cap or does
  // not accept.
  absl::Status CheckServing() const ABSL_LOCKS_EXCLUDED(probe_mu_);
  // Liveness: fails when the accept loop or the checking thread has stopped
  // turning, or the loopback check has failed for two minutes without the
  // connection cap explaining it; a restart is then the cure.
  absl::Status CheckAlive() const ABSL_LOCKS_EXCLUDED(probe_mu_);
  GatedListenerStats connection_stats() const;
  // meshtrust_ca_connections_* (docs/metrics.md); `this` must outlive
  // every scrape.
  void RegisterMetrics(MetricsRegistry* registry);
  // Stops accepting calls and waits up to `grace` for running ones.
  void Shutdown(std::chrono::milliseconds grace = std::chrono::seconds(5));
  void Wait();

 private:
  CaServer() = default;
  absl::Status Probe();
  void ProbeLoop() ABSL_LOCKS_EXCLUDED(probe_mu_);

  std::unique_ptr<TrustAuthorityService> agents_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor_;
  std::unique_ptr<GatedListener> listener_;
  int port_ = 0;
  int connection_cap_ = 0;
  std::string probe_root_pem_;     // The control CA, which issued the server certificate.
  std::string probe_server_name_;  // A DNS name, else an IP address, of the server certificate.

  std::thread prober_;
  mutable absl::Mutex probe_mu_;
  bool stop_probing_ ABSL_GUARDED_BY(probe_mu_) = false;
  std::chrono::steady_clock::time_point probed_at_ ABSL_GUARDED_BY(probe_mu_);
  absl::Status probe_result_ ABSL_GUARDED_BY(probe_mu_) =
      absl::UnavailableError("the loopback check of the gRPC listener has not run yet");
  // Since when the probe has failed without the cap explaining it (epoch:
  // it has not).
  std::chrono::steady_clock::time_point unexplained_failure_since_ ABSL_GUARDED_BY(probe_mu_);
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_SERVER_SERVER_H_
