#include "ca/server/server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "ca/server/access_log.h"
#include "ca/server/grpc_service.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "pki/certificate.h"
#include "spdlog/spdlog.h"

namespace meshtrust::ca {
namespace {

constexpr auto kProbeDeadline = std::chrono::seconds(2);
constexpr auto kProbeEvery = std::chrono::seconds(1);
constexpr auto kLoopStalledAfter = std::chrono::seconds(15);
constexpr auto kUnexplainedFailureLimit = std::chrono::minutes(2);

}  // namespace

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
  server->probe_root_pem_ = options.client_ca_pem;
  if (absl::StatusOr<std::vector<ossl::UniquePtr<X509>>> chain =
          pki::ParseCertificateChainPem(options.server_chain_pem);
      chain.ok() && !chain->empty()) {
    // The name the probe checks the certificate against: a DNS name, else
    // an IP address it holds (gRPC matches IP SANs too).
    std::vector<std::string> names = pki::DnsSans(chain->front().get());
    if (names.empty()) names = pki::IpSans(chain->front().get());
    if (!names.empty()) server->probe_server_name_ = names.front();
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  // The listening socket is ours (GatedListener), not gRPC's: gRPC 1.51's
  // own accept loop stops for good after one EMFILE, and has no cap on
  // connections. Accepted sockets are handed to gRPC, which does the TLS
  // handshake and HTTP/2 as on its own port.
  server->acceptor_ = builder.experimental().AddExternalConnectionAcceptor(
      grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD,
      grpc::SslServerCredentials(tls));
  grpc::ResourceQuota quota("meshtrust-ca");
  quota.Resize(static_cast<size_t>(options.memory_quota_bytes));
  builder.SetResourceQuota(quota);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(4 * 1024 * 1024);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             static_cast<int>(options.handshake_timeout.count()));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, 10 * 60 * 1000);
  // A peer gone without a FIN (node lost, partition) is found within a
  // minute and a half, so its Watch stream stops counting against the
  // cluster's cap.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  // Requests are small: no receive window growth, small header lists.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 * 1024);
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, 16 * 1024);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(NewAccessLogFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.RegisterService(server->agents_.get());
  builder.RegisterService(server->admin_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr) {
    return absl::InternalError("the gRPC server did not start (see its log above)");
  }

  OpenFilesLimit limit = RaiseOpenFilesLimit();
  GatedListenerOptions gate;
  gate.max_connections = ConnectionCapForLimit(limit.soft, options.max_connections);
  gate.max_connections_per_peer = options.max_connections_per_peer;
  grpc::experimental::ExternalConnectionAcceptor* acceptor = server->acceptor_.get();
  absl::StatusOr<std::unique_ptr<GatedListener>> listener =
      GatedListener::Start(options.listen_address, gate, [acceptor](int fd) {
        grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters p;
        p.fd = fd;
        acceptor->HandleNewConnection(&p);
      });
  if (!listener.ok()) {
    server->server_->Shutdown();
    server->server_->Wait();
    return listener.status();
  }
  server->listener_ = *std::move(listener);
  server->port_ = server->listener_->port();
  server->connection_cap_ = gate.max_connections;
  spdlog::info(
      "open-files limit: soft {} (was {}), hard {}; gRPC connections capped at {} ({} per "
      "peer address), TLS handshakes must finish within {} ms",
      limit.soft, limit.soft_before, limit.hard, gate.max_connections,
      gate.max_connections_per_peer, options.handshake_timeout.count());
  if (grpc::HealthCheckServiceInterface* health = server->server_->GetHealthCheckService()) {
    health->SetServingStatus(true);
  }
  server->prober_ = std::thread([s = server.get()] { s->ProbeLoop(); });
  return server;
}

CaServer::~CaServer() { Shutdown(std::chrono::milliseconds(0)); }

GatedListenerStats CaServer::connection_stats() const {
  return listener_ != nullptr ? listener_->stats() : GatedListenerStats{};
}

absl::Status CaServer::Probe() {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = probe_root_pem_;
  grpc::ChannelArguments args;
  // A connection of its own, not one shared with other channels, so the
  // check goes through accept and the TLS handshake every time.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (!probe_server_name_.empty()) {
    args.SetString(GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, probe_server_name_);
  }
  std::string host = listener_->probe_host();
  if (host.find(':') != std::string::npos) host = absl::StrCat("[", host, "]");
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(absl::StrCat(host, ":", port_), grpc::SslCredentials(tls), args);
  std::unique_ptr<grpc::health::v1::Health::Stub> stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kProbeDeadline);
  context.set_wait_for_ready(true);  // Within the deadline: the connect is what we test.
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "the gRPC listener on port ", port_, " did not answer a loopback health check within ",
        kProbeDeadline.count(), " s: ", status.error_message()));
  }
  if (response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return absl::UnavailableError("the gRPC server reports that it is not serving");
  }
  return absl::OkStatus();
}

void CaServer::ProbeLoop() {
  for (;;) {
    absl::Status result = Probe();
    GatedListenerStats stats = listener_->stats();
    auto now = std::chrono::steady_clock::now();
    absl::MutexLock lock(&probe_mu_);
    if (!result.ok() && stats.open >= connection_cap_) {
      result = absl::UnavailableError(
          absl::StrCat("the gRPC listener is at its connection cap (", stats.open, " of ",
                       connection_cap_, " open); new connections are closed until some end"));
      unexplained_failure_since_ = {};
    } else if (!result.ok()) {
      if (unexplained_failure_since_ == std::chrono::steady_clock::time_point()) {
        unexplained_failure_since_ = now;
      }
    } else {
      unexplained_failure_since_ = {};
    }
    probed_at_ = now;
    probe_result_ = result;
    if (probe_mu_.AwaitWithTimeout(absl::Condition(&stop_probing_),
                                   absl::FromChrono(kProbeEvery))) {
      return;
    }
  }
}

absl::Status CaServer::CheckServing() const {
  absl::MutexLock lock(&probe_mu_);
  return probe_result_;
}

absl::Status CaServer::CheckAlive() const {
  if (listener_ == nullptr) return absl::UnavailableError("the gRPC server is shut down");
  auto now = std::chrono::steady_clock::now();
  auto since_turn = now - listener_->last_turn();
  if (since_turn > kLoopStalledAfter) {
    return absl::UnavailableError(
        absl::StrCat("the gRPC accept loop has not turned for ",
                     std::chrono::duration_cast<std::chrono::seconds>(since_turn).count(), " s"));
  }
  absl::MutexLock lock(&probe_mu_);
  if (probed_at_ != std::chrono::steady_clock::time_point() &&
      now - probed_at_ > kLoopStalledAfter) {
    return absl::UnavailableError(absl::StrCat(
        "the loopback check of the gRPC listener has not finished for ",
        std::chrono::duration_cast<std::chrono::seconds>(now - probed_at_).count(), " s"));
  }
  if (unexplained_failure_since_ != std::chrono::steady_clock::time_point() &&
      now - unexplained_failure_since_ > kUnexplainedFailureLimit) {
    return absl::UnavailableError(
        absl::StrCat("the gRPC listener has failed its loopback check for over two minutes: ",
                     probe_result_.message()));
  }
  return absl::OkStatus();
}

void CaServer::RegisterMetrics(MetricsRegistry* registry) {
  registry->AddGauge(
      "meshtrust_ca_connections_open", "gRPC connections open now (TLS handshakes included)",
      [this] {
        return std::vector<MetricSample>{{{}, static_cast<double>(connection_stats().open)}};
      });
  registry->AddGauge("meshtrust_ca_connections_cap",
                     "The most gRPC connections open at once, after the open-files limit", [this] {
                       return std::vector<MetricSample>{{{}, static_cast<double>(connection_cap_)}};
                     });
  registry->AddCounterReader("meshtrust_ca_connections_refused_total",
                             "gRPC connections closed at once because a connection cap was reached",
                             [this] {
                               GatedListenerStats s = connection_stats();
                               return std::vector<MetricSample>{
                                   {{{"cap", "total"}}, static_cast<double>(s.refused_at_cap)},
                                   {{{"cap", "peer"}}, static_cast<double>(s.refused_peer_cap)}};
                             });
  registry->AddCounterReader("meshtrust_ca_accept_errors_total",
                             "accept() failures on the gRPC port (EMFILE and the like); accepting "
                             "resumes after a short pause",
                             [this] {
                               return std::vector<MetricSample>{
                                   {{}, static_cast<double>(connection_stats().accept_errors)}};
                             });
}

void CaServer::Shutdown(std::chrono::milliseconds grace) {
  {
    absl::MutexLock lock(&probe_mu_);
    stop_probing_ = true;
  }
  if (prober_.joinable()) prober_.join();
  if (listener_ != nullptr) listener_->Stop();
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  server_.reset();
  listener_.reset();
}

void CaServer::Wait() {
  if (server_ != nullptr) server_->Wait();
}

}  // namespace meshtrust::ca
