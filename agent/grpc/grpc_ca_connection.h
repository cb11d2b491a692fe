// CaConnection over gRPC with the agent's mTLS identity: translates calls to
// protobuf and grpc::Status to absl::Status (with a request id the CA logs),
// and decides nothing: every audit checkpoint an answer carries goes to the
// AuditCheckpointGuard, and an answer it refuses is returned as that error.
// Thread safety as CaConnection.
#ifndef MESHTRUST_AGENT_GRPC_GRPC_CA_CONNECTION_H_
#define MESHTRUST_AGENT_GRPC_GRPC_CA_CONNECTION_H_

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/core/audit_checkpoint_guard.h"
#include "agent/core/ca_connection.h"
#include "client/ca_client.h"

namespace meshtrust::v1 {
class TrustAuthority;
}

namespace meshtrust::agent {

class GrpcCaConnection final : public CaConnection {
 public:
  // `guard` (may be null: checkpoints unchecked) must outlive the connection.
  GrpcCaConnection(std::shared_ptr<grpc::Channel> channel, std::chrono::milliseconds timeout,
                   AuditCheckpointGuard* guard = nullptr);
  ~GrpcCaConnection() override;
  absl::StatusOr<SignedIntermediate> SignIntermediate(const std::string& cluster,
                                                      const std::string& csr_der,
                                                      std::chrono::seconds ttl) override;
  absl::StatusOr<TrustBundleInfo> GetTrustBundle() override;
  absl::StatusOr<CrlSetInfo> GetCrls() override;
  absl::Status Watch(const std::string& cluster,
                     const std::function<void(CaEvent)>& on_event) override
      ABSL_LOCKS_EXCLUDED(watch_mu_);
  void CancelWatch() override ABSL_LOCKS_EXCLUDED(watch_mu_);
  absl::Status Ack(const std::string& cluster, const std::string& serial,
                   const std::string& bundle_sha256,
                   const std::string& intermediate_crl_pem) override;
  absl::StatusOr<std::string> RenewIdentity(const std::string& csr_der) override;

 private:
  class Stub;
  std::unique_ptr<Stub> stub_;
  std::chrono::milliseconds timeout_;
  AuditCheckpointGuard* guard_;
  absl::Mutex watch_mu_;
  grpc::ClientContext* watch_context_ ABSL_GUARDED_BY(watch_mu_) = nullptr;
  bool watch_cancelled_ ABSL_GUARDED_BY(watch_mu_) = false;
};

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_GRPC_GRPC_CA_CONNECTION_H_
