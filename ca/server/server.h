// CaServer: the gRPC server with TLS and client-certificate authentication.
#ifndef MESHTRUST_CA_SERVER_SERVER_H_
#define MESHTRUST_CA_SERVER_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "base/secret_bytes.h"
#include "ca/core/authority.h"

namespace grpc {
class Server;
}

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
  CaMetrics* metrics = nullptr;  // Optional; must outlive the server.
};

class CaServer {
 public:
  static absl::StatusOr<std::unique_ptr<CaServer>> Start(Authority* authority,
                                                         const ServerOptions& options);
  ~CaServer();
  int port() const { return port_; }
  // Stops accepting calls and waits up to `grace` for running ones.
  void Shutdown(std::chrono::milliseconds grace = std::chrono::seconds(5));
  void Wait();

 private:
  CaServer() = default;
  std::unique_ptr<TrustAuthorityService> agents_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_SERVER_SERVER_H_
