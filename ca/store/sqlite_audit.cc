// SqliteStore: the audit log, appended in each call's transaction and read
// back in the order it was written.
#include <sqlite3.h>

#include "absl/strings/str_cat.h"
#include "ca/store/sqlite_internal.h"
#include "ca/store/sqlite_store.h"

namespace meshtrust::ca {

using sqlite_internal::Connection;
using sqlite_internal::QueryRows;
using sqlite_internal::Statement;

absl::Status SqliteStore::LoadHead() {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
  int rc = st.Step();
  if (rc == SQLITE_ROW) {
    absl::MutexLock head_lock(&head_mu_);
    head_.sequence = static_cast<uint64_t>(st.Int(0));
    head_.hash = st.Blob(1);
  } else if (rc != SQLITE_DONE) {
    return st.Error("reading the audit head");
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::AppendAuditLocked(const AuditEvent& audit, const AuditHead& head,
                                            AuditHead* new_head) {
  if (signer_ == nullptr) return absl::FailedPreconditionError("store is open read-only");
  absl::StatusOr<AuditRecord> sealed = signer_->Seal(head.sequence + 1, audit, head.hash);
  if (!sealed.ok()) {
    return absl::UnavailableError(
        absl::StrCat("audit log write failed, so nothing was done: signing the record: ",
                     sealed.status().message()));
  }
  const AuditRecord& record = *sealed;
  Statement st(db_,
               "INSERT INTO audit (seq, time_ms, caller, action, target, request_sha256, result, "
               "serial, hash, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  st.Bind(static_cast<int64_t>(record.sequence)).Bind(UnixMillis(audit.time)).Bind(audit.caller);
  st.Bind(audit.action).Bind(audit.target).Bind(audit.request_sha256).Bind(audit.result);
  st.Bind(audit.serial).BindBlob(record.hash).BindBlob(record.signature);
  if (st.Step() != SQLITE_DONE) {
    absl::Status s = st.Error("writing the audit record");
    return absl::UnavailableError(
        absl::StrCat("audit log write failed, so nothing was done: ", s.message()));
  }
  new_head->sequence = record.sequence;
  new_head->hash = record.hash;
  return absl::OkStatus();
}

absl::Status SqliteStore::AppendAudit(const AuditEvent& audit) {
  return Mutate(audit, [] { return absl::OkStatus(); });
}

absl::StatusOr<std::vector<AuditRecord>> SqliteStore::ReadAudit(uint64_t after_sequence,
                                                                int limit) {
  absl::MutexLock lock(&mu_);
  // Ordered by rowid, not by seq, so that reordered records show up as such.
  return QueryRows<AuditRecord>(
      db_,
      "SELECT seq, time_ms, caller, action, target, request_sha256, result, serial, "
      "hash, signature FROM audit WHERE seq > ? ORDER BY rowid LIMIT ?",
      "reading the audit log",
      [](const Statement& st) {
        AuditRecord r;
        r.sequence = static_cast<uint64_t>(st.Int(0));
        r.event.time = FromUnixMillis(st.Int(1));
        r.event.caller = st.Text(2);
        r.event.action = st.Text(3);
        r.event.target = st.Text(4);
        r.event.request_sha256 = st.Text(5);
        r.event.result = st.Text(6);
        r.event.serial = st.Text(7);
        r.hash = st.Blob(8);
        r.signature = st.Blob(9);
        return r;
      },
      static_cast<int64_t>(after_sequence), int64_t{limit});
}

AuditHead SqliteStore::Head() {
  absl::MutexLock lock(&head_mu_);
  return head_;
}

}  // namespace meshtrust::ca
