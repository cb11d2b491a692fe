#include "ca/server/grpc_service.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "pki/certificate.h"
#include "pki/digest.h"
#include "pki/key.h"

namespace meshtrust::ca {
namespace {

void SetTime(TimePoint t, google::protobuf::Timestamp* out) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  out->set_seconds(ns / 1000000000);
  out->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

void ToProto(const AuditCheckpoint& c, v1::AuditCheckpoint* out) {
  out->set_sequence(c.sequence);
  out->set_head_hash(c.head_hash);
  out->set_signature(c.signature);
}

void ToProto(const TrustBundle& b, v1::TrustBundle* out) {
  out->set_roots_pem(b.roots_pem);
  out->set_sha256(b.sha256);
  out->set_signing_root_pem(b.signing_root_pem);
  out->set_endorsements_pem(b.endorsements_pem);
}

void ToProto(const ClusterPolicy& p, v1::ClusterPolicy* out) {
  out->set_trust_domain(p.trust_domain);
  for (pki::KeyAlgorithm alg : p.allowed_keys) {
    out->add_allowed_key_algorithms(std::string(pki::KeyAlgorithmName(alg)));
  }
  out->set_max_ttl_seconds(p.max_ttl.count());
  out->set_name_constraints(p.name_constraints);
  out->mutable_issuance()->set_unlimited(p.issuance.unlimited);
  out->mutable_issuance()->set_burst(p.issuance.burst);
  out->mutable_issuance()->set_refill_every_seconds(p.issuance.refill_every.count());
}

// An unset limit (no field given) is the default.
IssuanceLimit FromProto(const v1::IssuanceLimit& l) {
  IssuanceLimit limit;
  limit.unlimited = l.unlimited();
  if (l.burst() != 0) limit.burst = l.burst();
  if (l.refill_every_seconds() != 0)
    limit.refill_every = std::chrono::seconds(l.refill_every_seconds());
  return limit;
}

void ToProto(const ClusterRecord& c, v1::Cluster* out) {
  out->set_name(c.name);
  out->set_enabled(c.enabled);
  ToProto(c.policy, out->mutable_policy());
  SetTime(c.created, out->mutable_created());
  out->set_current_serial(c.current_serial);
  if (!c.current_serial.empty()) SetTime(c.current_not_after, out->mutable_current_not_after());
  out->set_acked_serial(c.acked_serial);
  out->set_acked_bundle_sha256(c.acked_bundle_sha256);
  if (!c.acked_serial.empty()) {
    SetTime(c.acked_at, out->mutable_acked_at());
    SetTime(c.acked_not_after, out->mutable_acked_not_after());
  }
  if (c.rotation_requested) SetTime(c.rotation_requested_at, out->mutable_rotation_requested_at());
}

void ToProto(const RootRotationStatus& status, v1::RootRotationStatus* response) {
  response->set_phase(std::string(RotationPhaseName(status.phase)));
  for (const auto& r : status.roots) {
    v1::RootRotationStatus::Root* out = response->add_roots();
    out->set_key_id(r.key_id);
    out->set_status(std::string(RootStatusName(r.status)));
    out->set_sha256(r.sha256);
  }
  for (const auto& c : status.clusters) {
    v1::RootRotationStatus::ClusterState* out = response->add_clusters();
    out->set_name(c.name);
    out->set_enabled(c.enabled);
    out->set_acked_bundle(c.acked_bundle);
    out->set_on_signing_root(c.on_signing_root);
  }
  if (status.phase == RotationPhase::kActivated)
    SetTime(status.activated_at, response->mutable_activated_at());
  response->set_blocking(status.blocking);
}

void ToProto(const NewJoinToken& t, v1::JoinToken* out) {
  out->set_token(t.token);
  absl::StatusOr<EnrollmentSubject> subject = EnrollmentSubject::Parse(t.subject);
  out->set_cluster(subject.ok() ? subject->name : t.subject);
  SetTime(t.expires, out->mutable_expires());
}

absl::StatusOr<ClusterPolicy> FromProto(const v1::ClusterPolicy& p) {
  ClusterPolicy policy;
  if (!p.trust_domain().empty()) policy.trust_domain = p.trust_domain();
  if (p.allowed_key_algorithms_size() > 0) {
    policy.allowed_keys.clear();
    for (const std::string& name : p.allowed_key_algorithms()) {
      absl::StatusOr<pki::KeyAlgorithm> alg = pki::ParseKeyAlgorithm(name);
      if (!alg.ok()) return alg.status();
      policy.allowed_keys.push_back(*alg);
    }
  }
  if (p.max_ttl_seconds() != 0) policy.max_ttl = std::chrono::seconds(p.max_ttl_seconds());
  policy.name_constraints = p.name_constraints();
  policy.issuance = FromProto(p.issuance());
  return policy;
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

namespace {

// Callers by their certificate: a caller is a pure function of the
// certificate the TLS layer verified, and parsing one costs more than most
// calls (OpenSSL 3 decodes its key through the provider machinery), while an
// agent presents the same certificate on every call. Keyed by the SHA-256 of
// the PEM; bounded, and emptied when full.
class CallerCache {
 public:
  absl::StatusOr<Caller> Get(absl::string_view pem) ABSL_LOCKS_EXCLUDED(mu_) {
    std::string key = pki::Sha256Hex(pem);
    {
      absl::MutexLock lock(&mu_);
      if (auto it = callers_.find(key); it != callers_.end()) return it->second;
    }
    absl::StatusOr<ossl::UniquePtr<X509>> cert = pki::ParseCertificatePem(pem);
    if (!cert.ok()) {
      return absl::UnauthenticatedError(
          absl::StrCat("client certificate is unreadable: ", cert.status().message()));
    }
    absl::StatusOr<Caller> caller = CallerFromCertificate(cert->get());
    if (!caller.ok()) return caller.status();
    absl::MutexLock lock(&mu_);
    if (callers_.size() >= kMaxCallers) callers_.clear();
    callers_.emplace(std::move(key), *caller);
    return caller;
  }

 private:
  static constexpr size_t kMaxCallers = 16384;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Caller> callers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<Caller> CallerFromContext(const grpc::ServerContextBase* context) {
  static CallerCache* const cache = new CallerCache();
  std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  if (auth == nullptr) return Caller::Anonymous();
  std::vector<grpc::string_ref> pems = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pems.empty()) return Caller::Anonymous();
  return cache->Get(absl::string_view(pems[0].data(), pems[0].size()));
}

std::string SourceAddress(absl::string_view peer) {
  if (absl::ConsumePrefix(&peer, "ipv4:")) {
    size_t colon = peer.rfind(':');
    return std::string(peer.substr(0, colon));
  }
  if (absl::ConsumePrefix(&peer, "ipv6:[")) {
    std::string host(peer.substr(0, peer.find(']')));
    if (size_t zone = host.find('%'); zone != std::string::npos) host.resize(zone);
    in6_addr addr;
    if (inet_pton(AF_INET6, host.c_str(), &addr) != 1) return host;
    std::memset(addr.s6_addr + 8, 0, 8);
    char text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &addr, text, sizeof(text));
    return absl::StrCat(text, "/64");
  }
  return std::string(peer);
}

// Every handler is named after its RPC, so __func__ names the audited action.
#define MESHTRUST_CALLER_OR_RETURN(caller, context)                                       \
  absl::StatusOr<Caller> caller = CallerFromContext(context);                             \
  if (!caller.ok()) {                                                                     \
    return ToGrpcStatus(                                                                  \
        authority_->RefuseMalformed(Caller::Anonymous(), __func__, "", caller.status())); \
  }

grpc::Status TrustAuthorityService::Enroll(grpc::ServerContext* context,
                                           const v1::EnrollRequest* request,
                                           v1::EnrollResponse* response) {
  absl::StatusOr<IssuedIdentity> issued =
      authority_->Enroll(request->token(), request->csr_der(), SourceAddress(context->peer()),
                         request->expected_identity());
  if (!issued.ok()) return ToGrpcStatus(issued.status());
  response->set_identity(issued->identity);
  response->set_certificate_pem(issued->certificate_pem);
  response->set_control_ca_pem(issued->control_ca_pem);
  ToProto(issued->checkpoint, response->mutable_checkpoint());
  response->set_audit_public_key(authority_->AuditPublicKey());
  return grpc::Status::OK;
}

grpc::Status TrustAuthorityService::RenewIdentity(grpc::ServerContext* context,
                                                  const v1::RenewIdentityRequest* request,
                                                  v1::RenewIdentityResponse* response) {
  MESHTRUST_CALLER_OR_RETURN(caller, context);
  absl::StatusOr<IssuedIdentity> issued = authority_->RenewIdentity(*caller, request->csr_der());
  if (!issued.ok()) return ToGrpcStatus(issued.status());
  response->set_certificate_pem(issued->certificate_pem);
  ToProto(issued->checkpoint, response->mutable_checkpoint());
  return grpc::Status::OK;
}

grpc::Status TrustAuthorityService::SignIntermediate(grpc::ServerContext* context,
                                                     const v1::SignIntermediateRequest* request,
                                                     v1::SignIntermediateResponse* response) {
  auto start = std::chrono::steady_clock::now();
  MESHTRUST_CALLER_OR_RETURN(caller, context);
  absl::StatusOr<IssuedIntermediate> issued =
      authority_->SignIntermediate(*caller, request->cluster(), request->csr_der(),
                                   std::chrono::seconds(request->ttl_seconds()));
  if (metrics_ != nullptr) {
    metrics_->RecordSigning(issued.status(), std::chrono::steady_clock::now() - start);
  }
  if (!issued.ok()) return ToGrpcStatus(issued.status());
  response->set_certificate_pem(issued->certificate_pem);
  response->set_chain_pem(issued->chain_pem);
  ToProto(issued->bundle, response->mutable_bundle());
  response->set_serial(issued->serial);
  SetTime(issued->not_after, response->mutable_not_after());
  ToProto(issued->checkpoint, response->mutable_checkpoint());
  return grpc::Status::OK;
}

grpc::Status TrustAuthorityService::GetTrustBundle(grpc::ServerContext* context,
                                                   const v1::GetTrustBundleRequest* request,
                                                   v1::TrustBundle* response) {
  MESHTRUST_CALLER_OR_RETURN(caller, context);
  absl::StatusOr<TrustBundle> bundle = authority_->GetTrustBundle(*caller);
  if (!bundle.ok()) return ToGrpcStatus(bundle.status());
  ToProto(*bundle, response);
  return grpc::Status::OK;
}

grpc::Status TrustAuthorityService::Ack(grpc::ServerContext* context, const v1::AckRequest* request,
                                        v1::AckResponse* response) {
  MESHTRUST_CALLER_OR_RETURN(caller, context);
  absl::Status acked = authority_->Ack(*caller, request->cluster(), request->serial(),
                                       request->bundle_sha256(), request->intermediate_crl_pem());
  if (!acked.ok()) return ToGrpcStatus(acked);
  ToProto(authority_->Checkpoint(), response->mutable_checkpoint());
  return grpc::Status::OK;
}

grpc::Status TrustAuthorityService::GetCrls(grpc::ServerContext* context,
                                            const v1::GetCrlsRequest* request,
                                            v1::CrlSet* response) {
  MESHTRUST_CALLER_OR_RETURN(caller, context);
  absl::StatusOr<CrlSet> set = authority_->GetCrls(*caller);
  if (!set.ok()) return ToGrpcStatus(set.status());
  response->set_root_crls_pem(set->root_crls_pem);
  response->set_intermediate_crls_pem(set->intermediate_crls_pem);
  response->set_sha256(set->sha256);
  return grpc::Status::OK;
}

grpc::Status AdminService::AddCluster(grpc::ServerContext* context,
                                      const v1::AddClusterRequest* request,
                                      v1::AddClusterResponse* response) {
  MESHTRUST_CALLER_OR_RETURN(caller, context);
  absl::StatusOr<ClusterPolicy> policy = FromProto(request->policy());
  if (!policy.ok()) {
    return ToGrpcStatus(
        authority_->RefuseMalformed(*caller, "AddCluster", request->name(), policy.status()));
  }
  absl::StatusOr<Authority::AddClusterResult> result = authority_->AddCluster(
      *caller, request->name(), *policy, std::chrono::seconds(request->token_ttl_seconds()));
  if (!result.ok()) return ToGrpcStatus(result.status());
  ToProto(result->cluster, response->mutable_cluster());
  ToProto(result->token, response->mutable_token());
  return grpc::Status::OK;
}

grpc::Status AdminService::ListClusters(grpc::ServerContext* context,
                                        const v1::ListClustersRequest* request,
                                        v1::ListClustersResponse* response) {
  MESHTRUST_CALLER_OR_RETURN(caller, context);
  absl::StatusOr<std::vector<ClusterRecord>> clusters = authority_->ListClusters(*caller);
  if (!clusters.ok()) return ToGrpcStatus(clusters.status());
  for (const ClusterRecord& c : *clusters) ToProto(c, response->add_clusters());
  return grpc::Status::OK;
}

grpc::Status AdminService::SetClusterEnabled(grpc::ServerContext* context,
                                             const v1::SetClusterEnabledRequest* request,
                                             v1::Cluster* response) {
  MESHTRUST_CALLER_OR_RETURN(caller, context);
  absl::StatusOr<ClusterRecord> cluster =
      authority_->SetClusterEnabled(*caller, request->name(), request->enabled());
  if (!cluster.ok()) return ToGrpcStatus(cluster.status());
  ToProto(*cluster, response);
  return grpc::Status::OK;
}

grpc::Status AdminService::CreateJoinToken(grpc::ServerContext* context,
                                           const v1::CreateJoinTokenRequest* request,
                                           v1::JoinToken* response) {
  MESHTRUST_CALLER_OR_RETURN(caller, context);
  absl::StatusOr<NewJoinToken> token = authority_->CreateJoinToken(
      *caller, request->cluster(), std::chrono::seconds(request->ttl_seconds()));
  if (!token.ok()) return ToGrpcStatus(token.status());
  ToProto(*token, response);
  return grpc::Status::OK;
}

grpc::Status AdminService::ListCertificates(grpc::ServerContext* context,
                                            const v1::ListCertificatesRequest* request,
                                            v1::ListCertificatesResponse* response) {
  MESHTRUST_CALLER_OR_RETURN(caller, context);
  CertificateFilter filter{request->cluster(), request->kind(), request->limit()};
  absl::StatusOr<std::vector<CertificateRecord>> certs =
      authority_->ListCertificates(*caller, filter);
  if (!certs.ok()) return ToGrpcStatus(certs.status());
  for (const CertificateRecord& c : *certs) {
    v1::CertificateRecord* out = response->add_certificates();
    out->set_serial(c.serial);
    out->set_kind(c.kind);
    out->set_subject_name(c.subject_name);
    out->set_subject(c.subject);
    SetTime(c.not_before, out->mutable_not_before());
    SetTime(c.not_after, out->mutable_not_after());
    out->set_certificate_pem(c.certificate_pem);
    out->set_revoked(c.revoked);
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::ListAudit(grpc::ServerContext* context,
                                     const v1::ListAuditRequest* request,
                                     v1::ListAuditResponse* response) {
  MESHTRUST_CALLER_OR_RETURN(caller, context);
  absl::StatusOr<std::vector<AuditRecord>> records =
      authority_->ListAudit(*caller, request->after_sequence(), request->limit());
  if (!records.ok()) return ToGrpcStatus(records.status());
  for (const AuditRecord& r : *records) {
    v1::AuditRecord* out = response->add_records();
    out->set_sequence(r.sequence);
    SetTime(r.event.time, out->mutable_time());
    out->set_caller(r.event.caller);
    out->set_action(r.event.action);
    out->set_target(r.event.target);
    out->set_request_sha256(r.event.request_sha256);
    out->set_result(r.event.result);
    out->set_serial(r.event.serial);
    out->set_hash(r.hash);
    out->set_signature(r.signature);
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::VerifyAudit(grpc::ServerContext* context,
                                       const v1::VerifyAuditRequest* request,
                                       v1::VerifyAuditResponse* response) {
  MESHTRUST_CALLER_OR_RETURN(caller, context);
  absl::StatusOr<AuditVerification> result = authority_->VerifyAudit(*caller);
  if (!result.ok()) return ToGrpcStatus(result.status());
  response->set_ok(result->ok);
  response->set_records_checked(result->records_checked);
  response->set_first_bad_sequence(result->first_bad_sequence);
  response->set_problem(result->problem);
  ToProto(result->checkpoint, response->mutable_checkpoint());
  return grpc::Status::OK;
}

grpc::Status AdminService::GetAuditCheckpoint(grpc::ServerContext* context,
                                              const v1::GetAuditCheckpointRequest* request,
                                              v1::AuditCheckpoint* response) {
  MESHTRUST_CALLER_OR_RETURN(caller, context);
  absl::StatusOr<AuditCheckpoint> checkpoint = authority_->GetAuditCheckpoint(*caller);
  if (!checkpoint.ok()) return ToGrpcStatus(checkpoint.status());
  ToProto(*checkpoint, response);
  return grpc::Status::OK;
}

grpc::ServerWriteReactor<v1::WatchEvent>* TrustAuthorityService::Watch(
    grpc::CallbackServerContext* context, const v1::WatchRequest* request) {
  absl::StatusOr<Caller> caller = CallerFromContext(context);
  if (!caller.ok()) {
    return WatchStreams::Refuse(ToGrpcStatus(
        authority_->RefuseMalformed(Caller::Anonymous(), "Watch", "", caller.status())));
  }
  absl::StatusOr<std::shared_ptr<WatchHub::Subscription>> sub =
      authority_->Watch(*caller, request->cluster());
  if (!sub.ok()) return WatchStreams::Refuse(ToGrpcStatus(sub.status()));
  return watch_streams_.Open(*caller, *std::move(sub));
}

grpc::Status AdminService::RootRotation(grpc::ServerContext* context,
                                        const v1::RootRotationRequest* request,
                                        v1::RootRotationStatus* response) {
  MESHTRUST_CALLER_OR_RETURN(caller, context);
  absl::StatusOr<RootRotationStatus> status;
  switch (request->action()) {
    case v1::RootRotationRequest::BEGIN:
      status = authority_->BeginRootRotation(*caller);
      break;
    case v1::RootRotationRequest::ACTIVATE:
      status = authority_->ActivateRootRotation(*caller, request->force());
      break;
    case v1::RootRotationRequest::FINISH:
      status = authority_->FinishRootRotation(*caller);
      break;
    case v1::RootRotationRequest::STATUS:
      status = authority_->RootRotation(*caller);
      break;
    default:
      return ToGrpcStatus(authority_->RefuseMalformed(
          *caller, "RootRotation", "",
          absl::InvalidArgumentError(absl::StrCat("unknown root rotation action ",
                                                  request->action(),
                                                  "; use STATUS, BEGIN, ACTIVATE or FINISH"))));
  }
  if (!status.ok()) return ToGrpcStatus(status.status());
  ToProto(*status, response);
  return grpc::Status::OK;
}

grpc::Status AdminService::GetMeshStatus(grpc::ServerContext* context,
                                         const v1::GetMeshStatusRequest* request,
                                         v1::MeshStatus* response) {
  MESHTRUST_CALLER_OR_RETURN(caller, context);
  absl::StatusOr<MeshStatusInfo> status = authority_->MeshStatus(*caller);
  if (!status.ok()) return ToGrpcStatus(status.status());
  for (const ClusterRecord& c : status->clusters) ToProto(c, response->add_clusters());
  ToProto(status->rotation, response->mutable_rotation());
  for (const CrlRecord& c : status->crls) {
    v1::MeshStatus::RootCrl* out = response->add_crls();
    out->set_root_key_id(c.root_key_id);
    out->set_number(c.number);
    SetTime(c.this_update, out->mutable_this_update());
    SetTime(c.next_update, out->mutable_next_update());
  }
  response->set_bundle_sha256(status->bundle_sha256);
  response->set_audit_head(status->audit_head);
  SetTime(status->now, response->mutable_now());
  return grpc::Status::OK;
}

grpc::Status AdminService::RotateIntermediate(grpc::ServerContext* context,
                                              const v1::RotateIntermediateRequest* request,
                                              v1::RotateIntermediateResponse* response) {
  MESHTRUST_CALLER_OR_RETURN(caller, context);
  absl::StatusOr<int> notified = authority_->RotateIntermediate(*caller, request->cluster());
  if (!notified.ok()) return ToGrpcStatus(notified.status());
  response->set_agents_notified(*notified);
  return grpc::Status::OK;
}

grpc::Status AdminService::SetIssuanceLimit(grpc::ServerContext* context,
                                            const v1::SetIssuanceLimitRequest* request,
                                            v1::Cluster* response) {
  MESHTRUST_CALLER_OR_RETURN(caller, context);
  absl::StatusOr<ClusterRecord> cluster =
      authority_->SetIssuanceLimit(*caller, request->name(), FromProto(request->limit()));
  if (!cluster.ok()) return ToGrpcStatus(cluster.status());
  ToProto(*cluster, response);
  return grpc::Status::OK;
}

grpc::Status AdminService::Revoke(grpc::ServerContext* context, const v1::RevokeRequest* request,
                                  v1::RevokeResponse* response) {
  MESHTRUST_CALLER_OR_RETURN(caller, context);
  absl::StatusOr<RevokeResult> result =
      authority_->Revoke(*caller, request->cluster(), request->serial(), request->reason());
  if (!result.ok()) return ToGrpcStatus(result.status());
  for (const std::string& serial : result->serials) response->add_revoked_serials(serial);
  response->set_crl_number(result->crl_number);
  return grpc::Status::OK;
}

grpc::Status AdminService::ReleaseHold(grpc::ServerContext* context,
                                       const v1::ReleaseHoldRequest* request,
                                       v1::RevokeResponse* response) {
  MESHTRUST_CALLER_OR_RETURN(caller, context);
  absl::StatusOr<RevokeResult> result = authority_->ReleaseHold(*caller, request->serial());
  if (!result.ok()) return ToGrpcStatus(result.status());
  for (const std::string& serial : result->serials) response->add_revoked_serials(serial);
  response->set_crl_number(result->crl_number);
  return grpc::Status::OK;
}

}  // namespace meshtrust::ca
