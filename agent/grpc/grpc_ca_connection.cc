#include "agent/grpc/grpc_ca_connection.h"

#include "absl/strings/str_cat.h"
#include "meshtrust/v1/meshtrust.grpc.pb.h"

namespace meshtrust::agent {

class GrpcCaConnection::Stub {
 public:
  explicit Stub(std::shared_ptr<grpc::Channel> channel)
      : stub(v1::TrustAuthority::NewStub(channel)) {}
  std::unique_ptr<v1::TrustAuthority::Stub> stub;
};

GrpcCaConnection::GrpcCaConnection(std::shared_ptr<grpc::Channel> channel,
                                   std::chrono::milliseconds timeout, AuditCheckpointGuard* guard)
    : stub_(std::make_unique<Stub>(std::move(channel))), timeout_(timeout), guard_(guard) {}

GrpcCaConnection::~GrpcCaConnection() = default;

namespace {
// The request id lets an operator find the CA's log line for the call.
absl::Status Annotate(const grpc::Status& status, absl::string_view call,
                      absl::string_view request_id) {
  absl::Status s = client::FromGrpcStatus(status);
  return absl::Status(
      s.code(), absl::StrCat("CA refused ", call, " (request ", request_id, "): ", s.message()));
}

// The guard's verdict on an answer's checkpoint; OK without a guard.
template <typename Proto>
absl::Status CheckCheckpoint(AuditCheckpointGuard* guard, const Proto& answer,
                             absl::string_view call, bool required = true) {
  if (guard == nullptr) return absl::OkStatus();
  return guard->Check(client::CheckpointFrom(answer), call, required);
}
}  // namespace

absl::StatusOr<SignedIntermediate> GrpcCaConnection::SignIntermediate(const std::string& cluster,
                                                                      const std::string& csr_der,
                                                                      std::chrono::seconds ttl) {
  v1::SignIntermediateRequest req;
  req.set_cluster(cluster);
  req.set_csr_der(csr_der);
  req.set_ttl_seconds(ttl.count());
  v1::SignIntermediateResponse resp;
  std::string request_id = client::NewRequestId();
  auto ctx = client::NewContext(timeout_, request_id);
  grpc::Status status = stub_->stub->SignIntermediate(ctx.get(), req, &resp);
  if (!status.ok()) return Annotate(status, "SignIntermediate", request_id);
  if (absl::Status s = CheckCheckpoint(guard_, resp, "SignIntermediate"); !s.ok()) return s;
  return SignedIntermediate{
      resp.certificate_pem(), resp.chain_pem(), resp.bundle().roots_pem(),
      resp.bundle().sha256(), resp.serial(),    resp.bundle().endorsements_pem()};
}

absl::StatusOr<TrustBundleInfo> GrpcCaConnection::GetTrustBundle() {
  v1::TrustBundle resp;
  std::string request_id = client::NewRequestId();
  auto ctx = client::NewContext(timeout_, request_id);
  grpc::Status status = stub_->stub->GetTrustBundle(ctx.get(), v1::GetTrustBundleRequest(), &resp);
  if (!status.ok()) return Annotate(status, "GetTrustBundle", request_id);
  return TrustBundleInfo{resp.roots_pem(), resp.sha256(), resp.signing_root_pem(),
                         resp.endorsements_pem()};
}

absl::StatusOr<CrlSetInfo> GrpcCaConnection::GetCrls() {
  v1::CrlSet resp;
  std::string request_id = client::NewRequestId();
  auto ctx = client::NewContext(timeout_, request_id);
  grpc::Status status = stub_->stub->GetCrls(ctx.get(), v1::GetCrlsRequest(), &resp);
  if (!status.ok()) return Annotate(status, "GetCrls", request_id);
  return CrlSetInfo{resp.root_crls_pem(), resp.intermediate_crls_pem(), resp.sha256()};
}

absl::Status GrpcCaConnection::Watch(const std::string& cluster,
                                     const std::function<void(CaEvent)>& on_event) {
  grpc::ClientContext context;  // No deadline: the stream lives until cancelled.
  std::string request_id = client::NewRequestId();
  context.AddMetadata("x-request-id", request_id);
  {
    absl::MutexLock lock(&watch_mu_);
    if (watch_cancelled_) return absl::CancelledError("watch cancelled");
    watch_context_ = &context;
  }
  v1::WatchRequest req;
  req.set_cluster(cluster);
  std::unique_ptr<grpc::ClientReader<v1::WatchEvent>> reader = stub_->stub->Watch(&context, req);
  v1::WatchEvent event;
  absl::Status refused;
  while (reader->Read(&event)) {
    if (event.type() == v1::WatchEvent::CHECKPOINT) {
      refused = CheckCheckpoint(guard_, event, "Watch");
      if (!refused.ok()) {
        context.TryCancel();
        break;
      }
    }
    switch (event.type()) {
      case v1::WatchEvent::BUNDLE_CHANGED:
        on_event(CaEvent::kBundleChanged);
        break;
      case v1::WatchEvent::CRL_CHANGED:
        on_event(CaEvent::kCrlChanged);
        break;
      case v1::WatchEvent::ROTATE_NOW:
        on_event(CaEvent::kRotateNow);
        break;
      default:
        on_event(CaEvent::kHeartbeat);
    }
  }
  grpc::Status status = reader->Finish();
  {
    absl::MutexLock lock(&watch_mu_);
    watch_context_ = nullptr;
  }
  if (!refused.ok()) return refused;
  if (status.ok()) return absl::UnavailableError("the CA closed the watch stream");
  return Annotate(status, "Watch", request_id);
}

void GrpcCaConnection::CancelWatch() {
  absl::MutexLock lock(&watch_mu_);
  watch_cancelled_ = true;
  if (watch_context_ != nullptr) watch_context_->TryCancel();
}

absl::Status GrpcCaConnection::Ack(const std::string& cluster, const std::string& serial,
                                   const std::string& bundle_sha256,
                                   const std::string& intermediate_crl_pem) {
  v1::AckRequest req;
  req.set_cluster(cluster);
  req.set_serial(serial);
  req.set_bundle_sha256(bundle_sha256);
  req.set_intermediate_crl_pem(intermediate_crl_pem);
  v1::AckResponse resp;
  std::string request_id = client::NewRequestId();
  auto ctx = client::NewContext(timeout_, request_id);
  grpc::Status status = stub_->stub->Ack(ctx.get(), req, &resp);
  if (!status.ok()) return Annotate(status, "Ack", request_id);
  // A CA that predates checkpoints in AckResponse sends none.
  return CheckCheckpoint(guard_, resp, "Ack", /*required=*/false);
}

absl::StatusOr<std::string> GrpcCaConnection::RenewIdentity(const std::string& csr_der) {
  v1::RenewIdentityRequest req;
  req.set_csr_der(csr_der);
  v1::RenewIdentityResponse resp;
  std::string request_id = client::NewRequestId();
  auto ctx = client::NewContext(timeout_, request_id);
  grpc::Status status = stub_->stub->RenewIdentity(ctx.get(), req, &resp);
  if (!status.ok()) return Annotate(status, "RenewIdentity", request_id);
  if (absl::Status s = CheckCheckpoint(guard_, resp, "RenewIdentity"); !s.ok()) return s;
  return resp.certificate_pem();
}

}  // namespace meshtrust::agent
