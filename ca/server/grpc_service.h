// The gRPC face of the Authority: translates protobuf to Authority calls and
// absl::Status to grpc::Status. No decisions are made here.
#ifndef MESHTRUST_CA_SERVER_GRPC_SERVICE_H_
#define MESHTRUST_CA_SERVER_GRPC_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "ca/core/authority.h"
#include "ca/server/ca_metrics.h"
#include "ca/server/watch_streams.h"
#include "meshtrust/v1/meshtrust.grpc.pb.h"

namespace meshtrust::ca {

grpc::Status ToGrpcStatus(const absl::Status& status);

// The caller of a call: anonymous without a client certificate, else the
// meshtrust identity in the certificate the TLS layer verified.
absl::StatusOr<Caller> CallerFromContext(const grpc::ServerContextBase* context);

// The address a call came from, for per-source limits: the IPv4 address, or
// the /64 of an IPv6 address (one host usually holds a whole /64), from a
// gRPC peer string such as "ipv4:10.1.2.3:5555" or "ipv6:[2001:db8::1]:443".
// Anything else is returned as it is.
std::string SourceAddress(absl::string_view peer);

class TrustAuthorityService final
    : public v1::TrustAuthority::WithCallbackMethod_Watch<v1::TrustAuthority::Service> {
 public:
  // `heartbeat`: how often a Watch stream sends a checkpoint when idle.
  // `metrics` may be null.
  explicit TrustAuthorityService(Authority* authority, CaMetrics* metrics = nullptr,
                                 std::chrono::milliseconds heartbeat = std::chrono::seconds(30))
      : authority_(authority), metrics_(metrics), watch_streams_(authority, heartbeat) {}
  grpc::Status Enroll(grpc::ServerContext* context, const v1::EnrollRequest* request,
                      v1::EnrollResponse* response) override;
  grpc::Status RenewIdentity(grpc::ServerContext* context, const v1::RenewIdentityRequest* request,
                             v1::RenewIdentityResponse* response) override;
  grpc::Status SignIntermediate(grpc::ServerContext* context,
                                const v1::SignIntermediateRequest* request,
                                v1::SignIntermediateResponse* response) override;
  grpc::Status GetTrustBundle(grpc::ServerContext* context,
                              const v1::GetTrustBundleRequest* request,
                              v1::TrustBundle* response) override;
  grpc::Status Ack(grpc::ServerContext* context, const v1::AckRequest* request,
                   v1::AckResponse* response) override;
  grpc::Status GetCrls(grpc::ServerContext* context, const v1::GetCrlsRequest* request,
                       v1::CrlSet* response) override;
  // Written by a callback reactor: no thread per stream (WatchStreams).
  grpc::ServerWriteReactor<v1::WatchEvent>* Watch(grpc::CallbackServerContext* context,
                                                  const v1::WatchRequest* request) override;

 private:
  Authority* authority_;
  CaMetrics* metrics_;
  WatchStreams watch_streams_;
};

class AdminService final : public v1::Admin::Service {
 public:
  explicit AdminService(Authority* authority) : authority_(authority) {}
  grpc::Status AddCluster(grpc::ServerContext* context, const v1::AddClusterRequest* request,
                          v1::AddClusterResponse* response) override;
  grpc::Status ListClusters(grpc::ServerContext* context, const v1::ListClustersRequest* request,
                            v1::ListClustersResponse* response) override;
  grpc::Status SetClusterEnabled(grpc::ServerContext* context,
                                 const v1::SetClusterEnabledRequest* request,
                                 v1::Cluster* response) override;
  grpc::Status CreateJoinToken(grpc::ServerContext* context,
                               const v1::CreateJoinTokenRequest* request,
                               v1::JoinToken* response) override;
  grpc::Status ListCertificates(grpc::ServerContext* context,
                                const v1::ListCertificatesRequest* request,
                                v1::ListCertificatesResponse* response) override;
  grpc::Status ListAudit(grpc::ServerContext* context, const v1::ListAuditRequest* request,
                         v1::ListAuditResponse* response) override;
  grpc::Status VerifyAudit(grpc::ServerContext* context, const v1::VerifyAuditRequest* request,
                           v1::VerifyAuditResponse* response) override;
  grpc::Status GetAuditCheckpoint(grpc::ServerContext* context,
                                  const v1::GetAuditCheckpointRequest* request,
                                  v1::AuditCheckpoint* response) override;
  grpc::Status Revoke(grpc::ServerContext* context, const v1::RevokeRequest* request,
                      v1::RevokeResponse* response) override;
  grpc::Status ReleaseHold(grpc::ServerContext* context, const v1::ReleaseHoldRequest* request,
                           v1::RevokeResponse* response) override;
  grpc::Status RootRotation(grpc::ServerContext* context, const v1::RootRotationRequest* request,
                            v1::RootRotationStatus* response) override;
  grpc::Status GetMeshStatus(grpc::ServerContext* context, const v1::GetMeshStatusRequest* request,
                             v1::MeshStatus* response) override;
  grpc::Status RotateIntermediate(grpc::ServerContext* context,
                                  const v1::RotateIntermediateRequest* request,
                                  v1::RotateIntermediateResponse* response) override;
  grpc::Status SetIssuanceLimit(grpc::ServerContext* context,
                                const v1::SetIssuanceLimitRequest* request,
                                v1::Cluster* response) override;

 private:
  Authority* authority_;
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_SERVER_GRPC_SERVICE_H_
