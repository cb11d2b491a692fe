// SqliteStore: the embedded Store backend. One file in WAL mode with
// synchronous=FULL; one CA replica.
#ifndef MESHTRUST_CA_STORE_SQLITE_STORE_H_
#define MESHTRUST_CA_STORE_SQLITE_STORE_H_

#include <memory>
#include <mutex>
#include <string>

#include "absl/strings/string_view.h"
#include "ca/store/store.h"

struct sqlite3;

namespace meshtrust::ca {

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
                          const AuditEvent& audit) override;
  absl::StatusOr<ClusterRecord> GetCluster(absl::string_view name) override;
  absl::StatusOr<std::vector<ClusterRecord>> ListClusters() override;
  absl::Status SetClusterEnabled(absl::string_view name, bool enabled,
                                 const AuditEvent& audit) override;
  absl::StatusOr<std::vector<IntermediateCrlRecord>> ListIntermediateCrls(TimePoint now) override;
  absl::Status RecordAck(absl::string_view cluster, absl::string_view serial,
                         absl::string_view bundle_sha256, const IntermediateCrlRecord& crl,
                         TimePoint at, const AuditEvent& audit) override;
  absl::StatusOr<std::vector<std::string>> RevokeCluster(absl::string_view cluster, int reason,
                                                         TimePoint at,
                                                         const AuditEvent& audit) override;
  absl::Status RevokeCertificate(absl::string_view serial, int reason, TimePoint at,
                                 const AuditEvent& audit) override;
  absl::StatusOr<std::vector<CertificateRecord>> ListRevoked(
      absl::string_view issuer_key_id) override;
  absl::Status SaveCrl(const CrlRecord& crl, const AuditEvent& audit) override;
  absl::StatusOr<std::vector<CrlRecord>> ListCrls() override;
  absl::Status AddJoinToken(const JoinTokenRecord& token, const AuditEvent& audit) override;
  absl::StatusOr<JoinTokenRecord> GetJoinToken(absl::string_view hash) override;
  absl::Status RedeemJoinToken(absl::string_view hash, TimePoint now, const CertificateRecord& cert,
                               const AuditEvent& audit) override;
  absl::Status RecordCertificate(const CertificateRecord& cert, const AuditEvent& audit) override;
  absl::StatusOr<CertificateRecord> GetCertificate(absl::string_view serial) override;
  absl::StatusOr<std::vector<CertificateRecord>> ListCertificates(
      const CertificateFilter& filter) override;
  absl::Status AddRoot(const RootRecord& root, const AuditEvent& audit,
                       absl::string_view rotation_state = "") override;
  absl::Status UpdateRoots(const std::vector<std::pair<std::string, std::string>>& statuses,
                           absl::string_view rotation_state, const AuditEvent& audit) override;
  absl::StatusOr<std::string> RotationState() override;
  absl::StatusOr<std::vector<RootRecord>> ListRoots() override;
  absl::Status AppendAudit(const AuditEvent& audit) override;
  absl::StatusOr<std::vector<AuditRecord>> ReadAudit(uint64_t after_sequence, int limit) override;
  AuditHead Head() override;

  // PRAGMA integrity_check; "ok" when the file is sound.
  absl::StatusOr<std::string> IntegrityCheck();

 private:
  class Transaction;
  SqliteStore(sqlite3* db, const AuditSigner* signer) : db_(db), signer_(signer) {}
  absl::Status Migrate();
  absl::Status LoadHead();
  // Runs `body` and appends `audit` in one IMMEDIATE transaction.
  template <typename Body>
  absl::Status Mutate(const AuditEvent& audit, Body body);
  absl::Status AppendAuditLocked(const AuditEvent& audit, AuditHead* new_head);

  std::mutex mu_;
  sqlite3* db_;
  const AuditSigner* signer_;
  AuditHead head_;  // Guarded by mu_; the committed head.
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_STORE_SQLITE_STORE_H_
