// Authority: the CA's domain core, as the transport sees it. It
// authenticates nothing itself (the transport hands it a verified Caller),
// but every call is authorized, decided and audited by one of its parts:
//
//   Authorizer          may this caller make this call
//   Enrollment          identities from the control CA, join tokens
//   IntermediateIssuer  cluster intermediates, the trust bundle, acks
//   ClusterAdmin        the cluster registry, listings, audit verification
//   Revocation          revoking, and each root's CRL
//   RootRotator         replacing the mesh root in three phases
//   MeshStatusReport    the state of the whole mesh
//   AgentWatch          agents' event streams
//
// sharing one TrustState (roots, signing CA, bundle), one AuditTrail (every
// decision goes through an AuditedCall) and one WatchHub. This class only
// wires them and forwards.
//
// It knows nothing of gRPC; ca/server/grpc_service.cc translates.
// Thread safe: no lock is held while signing.
#ifndef MESHTRUST_CA_CORE_AUTHORITY_H_
#define MESHTRUST_CA_CORE_AUTHORITY_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/clock.h"
#include "ca/audit/audit_chain.h"
#include "ca/audit/audit_verify.h"
#include "ca/core/agent_watch.h"
#include "ca/core/audited_call.h"
#include "ca/core/authority_options.h"
#include "ca/core/authorizer.h"
#include "ca/core/cluster_admin.h"
#include "ca/core/enrollment.h"
#include "ca/core/identity.h"
#include "ca/core/intermediate_issuer.h"
#include "ca/core/issuance.h"
#include "ca/core/join_token.h"
#include "ca/core/mesh_status.h"
#include "ca/core/policy.h"
#include "ca/core/revocation.h"
#include "ca/core/root_rotation.h"
#include "ca/core/states.h"
#include "ca/core/trust_state.h"
#include "ca/core/watch_hub.h"
#include "ca/store/store.h"
#include "keystore/keystore.h"

namespace meshtrust::ca {

class Authority {
 public:
  using AddClusterResult = ::meshtrust::ca::AddClusterResult;

  // `store`, `keys`, `audit_signer` and `clock` must outlive the Authority.
  // Loads the mesh roots from the store and their keys from the keystore.
  static absl::StatusOr<std::unique_ptr<Authority>> Create(Store* store, keystore::KeyStore* keys,
                                                           const AuditSigner* audit_signer,
                                                           const Clock* clock, ControlCa control,
                                                           AuthorityOptions options);

  // --- Agents (and admins enrolling) ---
  // `source` is where the call came from (an IP address, or "local"), for
  // the per-source limit on invalid tokens and the audit record. A non-empty
  // `expected_identity` that the token does not enroll is refused before
  // the token is spent.
  absl::StatusOr<IssuedIdentity> Enroll(absl::string_view token, absl::string_view csr_der,
                                        absl::string_view source = "local",
                                        absl::string_view expected_identity = "");
  absl::StatusOr<IssuedIdentity> RenewIdentity(const Caller& caller, absl::string_view csr_der);
  absl::StatusOr<IssuedIntermediate> SignIntermediate(const Caller& caller,
                                                      absl::string_view cluster,
                                                      absl::string_view csr_der,
                                                      std::chrono::seconds ttl);
  absl::StatusOr<TrustBundle> GetTrustBundle(const Caller& caller);
  // `intermediate_crl_pem`, when given, must be a CRL signed by `serial`.
  absl::Status Ack(const Caller& caller, absl::string_view cluster, absl::string_view serial,
                   absl::string_view bundle_sha256, absl::string_view intermediate_crl_pem = "");
  absl::StatusOr<CrlSet> GetCrls(const Caller& caller);
  // Events for the caller's cluster until the subscription is dropped.
  absl::StatusOr<std::shared_ptr<WatchHub::Subscription>> Watch(const Caller& caller,
                                                                absl::string_view cluster);

  // --- Admins ---
  absl::StatusOr<AddClusterResult> AddCluster(const Caller& caller, absl::string_view name,
                                              const ClusterPolicy& policy,
                                              std::chrono::seconds token_ttl);
  absl::StatusOr<std::vector<ClusterRecord>> ListClusters(const Caller& caller);
  absl::StatusOr<ClusterRecord> SetClusterEnabled(const Caller& caller, absl::string_view name,
                                                  bool enabled);
  absl::StatusOr<NewJoinToken> CreateJoinToken(const Caller& caller, absl::string_view cluster,
                                               std::chrono::seconds ttl);
  // A token that enrolls an admin. Only for the local, offline operator of
  // the CA (meshtrust-ca admin-token), never over the network.
  absl::StatusOr<NewJoinToken> CreateAdminToken(const EnrollmentSubject& admin,
                                                std::chrono::seconds ttl);
  absl::StatusOr<std::vector<CertificateRecord>> ListCertificates(const Caller& caller,
                                                                  const CertificateFilter& filter);
  absl::StatusOr<std::vector<AuditRecord>> ListAudit(const Caller& caller, uint64_t after_sequence,
                                                     int limit);
  absl::StatusOr<AuditVerification> VerifyAudit(const Caller& caller);
  absl::StatusOr<AuditCheckpoint> GetAuditCheckpoint(const Caller& caller);
  // The key that verifies the audit log (32 raw bytes), handed to clients
  // at enrollment.
  const std::string& AuditPublicKey() const { return audit_.public_key(); }
  // Revokes every intermediate (and the agent identity) of `cluster` and
  // disables it, or, with an empty `cluster`, the one certificate `serial`;
  // then re-signs the CRLs.
  absl::StatusOr<RevokeResult> Revoke(const Caller& caller, absl::string_view cluster,
                                      absl::string_view serial, absl::string_view reason);
  // Releases the hold on `serial` (revoked with certificateHold) and
  // re-signs the CRLs; see Revocation::ReleaseHold.
  absl::StatusOr<RevokeResult> ReleaseHold(const Caller& caller, absl::string_view serial);

  // Asks `cluster`'s agent to re-key; returns how many of its agents were
  // listening. 0 is not an error: the request is durable and reaches the
  // agent when it next connects (ClusterAdmin::RotateIntermediate).
  absl::StatusOr<int> RotateIntermediate(const Caller& caller, absl::string_view cluster);
  // Changes or lifts a cluster's issuance limit.
  absl::StatusOr<ClusterRecord> SetIssuanceLimit(const Caller& caller, absl::string_view name,
                                                 const IssuanceLimit& limit);

  // Root rotation, in three phases gated on acknowledgements
  // (ca/core/root_rotation.h).
  absl::StatusOr<RootRotationStatus> BeginRootRotation(const Caller& caller);
  absl::StatusOr<RootRotationStatus> ActivateRootRotation(const Caller& caller, bool force);
  absl::StatusOr<RootRotationStatus> FinishRootRotation(const Caller& caller);
  absl::StatusOr<RootRotationStatus> RootRotation(const Caller& caller);
  // The state of the whole mesh, for operators and auditors.
  absl::StatusOr<MeshStatusInfo> MeshStatus(const Caller& caller);

  // Re-signs each root's CRL when it is missing, half-way to nextUpdate, or
  // (with `force`) always. Safe to call from a timer.
  absl::Status RefreshCrls(bool force = false);
  // The current CRL of the root `key_id`, PEM; kNotFound for unknown roots.
  absl::StatusOr<std::string> RootCrlPem(absl::string_view key_id);
  // The key ids of the roots, oldest first.
  std::vector<std::string> RootKeyIds() const;

  // For long-lived calls (Watch streams): OK while `caller` may still make
  // the call it started — its identity neither revoked nor expired, its
  // cluster enabled. A refusal is audited as `action`.
  absl::Status Reauthorize(const Caller& caller, absl::string_view action);

  // Records the refusal of a request the transport could not even turn into
  // a call (an unreadable client certificate, an unknown enum value, an
  // unknown key algorithm name) and returns `status`.
  absl::Status RefuseMalformed(const Caller& caller, absl::string_view action,
                               absl::string_view target, absl::Status status);

  TrustBundle CurrentBundle() const;
  AuditCheckpoint Checkpoint() const;

  // For metrics and health checks; no caller, no audit record.
  // The stored root rotation phase; kDataLoss when it is unreadable.
  absl::StatusOr<RotationPhase> CurrentRotationPhase();
  int WatchStreams() { return hub_.Subscribers(); }
  int WatchStreamsOf(const std::string& cluster) { return hub_.SubscribersOf(cluster); }
  // Source addresses refused right now for guessing join tokens.
  size_t ThrottledEnrollSources() { return enrollment_.ThrottledSources(); }
  // Clusters refused right now for exceeding their issuance limit, for
  // intermediates (kIntermediate) or identity renewals (kAgentIdentity).
  size_t ThrottledClusters(CertificateKind kind) {
    return kind == CertificateKind::kIntermediate ? issuer_.ThrottledClusters()
                                                  : enrollment_.ThrottledRenewals();
  }
  // OK when the store answers and the active root's key can be unsealed.
  absl::Status CheckReady();

 private:
  Authority(Store* store, keystore::KeyStore* keys, const AuditSigner* audit_signer,
            const Clock* clock, ControlCa control, AuthorityOptions options);

  const AuthorityOptions options_;
  const AuditTrail audit_;
  TrustState trust_;
  WatchHub hub_;
  const Authorizer authorizer_;
  Enrollment enrollment_;
  IntermediateIssuer issuer_;
  ClusterAdmin clusters_;
  Revocation revocation_;
  RootRotator rotation_;
  MeshStatusReport mesh_status_;
  AgentWatch watch_;
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_AUTHORITY_H_
