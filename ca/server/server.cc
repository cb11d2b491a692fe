#include "ca/server/server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/strings/str_cat.h"
#include "ca/server/access_log.h"
#include "ca/server/grpc_service.h"

namespace meshtrust::ca {

absl::StatusOr<std::unique_ptr<CaServer>> CaServer::Start(Authority* authority,
                                                          const ServerOptions& options) {
  if (options.server_key_pem == nullptr || options.server_chain_pem.empty() ||
      options.client_ca_pem.empty()) {
    return absl::InvalidArgumentError("server TLS material is missing");
  }
  grpc::SslServerCredentialsOptions tls(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  tls.pem_root_certs = options.client_ca_pem;
  // gRPC keeps its own copy of the key for the server's lifetime; ours is
  // wiped by its owner.
  tls.pem_key_cert_pairs.push_back(
      {std::string(options.server_key_pem->UnsafeSecretString()), options.server_chain_pem});

  std::unique_ptr<CaServer> server(new CaServer());
  server->agents_ = std::make_unique<TrustAuthorityService>(authority, options.metrics);
  server->admin_ = std::make_unique<AdminService>(authority);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address, grpc::SslServerCredentials(tls), &server->port_);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(4 * 1024 * 1024);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, 10 * 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(NewAccessLogFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.RegisterService(server->agents_.get());
  builder.RegisterService(server->admin_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address, " (address in use or invalid)"));
  }
  if (grpc::HealthCheckServiceInterface* health = server->server_->GetHealthCheckService()) {
    health->SetServingStatus(true);
  }
  return server;
}

CaServer::~CaServer() { Shutdown(std::chrono::milliseconds(0)); }

void CaServer::Shutdown(std::chrono::milliseconds grace) {
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  server_.reset();
}

void CaServer::Wait() {
  if (server_ != nullptr) server_->Wait();
}

}  // namespace meshtrust::ca
