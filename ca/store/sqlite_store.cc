// SqliteStore: the schema, opening a database and checking its integrity.
#include "ca/store/sqlite_store.h"

#include <sqlite3.h>

#include "absl/strings/str_cat.h"
#include "ca/store/sqlite_internal.h"

namespace meshtrust::ca {

using sqlite_internal::Connection;
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

namespace sqlite_internal {

Connection::~Connection() {
  for (auto& [sql, stmt] : idle_) sqlite3_finalize(stmt);
  sqlite3_close_v2(handle_);
}

sqlite3_stmt* Connection::Take(const std::string& sql, int* rc) {
  if (auto it = idle_.find(sql); it != idle_.end()) {
    sqlite3_stmt* stmt = it->second;
    idle_.erase(it);
    *rc = SQLITE_OK;
    return stmt;
  }
  sqlite3_stmt* stmt = nullptr;
  *rc = sqlite3_prepare_v3(handle_, sql.c_str(), static_cast<int>(sql.size()),
                           SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (*rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return nullptr;
  }
  return stmt;
}

void Connection::Give(std::string sql, sqlite3_stmt* stmt) {
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  auto [it, inserted] = idle_.try_emplace(std::move(sql), stmt);
  if (!inserted) sqlite3_finalize(stmt);
}

}  // namespace sqlite_internal

namespace {

absl::StatusOr<std::unique_ptr<Connection>> OpenConnection(const std::string& path, int flags) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("cannot open database ", path, ": ", msg));
  }
  sqlite3_busy_timeout(db, 5000);
  return std::make_unique<Connection>(db);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                               const AuditSigner* signer) {
  absl::StatusOr<std::unique_ptr<Connection>> db =
      OpenConnection(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX);
  if (!db.ok()) return db.status();
  if (absl::Status s = Exec(db->get(),
                            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                            "PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;");
      !s.ok()) {
    return s;
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(*std::move(db), path, signer));
  if (absl::Status s = store->Migrate(); !s.ok()) return s;
  if (absl::Status s = store->LoadHead(); !s.ok()) return s;
  return store;
}

SqliteStore::SqliteStore(std::unique_ptr<Connection> db, std::string path,
                         const AuditSigner* signer)
    : path_(std::move(path)), signer_(signer), owned_db_(std::move(db)), db_(owned_db_.get()) {}

SqliteStore::~SqliteStore() = default;

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

absl::StatusOr<std::unique_ptr<Connection>> SqliteStore::TakeReader() {
  {
    absl::MutexLock lock(&readers_mu_);
    if (!readers_.empty()) {
      std::unique_ptr<Connection> reader = std::move(readers_.back());
      readers_.pop_back();
      return reader;
    }
  }
  // Read-only: a reader can never write, whatever a bug asks of it.
  return OpenConnection(path_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX);
}

void SqliteStore::GiveReader(std::unique_ptr<Connection> reader) {
  // Each connection keeps its own page cache: a burst of concurrent reads
  // opens more, and only a few are kept for the next one.
  constexpr size_t kIdleReaders = 4;
  absl::MutexLock lock(&readers_mu_);
  if (readers_.size() < kIdleReaders) readers_.push_back(std::move(reader));
}

struct SqliteStore::PendingWrite {
  const AuditEvent* audit;
  absl::FunctionRef<absl::Status()> body;
  absl::Status result;
  bool done = false;
};

absl::Status SqliteStore::Write(const AuditEvent& audit, absl::FunctionRef<absl::Status()> body) {
  PendingWrite write{&audit, body};
  queue_mu_.Lock();
  queue_.push_back(&write);
  while (!write.done) {
    if (committing_) {
      queue_cv_.Wait(&queue_mu_);
      continue;
    }
    // No commit under way: this writer commits every write queued so far,
    // its own among them.
    committing_ = true;
    std::vector<PendingWrite*> batch;
    batch.swap(queue_);
    queue_mu_.Unlock();
    CommitBatch(batch);
    queue_mu_.Lock();
    for (PendingWrite* w : batch) w->done = true;
    committing_ = false;
    queue_cv_.SignalAll();
  }
  queue_mu_.Unlock();
  return write.result;
}

void SqliteStore::CommitBatch(const std::vector<PendingWrite*>& batch) {
  absl::MutexLock lock(&mu_);
  sqlite3* db = db_->handle();
  if (absl::Status s = Exec(db_, "BEGIN IMMEDIATE"); !s.ok()) {
    for (PendingWrite* w : batch) w->result = s;
    return;
  }
  AuditHead head;
  {
    absl::MutexLock head_lock(&head_mu_);
    head = head_;
  }
  // Each write under its own savepoint: a refused one is undone alone.
  // Errors SQLite answers by rolling back the whole transaction (a full
  // disk, an I/O error) end the batch: every write in it fails.
  absl::Status lost;
  for (PendingWrite* w : batch) {
    if (!lost.ok()) {
      w->result = lost;
      continue;
    }
    absl::Status s = Exec(db_, "SAVEPOINT write");
    if (s.ok()) s = w->body();
    AuditHead next;
    if (s.ok()) s = AppendAuditLocked(*w->audit, head, &next);
    if (sqlite3_get_autocommit(db) != 0) {
      lost = absl::UnavailableError(
          absl::StrCat("database transaction was rolled back, so nothing was done: ",
                       s.ok() ? sqlite3_errmsg(db) : std::string(s.message())));
      w->result = lost;
      continue;
    }
    if (s.ok()) s = Exec(db_, "RELEASE write");
    if (s.ok()) {
      head = std::move(next);
    } else {
      sqlite3_exec(db, "ROLLBACK TO write; RELEASE write", nullptr, nullptr, nullptr);
    }
    w->result = s;
  }
  if (lost.ok() && sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK) {
    absl::MutexLock head_lock(&head_mu_);
    head_ = std::move(head);
    return;
  }
  absl::Status failed =
      !lost.ok() ? lost
                 : absl::UnavailableError(absl::StrCat(
                       "database commit failed, so nothing was done: ", sqlite3_errmsg(db)));
  sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  for (PendingWrite* w : batch) {
    if (w->result.ok()) w->result = failed;
  }
}

}  // namespace meshtrust::ca
