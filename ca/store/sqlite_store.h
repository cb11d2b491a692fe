// SqliteStore: the embedded Store backend. One file in WAL mode with
// synchronous=FULL; one CA replica.
//
// Implemented in parts: sqlite_store.cc (schema, opening, integrity check),
// sqlite_clusters.cc (clusters and join tokens), sqlite_certificates.cc
// (certificates, revocation, CRLs), sqlite_roots.cc (mesh roots, rotation
// state) and sqlite_audit.cc (the audit log); sqlite_internal.h holds what
// they share (statements, row queries, the transaction).
#ifndef MESHTRUST_CA_STORE_SQLITE_STORE_H_
#define MESHTRUST_CA_STORE_SQLITE_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "ca/store/store.h"

namespace meshtrust::ca {
namespace sqlite_internal {
class Connection;
}

class SqliteStore final : public Store {
 public:
  // Opens (creating if needed) the database at `path`. `signer` seals audit
  // records and must outlive the store; with nullptr the store is read-only
  // for the audit log (every mutating call fails), as offline verification
  // needs no key.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                           const AuditSigner* signer);
  ~SqliteStore() override;

  absl::Status AddCluster(const ClusterRecord& cluster, const JoinTokenRecord& token,
                          const AuditEvent& audit) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<ClusterRecord> GetCluster(absl::string_view name) override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::vector<ClusterRecord>> ListClusters() override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status SetClusterEnabled(absl::string_view name, bool enabled,
                                 const AuditEvent& audit) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status SetClusterPolicy(absl::string_view name, const ClusterPolicy& policy,
                                const AuditEvent& audit) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status RequestRotation(absl::string_view cluster, TimePoint at,
                               const AuditEvent& audit) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::vector<IntermediateCrlRecord>> ListIntermediateCrls(TimePoint now) override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status RecordAck(absl::string_view cluster, absl::string_view serial,
                         absl::string_view bundle_sha256, const IntermediateCrlRecord& crl,
                         TimePoint at, const AuditEvent& audit) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::vector<std::string>> RevokeCluster(absl::string_view cluster, int reason,
                                                         TimePoint at,
                                                         const AuditEvent& audit) override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status RevokeCertificate(absl::string_view serial, int reason, TimePoint at,
                                 const AuditEvent& audit) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status ReleaseHold(absl::string_view serial, const AuditEvent& audit) override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::vector<CertificateRecord>> ListRevoked(
      absl::string_view issuer_key_id) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status SaveCrl(const CrlRecord& crl, const AuditEvent& audit) override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::vector<CrlRecord>> ListCrls() override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status AddJoinToken(const JoinTokenRecord& token, const AuditEvent& audit) override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<JoinTokenRecord> GetJoinToken(absl::string_view hash) override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status RedeemJoinToken(absl::string_view hash, TimePoint now, const CertificateRecord& cert,
                               const AuditEvent& audit) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status RecordCertificate(const CertificateRecord& cert, const AuditEvent& audit) override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<CertificateRecord> GetCertificate(absl::string_view serial) override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status SupersedeRenewedIdentity(absl::string_view successor, TimePoint at,
                                        const AuditEvent& audit) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::vector<CertificateRecord>> ListCertificates(
      const CertificateFilter& filter) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status AddRoot(const RootRecord& root, const AuditEvent& audit,
                       absl::string_view rotation_state = "") override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status UpdateRoots(const std::vector<std::pair<std::string, std::string>>& statuses,
                           absl::string_view rotation_state, const AuditEvent& audit) override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::string> RotationState() override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::vector<RootRecord>> ListRoots() override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status AppendAudit(const AuditEvent& audit) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::vector<AuditRecord>> ReadAudit(uint64_t after_sequence, int limit) override
      ABSL_LOCKS_EXCLUDED(mu_);
  AuditHead Head() override ABSL_LOCKS_EXCLUDED(mu_);

  // PRAGMA integrity_check; "ok" when the file is sound.
  absl::StatusOr<std::string> IntegrityCheck() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class Reader;
  struct PendingWrite;
  SqliteStore(std::unique_ptr<sqlite_internal::Connection> db, std::string path,
              const AuditSigner* signer);
  absl::Status Migrate() ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status LoadHead() ABSL_LOCKS_EXCLUDED(mu_);
  // Runs `body` and appends `audit` in one IMMEDIATE transaction.
  template <typename Body>
  absl::Status Mutate(const AuditEvent& audit, Body body) ABSL_LOCKS_EXCLUDED(mu_);
  // Group commit: the write joins the queue; whichever writer finds no
  // commit under way runs every queued write in one transaction (each under
  // a savepoint of its own, so one that fails leaves the others) and one
  // fsync'd COMMIT, then wakes the others with their results.
  absl::Status Write(const AuditEvent& audit, absl::FunctionRef<absl::Status()> body)
      ABSL_LOCKS_EXCLUDED(mu_, queue_mu_);
  void CommitBatch(const std::vector<PendingWrite*>& batch) ABSL_LOCKS_EXCLUDED(mu_);
  // Seals `audit` as the record after `head` and inserts it.
  absl::Status AppendAuditLocked(const AuditEvent& audit, const AuditHead& head,
                                 AuditHead* new_head) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A read-only connection of its own for one read (opened on first need),
  // so reads never wait for a commit.
  absl::StatusOr<std::unique_ptr<sqlite_internal::Connection>> TakeReader()
      ABSL_LOCKS_EXCLUDED(readers_mu_);
  void GiveReader(std::unique_ptr<sqlite_internal::Connection> reader)
      ABSL_LOCKS_EXCLUDED(readers_mu_);

  const std::string path_;
  const AuditSigner* signer_;
  absl::Mutex mu_;
  // The writing connection, used by one call at a time.
  const std::unique_ptr<sqlite_internal::Connection> owned_db_;
  sqlite_internal::Connection* const db_ ABSL_PT_GUARDED_BY(mu_);

  absl::Mutex queue_mu_;
  absl::CondVar queue_cv_;
  std::vector<PendingWrite*> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool committing_ ABSL_GUARDED_BY(queue_mu_) = false;

  absl::Mutex readers_mu_;
  std::vector<std::unique_ptr<sqlite_internal::Connection>> readers_ ABSL_GUARDED_BY(readers_mu_);

  mutable absl::Mutex head_mu_;
  AuditHead head_ ABSL_GUARDED_BY(head_mu_);  // The committed head.
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_STORE_SQLITE_STORE_H_
