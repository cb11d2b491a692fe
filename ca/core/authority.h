// Authority: the CA's domain core. It authenticates nothing itself (the
// transport hands it a verified Caller), but it authorizes every call,
// applies the cluster policy, builds certificates from its own templates,
// and records every decision — issuance or refusal — in the audit log.
//
// It knows nothing of gRPC; ca/grpc_service.cc translates.
// Thread safe: no lock is held while signing.
#ifndef MESHTRUST_CA_CORE_AUTHORITY_H_
#define MESHTRUST_CA_CORE_AUTHORITY_H_

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/clock.h"
#include "ca/audit/audit_chain.h"
#include "ca/audit/audit_verify.h"
#include "ca/core/audited_call.h"
#include "ca/core/enroll_limiter.h"
#include "ca/core/identity.h"
#include "ca/core/policy.h"
#include "ca/core/watch_hub.h"
#include "ca/store/store.h"
#include "keystore/keystore.h"
#include "pki/ossl.h"

namespace meshtrust::ca {

struct AuthorityOptions {
  std::string organization = "meshtrust";
  std::chrono::seconds identity_ttl = std::chrono::hours(24);
  std::chrono::seconds default_token_ttl = std::chrono::hours(1);
  std::chrono::seconds max_token_ttl = std::chrono::hours(24 * 7);
  // notBefore is set this far in the past, for clusters whose clocks lag.
  std::chrono::seconds backdate = std::chrono::minutes(5);
  // The CA's public HTTP base URL (e.g. http://meshtrust-ca:8080). When set,
  // intermediates carry cRLDistributionPoints <public_url>/crl/<root>.der.
  std::string public_url;
  // Root CRLs are valid this long and re-signed once half of it has passed.
  std::chrono::seconds crl_validity = std::chrono::hours(24 * 7);
  // How long after activation a root rotation may finish: at least the
  // workload certificate TTL, so no workload still holds a chain to the old
  // root.
  std::chrono::seconds root_rotation_soak = std::chrono::hours(24);
  // Failed join-token guesses allowed per source address (ca/enroll_limiter.h).
  EnrollLimits enroll_limits;
};

struct RootRotationStatus {
  std::string phase;  // "idle", "begun" or "activated".
  struct Root {
    std::string key_id;
    std::string status;  // active, trusted, retired
    std::string sha256;  // Of the certificate.
  };
  std::vector<Root> roots;
  struct ClusterState {
    std::string name;
    bool enabled = false;
    bool acked_bundle = false;     // Acked the current bundle.
    bool on_signing_root = false;  // Its acked intermediate is from the signing root.
  };
  std::vector<ClusterState> clusters;
  TimePoint activated_at;
  std::string blocking;  // Why the next phase would be refused now; "" if it would not.
};

struct MeshStatusInfo {
  std::vector<ClusterRecord> clusters;
  RootRotationStatus rotation;
  std::vector<CrlRecord> crls;  // Of the roots in the bundle.
  std::string bundle_sha256;
  uint64_t audit_head = 0;
  TimePoint now;
};

// The control CA: signs client identities (and the server certificate).
struct ControlCa {
  ossl::UniquePtr<X509> certificate;
  ossl::UniquePtr<EVP_PKEY> key;
};

struct TrustBundle {
  std::string roots_pem;         // Oldest root first.
  std::string sha256;            // Hex SHA-256 of roots_pem.
  std::string signing_root_pem;  // The anchor that signs new intermediates.
};

struct IssuedIdentity {
  std::string identity;
  std::string certificate_pem;
  std::string control_ca_pem;
  AuditCheckpoint checkpoint;
};

struct IssuedIntermediate {
  std::string certificate_pem;
  std::string chain_pem;  // Intermediate, signing CA, CAs above it, the anchor.
  TrustBundle bundle;
  std::string serial;
  TimePoint not_after;
  AuditCheckpoint checkpoint;
};

struct CrlSet {
  std::string root_crls_pem;  // One per trusted root, oldest root first.
  // The latest CRL of every unexpired intermediate (by cluster), except the
  // caller's current one.
  std::string intermediate_crls_pem;
  std::string sha256;  // Of both, concatenated.
};

struct RevokeResult {
  std::vector<std::string> serials;
  uint64_t crl_number = 0;
};

struct NewJoinToken {
  std::string token;  // Shown once.
  std::string subject;
  TimePoint expires;
};

class Authority {
 public:
  // `store`, `keys`, `audit_signer` and `clock` must outlive the Authority.
  // Loads the mesh roots from the store and the active root's key from the
  // keystore.
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
  struct AddClusterResult {
    ClusterRecord cluster;
    NewJoinToken token;
  };
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
  // Revokes every intermediate (and the agent identity) of `cluster` and
  // disables it, or, with an empty `cluster`, the one certificate `serial`;
  // then re-signs the CRLs.
  absl::StatusOr<RevokeResult> Revoke(const Caller& caller, absl::string_view cluster,
                                      absl::string_view serial, absl::string_view reason);

  // Tells `cluster`'s agent to re-key now; returns how many of its agents
  // were listening (0 is not an error: the agent re-keys when it reconnects
  // only if told again, so operators see the number).
  absl::StatusOr<int> RotateIntermediate(const Caller& caller, absl::string_view cluster);

  // Root rotation, in three phases gated on acknowledgements (DESIGN.md):
  // begin adds a new root B to the bundle (appended after A); activate makes
  // B sign (refused until every enabled cluster acked the A+B bundle, unless
  // `force`, which is audited) and tells every agent to re-key; finish
  // retires A (refused until every enabled cluster acked an intermediate
  // from B and the soak time passed).
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
  std::string RotationPhase();  // idle, begun, activated ("unknown" if unreadable).
  int WatchStreams() { return hub_.Subscribers(); }
  // Source addresses refused right now for guessing join tokens.
  size_t ThrottledEnrollSources() { return enroll_limiter_.ThrottledSources(clock_->Now()); }
  // OK when the store answers and the active root's key can be unsealed.
  absl::Status CheckReady();

 private:
  struct SigningCa {
    std::string key_id;
    ossl::UniquePtr<X509> certificate;
    ossl::UniquePtr<EVP_PKEY> key;
    std::string chain_pem;  // Its PEM and the CAs above it up to the anchor, for responses.
    bool under_offline_root = false;  // Imported, with the anchor held outside meshtrust.
  };
  // The roots and the bundle; replaced whole by root rotation, read as a
  // snapshot so no lock is held while signing.
  struct TrustState {
    std::vector<std::shared_ptr<const SigningCa>> roots;  // Oldest first.
    std::vector<std::string> statuses;                    // Parallel to roots.
    std::shared_ptr<const SigningCa> active;
    TrustBundle bundle;
  };
  Authority(Store* store, keystore::KeyStore* keys, const AuditSigner* signer, const Clock* clock,
            ControlCa control, AuthorityOptions options)
      : store_(store),
        keys_(keys),
        signer_(signer),
        clock_(clock),
        control_(std::move(control)),
        options_(std::move(options)),
        enroll_limiter_(options_.enroll_limits) {}
  absl::Status ReloadTrust();
  std::shared_ptr<const TrustState> Trust() const;
  absl::StatusOr<RootRotationStatus> ComputeRotationStatus();

  AuditEvent Event(const Caller& caller, absl::string_view action, absl::string_view target,
                   absl::string_view request_digest) const;
  // Records the refusal and returns `status` (annotated if even the audit
  // write failed).
  absl::Status Refuse(AuditEvent event, absl::Status status);
  // kUnauthenticated/kPermissionDenied unless the caller is an agent whose
  // identity certificate this CA issued and has not revoked, of an enabled
  // cluster; returns that cluster.
  absl::StatusOr<ClusterRecord> AuthorizeAgent(const Caller& caller);
  absl::Status AuthorizeAdmin(const Caller& caller, bool mutating);
  // kUnauthenticated when the identity certificate is revoked or expired.
  absl::Status CheckIdentityCurrent(const CertificateRecord& identity) const;
  absl::StatusOr<ossl::UniquePtr<X509>> IssueIdentity(const EnrollmentSubject& subject,
                                                      EVP_PKEY* key);
  NewJoinToken MintToken(const std::string& subject, std::chrono::seconds ttl,
                         JoinTokenRecord* record) const;

  Store* store_;
  keystore::KeyStore* keys_;
  const AuditSigner* signer_;
  const Clock* clock_;
  ControlCa control_;
  AuthorityOptions options_;
  std::string control_ca_pem_;
  mutable std::mutex trust_mu_;
  std::shared_ptr<const TrustState> trust_;  // Guarded by trust_mu_.
  std::mutex crl_mu_;                        // Serializes CRL issuance (CRL numbers).
  std::mutex rotation_mu_;                   // Serializes root rotation steps.
  WatchHub hub_;
  EnrollLimiter enroll_limiter_;
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_AUTHORITY_H_
