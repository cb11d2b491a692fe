#include "ca/core/authority.h"

namespace meshtrust::ca {

absl::StatusOr<std::unique_ptr<Authority>> Authority::Create(Store* store, keystore::KeyStore* keys,
                                                             const AuditSigner* audit_signer,
                                                             const Clock* clock, ControlCa control,
                                                             AuthorityOptions options) {
  if (control.certificate == nullptr || control.signer == nullptr) {
    return absl::InvalidArgumentError("control CA certificate and key are required");
  }
  std::unique_ptr<Authority> authority(
      new Authority(store, keys, audit_signer, clock, std::move(control), std::move(options)));
  if (absl::Status s = authority->trust_.Reload(); !s.ok()) return s;
  return authority;
}

Authority::Authority(Store* store, keystore::KeyStore* keys, const AuditSigner* audit_signer,
                     const Clock* clock, ControlCa control, AuthorityOptions options)
    : options_(std::move(options)),
      audit_(store, audit_signer, clock, options_.checkpoint_sink),
      trust_(store, keys),
      hub_(options_.max_watch_streams_per_cluster),
      authorizer_(store, clock, &audit_),
      enrollment_(store, clock, &audit_, &authorizer_, std::move(control), &options_),
      issuer_(store, clock, &audit_, &authorizer_, &trust_, &hub_, &options_),
      clusters_(store, clock, &audit_, &authorizer_, &hub_, &options_),
      revocation_(store, clock, &audit_, &authorizer_, &trust_, &hub_, &options_),
      rotation_(store, keys, clock, &audit_, &authorizer_, &trust_, &revocation_, &hub_, &options_),
      mesh_status_(store, clock, &audit_, &authorizer_, &trust_, &rotation_),
      watch_(store, &audit_, &authorizer_, &hub_) {}

absl::StatusOr<IssuedIdentity> Authority::Enroll(absl::string_view token, absl::string_view csr_der,
                                                 absl::string_view source,
                                                 absl::string_view expected_identity) {
  return enrollment_.Enroll(token, csr_der, source, expected_identity);
}

absl::StatusOr<IssuedIdentity> Authority::RenewIdentity(const Caller& caller,
                                                        absl::string_view csr_der) {
  return enrollment_.RenewIdentity(caller, csr_der);
}

absl::StatusOr<IssuedIntermediate> Authority::SignIntermediate(const Caller& caller,
                                                               absl::string_view cluster,
                                                               absl::string_view csr_der,
                                                               std::chrono::seconds ttl) {
  return issuer_.SignIntermediate(caller, cluster, csr_der, ttl);
}

absl::StatusOr<TrustBundle> Authority::GetTrustBundle(const Caller& caller) {
  return issuer_.GetTrustBundle(caller);
}

absl::Status Authority::Ack(const Caller& caller, absl::string_view cluster,
                            absl::string_view serial, absl::string_view bundle_sha256,
                            absl::string_view intermediate_crl_pem) {
  return issuer_.Ack(caller, cluster, serial, bundle_sha256, intermediate_crl_pem);
}

absl::StatusOr<CrlSet> Authority::GetCrls(const Caller& caller) {
  return revocation_.GetCrls(caller);
}

absl::StatusOr<std::shared_ptr<WatchHub::Subscription>> Authority::Watch(
    const Caller& caller, absl::string_view cluster) {
  return watch_.Watch(caller, cluster);
}

absl::StatusOr<Authority::AddClusterResult> Authority::AddCluster(const Caller& caller,
                                                                  absl::string_view name,
                                                                  const ClusterPolicy& policy,
                                                                  std::chrono::seconds token_ttl) {
  return clusters_.AddCluster(caller, name, policy, token_ttl);
}

absl::StatusOr<std::vector<ClusterRecord>> Authority::ListClusters(const Caller& caller) {
  return clusters_.ListClusters(caller);
}

absl::StatusOr<ClusterRecord> Authority::SetClusterEnabled(const Caller& caller,
                                                           absl::string_view name, bool enabled) {
  return clusters_.SetClusterEnabled(caller, name, enabled);
}

absl::StatusOr<NewJoinToken> Authority::CreateJoinToken(const Caller& caller,
                                                        absl::string_view cluster,
                                                        std::chrono::seconds ttl) {
  return clusters_.CreateJoinToken(caller, cluster, ttl);
}

absl::StatusOr<NewJoinToken> Authority::CreateAdminToken(const EnrollmentSubject& admin,
                                                         std::chrono::seconds ttl) {
  return enrollment_.CreateAdminToken(admin, ttl);
}

absl::StatusOr<std::vector<CertificateRecord>> Authority::ListCertificates(
    const Caller& caller, const CertificateFilter& filter) {
  return clusters_.ListCertificates(caller, filter);
}

absl::StatusOr<std::vector<AuditRecord>> Authority::ListAudit(const Caller& caller,
                                                              uint64_t after_sequence, int limit) {
  return clusters_.ListAudit(caller, after_sequence, limit);
}

absl::StatusOr<AuditVerification> Authority::VerifyAudit(const Caller& caller) {
  return clusters_.VerifyAudit(caller);
}

absl::StatusOr<AuditCheckpoint> Authority::GetAuditCheckpoint(const Caller& caller) {
  return clusters_.GetAuditCheckpoint(caller);
}

absl::StatusOr<RevokeResult> Authority::Revoke(const Caller& caller, absl::string_view cluster,
                                               absl::string_view serial, absl::string_view reason) {
  return revocation_.Revoke(caller, cluster, serial, reason);
}

absl::StatusOr<RevokeResult> Authority::ReleaseHold(const Caller& caller,
                                                    absl::string_view serial) {
  return revocation_.ReleaseHold(caller, serial);
}

absl::StatusOr<int> Authority::RotateIntermediate(const Caller& caller, absl::string_view cluster) {
  return clusters_.RotateIntermediate(caller, cluster);
}

absl::StatusOr<ClusterRecord> Authority::SetIssuanceLimit(const Caller& caller,
                                                          absl::string_view name,
                                                          const IssuanceLimit& limit) {
  return clusters_.SetIssuanceLimit(caller, name, limit);
}

absl::StatusOr<RootRotationStatus> Authority::BeginRootRotation(const Caller& caller) {
  return rotation_.Begin(caller);
}

absl::StatusOr<RootRotationStatus> Authority::ActivateRootRotation(const Caller& caller,
                                                                   bool force) {
  return rotation_.Activate(caller, force);
}

absl::StatusOr<RootRotationStatus> Authority::FinishRootRotation(const Caller& caller) {
  return rotation_.Finish(caller);
}

absl::StatusOr<RootRotationStatus> Authority::RootRotation(const Caller& caller) {
  return rotation_.Status(caller);
}

absl::StatusOr<MeshStatusInfo> Authority::MeshStatus(const Caller& caller) {
  return mesh_status_.Read(caller);
}

absl::Status Authority::RefreshCrls(bool force) { return revocation_.RefreshCrls(force); }

absl::StatusOr<std::string> Authority::RootCrlPem(absl::string_view key_id) {
  return revocation_.RootCrlPem(key_id);
}

std::vector<std::string> Authority::RootKeyIds() const { return trust_.RootKeyIds(); }

absl::Status Authority::Reauthorize(const Caller& caller, absl::string_view action) {
  return authorizer_.Reauthorize(caller, action);
}

absl::Status Authority::RefuseMalformed(const Caller& caller, absl::string_view action,
                                        absl::string_view target, absl::Status status) {
  return audit_.Begin(caller, action, target, "").Refuse(std::move(status));
}

TrustBundle Authority::CurrentBundle() const { return trust_.Current()->bundle; }

AuditCheckpoint Authority::Checkpoint() const { return audit_.Checkpoint(); }

absl::StatusOr<RotationPhase> Authority::CurrentRotationPhase() { return rotation_.CurrentPhase(); }

absl::Status Authority::CheckReady() { return trust_.CheckReady(); }

}  // namespace meshtrust::ca
