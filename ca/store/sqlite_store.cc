// SqliteStore: the schema, opening a database and checking its integrity.
#include "ca/store/sqlite_store.h"

#include <sqlite3.h>

#include "absl/strings/str_cat.h"
#include "ca/store/sqlite_internal.h"

namespace meshtrust::ca {

using sqlite_internal::Exec;
using sqlite_internal::Statement;

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clusters (
  name TEXT PRIMARY KEY,
  enabled INTEGER NOT NULL,
  policy TEXT NOT NULL,
  created INTEGER NOT NULL,
  current_serial TEXT NOT NULL DEFAULT '',
  current_not_after INTEGER NOT NULL DEFAULT 0,
  acked_serial TEXT NOT NULL DEFAULT '',
  acked_bundle TEXT NOT NULL DEFAULT '',
  acked_at INTEGER NOT NULL DEFAULT 0,
  intermediate_crl TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS join_tokens (
  hash TEXT PRIMARY KEY,
  subject TEXT NOT NULL,
  created INTEGER NOT NULL,
  expires INTEGER NOT NULL,
  used_at INTEGER);
CREATE TABLE IF NOT EXISTS certificates (
  serial TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  subject_name TEXT NOT NULL,
  subject TEXT NOT NULL,
  not_before INTEGER NOT NULL,
  not_after INTEGER NOT NULL,
  pem TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  issuer_key_id TEXT NOT NULL DEFAULT '',
  revoked_at INTEGER,
  revocation_reason INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS crls (
  root_key_id TEXT PRIMARY KEY,
  number INTEGER NOT NULL,
  pem TEXT NOT NULL,
  this_update INTEGER NOT NULL,
  next_update INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS intermediate_crls (
  serial TEXT PRIMARY KEY,
  cluster TEXT NOT NULL,
  pem TEXT NOT NULL,
  next_update INTEGER NOT NULL,
  intermediate_not_after INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS certificates_by_name ON certificates (subject_name, kind, issued_at);
CREATE TABLE IF NOT EXISTS identity_renewals (
  serial TEXT PRIMARY KEY,
  previous_serial TEXT NOT NULL,
  superseded_at INTEGER);
CREATE INDEX IF NOT EXISTS identity_renewals_by_previous ON identity_renewals (previous_serial);
CREATE TABLE IF NOT EXISTS roots (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key_id TEXT NOT NULL UNIQUE,
  certificate_pem TEXT NOT NULL,
  chain_pem TEXT NOT NULL,
  anchor_pem TEXT NOT NULL,
  status TEXT NOT NULL,
  created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS root_endorsements (
  key_id TEXT PRIMARY KEY REFERENCES roots (key_id),
  certificate_pem TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY,
  time_ms INTEGER NOT NULL,
  caller TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  request_sha256 TEXT NOT NULL,
  result TEXT NOT NULL,
  serial TEXT NOT NULL,
  hash BLOB NOT NULL,
  signature BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS rotation_requests (
  cluster TEXT PRIMARY KEY REFERENCES clusters (name),
  requested_at INTEGER NOT NULL,
  after_certificate INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');
)sql";

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                               const AuditSigner* signer) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("cannot open database ", path, ": ", msg));
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(db, signer));
  sqlite3_busy_timeout(db, 5000);
  if (absl::Status s = Exec(db,
                            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                            "PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = store->Migrate(); !s.ok()) return s;
  if (absl::Status s = store->LoadHead(); !s.ok()) return s;
  return store;
}

SqliteStore::~SqliteStore() { sqlite3_close_v2(db_); }

absl::Status SqliteStore::Migrate() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Exec(db_, kSchema); !s.ok()) return s;
  Statement st(db_, "SELECT value FROM meta WHERE key = 'schema_version'");
  if (st.Step() != SQLITE_ROW || st.Text(0) != "1") {
    return absl::FailedPreconditionError(
        "database schema version is not 1; this meshtrust-ca is too old for it");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SqliteStore::IntegrityCheck() {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "PRAGMA integrity_check");
  if (st.Step() != SQLITE_ROW) return st.Error("checking integrity");
  return st.Text(0);
}

}  // namespace meshtrust::ca
