// Store: the CA's durable state (clusters, join tokens, issued certificates,
// mesh roots and the audit log) behind one small interface, so the embedded
// SQLite backend and a future PostgreSQL backend are interchangeable.
//
// Contract for every implementation:
//  - Each mutating call commits its change and exactly one audit record in
//    one durable transaction. If the audit record cannot be written, nothing
//    is changed and the call fails (the CA fails closed).
//  - Audit records are numbered 1, 2, 3, ... with no gaps and sealed by the
//    AuditSigner given at creation, chained to the previous record.
//  - Thread safe.
#ifndef MESHTRUST_CA_STORE_STORE_H_
#define MESHTRUST_CA_STORE_STORE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/clock.h"
#include "ca/audit/audit_chain.h"
#include "ca/audit/audit_verify.h"
#include "ca/core/policy.h"

namespace meshtrust::ca {

struct ClusterRecord {
  std::string name;
  bool enabled = true;
  ClusterPolicy policy;
  TimePoint created;
  // The latest intermediate issued (signed and recorded). Its agent may not
  // have installed it yet; what it installed is acked_serial.
  std::string current_serial;
  TimePoint current_not_after;
  // The intermediate the agent reported installed (Ack), and when.
  std::string acked_serial;
  std::string acked_bundle_sha256;
  TimePoint acked_at;
  // Read only: the notAfter of acked_serial.
  TimePoint acked_not_after;
  std::string intermediate_crl_pem;  // The CRL its agent signed with its intermediate.
  // Read only. A rotation an operator requested (RequestRotation) that the
  // cluster has not completed: no intermediate issued after the request has
  // been acknowledged yet.
  bool rotation_requested = false;
  TimePoint rotation_requested_at;
  // Read only. An intermediate was issued to the cluster after that request.
  bool rotation_issued = false;
};

struct JoinTokenRecord {
  std::string hash;     // Hex BLAKE2b-256 of the token; the token itself is never stored.
  std::string subject;  // Identity URI the token enrolls.
  TimePoint created;
  TimePoint expires;
  bool used = false;
};

inline constexpr absl::string_view kKindIntermediate = "intermediate";
inline constexpr absl::string_view kKindAgentIdentity = "agent-identity";
inline constexpr absl::string_view kKindAdminIdentity = "admin-identity";

struct CertificateRecord {
  std::string serial;        // Lowercase hex; unique across everything the CA issued.
  std::string kind;          // One of the kKind* above.
  std::string subject_name;  // Cluster or admin name.
  std::string subject;       // X.509 subject, RFC 2253.
  TimePoint not_before;
  TimePoint not_after;
  std::string certificate_pem;
  TimePoint issued_at;
  std::string issuer_key_id;  // For intermediates: the keystore id of the signing root.
  bool revoked = false;
  TimePoint revoked_at;
  int revocation_reason = 0;  // RFC 5280 CRLReason code.
  // A renewed identity: the serial of the identity it renews (recorded with
  // it). Empty otherwise.
  std::string renews;
  // Read only. The identity this one renewed, while it has not yet been
  // superseded (the renewed identity was never used); empty otherwise.
  std::string pending_supersede;
  // Read only. Set once the identity that renewed this one was first used.
  bool superseded = false;
  std::string superseded_by;
  TimePoint superseded_at;
};

// A CRL the CA signed with one of its roots.
struct CrlRecord {
  std::string root_key_id;
  uint64_t number = 0;
  std::string crl_pem;
  TimePoint this_update;
  TimePoint next_update;
};

struct CertificateFilter {
  std::string subject_name;  // Empty: any.
  std::string kind;          // Empty: any.
  int limit = 100;
};

// A mesh signing CA: a root the CA generated, or an imported intermediate of
// an offline root.
// The CRL an intermediate signed, as its agent acknowledged it. Kept per
// intermediate, not per cluster: workloads go on presenting chains through a
// cluster's previous intermediate for a while after it re-keys, and a
// verifier checking every CA in a chain needs that intermediate's CRL too.
struct IntermediateCrlRecord {
  std::string cluster;
  std::string serial;  // Of the intermediate that signed it.
  std::string crl_pem;
  TimePoint next_update;
  TimePoint intermediate_not_after;
};

struct RootRecord {
  int64_t id = 0;      // Assigned by the store.
  std::string key_id;  // Keystore id of its private key.
  std::string certificate_pem;
  std::string chain_pem;   // CAs between it and the anchor (may be empty).
  std::string anchor_pem;  // The trust anchor (== certificate_pem for a generated root).
  std::string status;      // "active" (signs) or "trusted" (in the bundle only).
  TimePoint created;
  // A cross-certificate for this root's anchor, issued by the root that
  // signed when this one joined the bundle (root rotation); agents that
  // trust that root accept this one through it. Empty for the first root.
  std::string endorsement_pem;
};

class Store : public AuditLogReader {
 public:
  virtual ~Store() = default;

  // Clusters. AddCluster also stores the cluster's first join token.
  virtual absl::Status AddCluster(const ClusterRecord& cluster, const JoinTokenRecord& token,
                                  const AuditEvent& audit) = 0;
  virtual absl::StatusOr<ClusterRecord> GetCluster(absl::string_view name) = 0;
  virtual absl::StatusOr<std::vector<ClusterRecord>> ListClusters() = 0;
  virtual absl::Status SetClusterEnabled(absl::string_view name, bool enabled,
                                         const AuditEvent& audit) = 0;
  // Replaces the cluster's policy (kNotFound for an unknown cluster).
  virtual absl::Status SetClusterPolicy(absl::string_view name, const ClusterPolicy& policy,
                                        const AuditEvent& audit) = 0;
  // Records that the cluster was asked to re-key at `at`. The request stays
  // until the cluster acknowledges an intermediate issued after it
  // (RecordAck); asking again while one is outstanding moves it to `at`.
  virtual absl::Status RequestRotation(absl::string_view cluster, TimePoint at,
                                       const AuditEvent& audit) = 0;
  // Records what the cluster's agent installed; a non-empty `crl.crl_pem`
  // also becomes the latest CRL of the intermediate `crl.serial`. When
  // `serial` was issued after the cluster's outstanding rotation request,
  // the request is completed (removed) in the same transaction.
  virtual absl::Status RecordAck(absl::string_view cluster, absl::string_view serial,
                                 absl::string_view bundle_sha256, const IntermediateCrlRecord& crl,
                                 TimePoint at, const AuditEvent& audit) = 0;
  // The latest CRL of every intermediate that has not expired at `now` and
  // whose CRL has not passed its nextUpdate, by cluster and serial.
  virtual absl::StatusOr<std::vector<IntermediateCrlRecord>> ListIntermediateCrls(
      TimePoint now) = 0;

  // Join tokens.
  virtual absl::Status AddJoinToken(const JoinTokenRecord& token, const AuditEvent& audit) = 0;
  virtual absl::StatusOr<JoinTokenRecord> GetJoinToken(absl::string_view hash) = 0;
  // Marks the token used and records the certificate it was exchanged for,
  // atomically and only if the token is unused and unexpired at `now`: of
  // any number of concurrent redemptions exactly one succeeds; the others get
  // kAlreadyExists (used) or kDeadlineExceeded (expired).
  virtual absl::Status RedeemJoinToken(absl::string_view hash, TimePoint now,
                                       const CertificateRecord& cert, const AuditEvent& audit) = 0;

  // Issued certificates. For intermediates the cluster's current serial is
  // updated in the same transaction.
  virtual absl::Status RecordCertificate(const CertificateRecord& cert,
                                         const AuditEvent& audit) = 0;
  virtual absl::StatusOr<CertificateRecord> GetCertificate(absl::string_view serial) = 0;
  // Marks the identity `successor` renewed (its CertificateRecord::renews)
  // superseded at `at`, the first time `successor` is used. kAlreadyExists
  // when that already happened (nothing is recorded then); kNotFound when
  // `successor` renews nothing.
  virtual absl::Status SupersedeRenewedIdentity(absl::string_view successor, TimePoint at,
                                                const AuditEvent& audit) = 0;
  virtual absl::StatusOr<std::vector<CertificateRecord>> ListCertificates(
      const CertificateFilter& filter) = 0;

  // Revocation. RevokeCluster revokes every unrevoked intermediate and agent
  // identity of the cluster and disables it, in one transaction; it returns
  // the serials it revoked. RevokeCertificate revokes one certificate
  // (kNotFound, or kAlreadyExists when already revoked).
  virtual absl::StatusOr<std::vector<std::string>> RevokeCluster(absl::string_view cluster,
                                                                 int reason, TimePoint at,
                                                                 const AuditEvent& audit) = 0;
  virtual absl::Status RevokeCertificate(absl::string_view serial, int reason, TimePoint at,
                                         const AuditEvent& audit) = 0;
  // Releases a hold: the certificate `serial`, revoked with reason
  // certificateHold (RFC 5280 CRLReason 6), is no longer revoked, in one
  // transaction with `audit`. kNotFound (NoCertificateError), or
  // kFailedPrecondition when it is not revoked (NotRevokedError) or was
  // revoked for another reason (NotOnHoldError); nothing changes then.
  virtual absl::Status ReleaseHold(absl::string_view serial, const AuditEvent& audit) = 0;
  // Revoked intermediates signed by the root `issuer_key_id`.
  virtual absl::StatusOr<std::vector<CertificateRecord>> ListRevoked(
      absl::string_view issuer_key_id) = 0;

  // The current CRL of each root (the latest saved replaces the previous).
  virtual absl::Status SaveCrl(const CrlRecord& crl, const AuditEvent& audit) = 0;
  virtual absl::StatusOr<std::vector<CrlRecord>> ListCrls() = 0;

  // Mesh roots, oldest first.
  virtual absl::Status AddRoot(const RootRecord& root, const AuditEvent& audit,
                               absl::string_view rotation_state = "") = 0;
  virtual absl::StatusOr<std::vector<RootRecord>> ListRoots() = 0;

  // Root rotation: new statuses for some roots and the rotation phase
  // (meta key "root_rotation"), together, in one transaction.
  virtual absl::Status UpdateRoots(const std::vector<std::pair<std::string, std::string>>& statuses,
                                   absl::string_view rotation_state, const AuditEvent& audit) = 0;
  virtual absl::StatusOr<std::string> RotationState() = 0;

  // Audit log. AppendAudit records an event that changes nothing else (a
  // refusal, a read by an admin).
  virtual absl::Status AppendAudit(const AuditEvent& audit) = 0;
  absl::StatusOr<std::vector<AuditRecord>> ReadAudit(uint64_t after_sequence,
                                                     int limit) override = 0;
  virtual AuditHead Head() = 0;
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_STORE_STORE_H_
