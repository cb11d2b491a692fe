#include "ca/store/sqlite_store.h"

#include <sqlite3.h>

#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace meshtrust::ca {
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
CREATE TABLE IF NOT EXISTS roots (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key_id TEXT NOT NULL UNIQUE,
  certificate_pem TEXT NOT NULL,
  chain_pem TEXT NOT NULL,
  anchor_pem TEXT NOT NULL,
  status TEXT NOT NULL,
  created INTEGER NOT NULL);
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
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');
)sql";

// One prepared statement; binds by position, finalised on destruction.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(absl::string_view s) {
    if (rc_ == SQLITE_OK) {
      rc_ = sqlite3_bind_text(stmt_, ++index_, s.data(), static_cast<int>(s.size()),
                              SQLITE_TRANSIENT);
    }
    return *this;
  }
  Statement& BindBlob(absl::string_view s) {
    if (rc_ == SQLITE_OK) {
      rc_ = sqlite3_bind_blob(stmt_, ++index_, s.data(), static_cast<int>(s.size()),
                              SQLITE_TRANSIENT);
    }
    return *this;
  }
  Statement& Bind(int64_t v) {
    if (rc_ == SQLITE_OK) rc_ = sqlite3_bind_int64(stmt_, ++index_, v);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE, or an error code.
  int Step() {
    if (rc_ != SQLITE_OK) return rc_;
    return sqlite3_step(stmt_);
  }
  absl::Status Run() {
    int rc = Step();
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return Error("writing");
    return absl::OkStatus();
  }
  absl::Status Error(absl::string_view what) const {
    int code = sqlite3_extended_errcode(db_);
    std::string msg = absl::StrCat("database error ", what, ": ", sqlite3_errmsg(db_));
    if ((code & 0xff) == SQLITE_CONSTRAINT) return absl::AlreadyExistsError(msg);
    if ((code & 0xff) == SQLITE_FULL) return absl::ResourceExhaustedError(msg);
    if ((code & 0xff) == SQLITE_BUSY) return absl::UnavailableError(msg);
    return absl::InternalError(msg);
  }
  std::string Text(int col) const {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    return p == nullptr ? ""
                        : std::string(reinterpret_cast<const char*>(p),
                                      static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  std::string Blob(int col) const {
    const void* p = sqlite3_column_blob(stmt_, col);
    return p == nullptr ? ""
                        : std::string(static_cast<const char*>(p),
                                      static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
  int index_ = 0;
};

template <typename T>
struct IsStatusOr : std::false_type {};
template <typename T>
struct IsStatusOr<absl::StatusOr<T>> : std::true_type {};

// Prepares `sql`, binds `params` in order, steps through every row and maps
// each with `read` (returning T, or absl::StatusOr<T> when a row can be
// refused). `what` names the query in errors ("listing clusters").
template <typename T, typename Read, typename... Params>
absl::StatusOr<std::vector<T>> QueryRows(sqlite3* db, const std::string& sql,
                                         absl::string_view what, Read read,
                                         const Params&... params) {
  Statement st(db, sql.c_str());
  (st.Bind(params), ...);
  std::vector<T> out;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) {
    if constexpr (IsStatusOr<std::invoke_result_t<Read, const Statement&>>::value) {
      absl::StatusOr<T> row = read(st);
      if (!row.ok()) return row.status();
      out.push_back(*std::move(row));
    } else {
      out.push_back(read(st));
    }
  }
  if (rc != SQLITE_DONE) return st.Error(what);
  return out;
}

absl::Status Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    return absl::InternalError(absl::StrCat("database error: ", msg));
  }
  return absl::OkStatus();
}

constexpr const char* kClusterColumns =
    "name, enabled, policy, created, current_serial, current_not_after, acked_serial, "
    "acked_bundle, acked_at, intermediate_crl";

absl::StatusOr<ClusterRecord> ReadCluster(const Statement& st) {
  ClusterRecord c;
  c.name = st.Text(0);
  c.enabled = st.Int(1) != 0;
  absl::StatusOr<ClusterPolicy> policy = ClusterPolicy::FromJson(st.Text(2));
  if (!policy.ok()) return policy.status();
  c.policy = *std::move(policy);
  c.created = FromUnixMillis(st.Int(3));
  c.current_serial = st.Text(4);
  c.current_not_after = FromUnixMillis(st.Int(5));
  c.acked_serial = st.Text(6);
  c.acked_bundle_sha256 = st.Text(7);
  c.acked_at = FromUnixMillis(st.Int(8));
  c.intermediate_crl_pem = st.Text(9);
  return c;
}

constexpr const char* kCertificateColumns =
    "serial, kind, subject_name, subject, not_before, not_after, pem, issued_at, revoked_at, "
    "issuer_key_id, revocation_reason";

CertificateRecord ReadCertificate(const Statement& st) {
  CertificateRecord c;
  c.serial = st.Text(0);
  c.kind = st.Text(1);
  c.subject_name = st.Text(2);
  c.subject = st.Text(3);
  c.not_before = FromUnixMillis(st.Int(4));
  c.not_after = FromUnixMillis(st.Int(5));
  c.certificate_pem = st.Text(6);
  c.issued_at = FromUnixMillis(st.Int(7));
  c.revoked = !st.IsNull(8);
  if (c.revoked) c.revoked_at = FromUnixMillis(st.Int(8));
  c.issuer_key_id = st.Text(9);
  c.revocation_reason = static_cast<int>(st.Int(10));
  return c;
}

absl::Status InsertCertificate(sqlite3* db, const CertificateRecord& cert) {
  Statement st(db,
               "INSERT INTO certificates (serial, kind, subject_name, subject, not_before, "
               "not_after, pem, issued_at, issuer_key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  st.Bind(cert.serial).Bind(cert.kind).Bind(cert.subject_name).Bind(cert.subject);
  st.Bind(UnixMillis(cert.not_before)).Bind(UnixMillis(cert.not_after)).Bind(cert.certificate_pem);
  st.Bind(UnixMillis(cert.issued_at)).Bind(cert.issuer_key_id);
  if (st.Step() != SQLITE_DONE) {
    absl::Status s = st.Error("recording a certificate");
    if (absl::IsAlreadyExists(s)) {
      return absl::AlreadyExistsError(absl::StrCat("serial ", cert.serial, " was already issued"));
    }
    return s;
  }
  return absl::OkStatus();
}

absl::Status ExpectOneRowChanged(sqlite3* db, absl::string_view what) {
  if (sqlite3_changes(db) != 1) return absl::NotFoundError(std::string(what));
  return absl::OkStatus();
}

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

absl::Status SqliteStore::LoadHead() {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
  int rc = st.Step();
  if (rc == SQLITE_ROW) {
    head_.sequence = static_cast<uint64_t>(st.Int(0));
    head_.hash = st.Blob(1);
  } else if (rc != SQLITE_DONE) {
    return st.Error("reading the audit head");
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::AppendAuditLocked(const AuditEvent& audit, AuditHead* new_head) {
  if (signer_ == nullptr) return absl::FailedPreconditionError("store is open read-only");
  AuditRecord record = signer_->Seal(head_.sequence + 1, audit, head_.hash);
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

template <typename Body>
absl::Status SqliteStore::Mutate(const AuditEvent& audit, Body body) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Exec(db_, "BEGIN IMMEDIATE"); !s.ok()) return s;
  AuditHead new_head;
  absl::Status s = body();
  if (s.ok()) s = AppendAuditLocked(audit, &new_head);
  if (s.ok()) {
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK) {
      head_ = std::move(new_head);
      return absl::OkStatus();
    }
    s = absl::UnavailableError(
        absl::StrCat("database commit failed, so nothing was done: ", sqlite3_errmsg(db_)));
  }
  sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  return s;
}

absl::Status SqliteStore::AddCluster(const ClusterRecord& cluster, const JoinTokenRecord& token,
                                     const AuditEvent& audit) {
  return Mutate(audit, [&]() -> absl::Status {
    Statement st(db_, "INSERT INTO clusters (name, enabled, policy, created) VALUES (?, ?, ?, ?)");
    st.Bind(cluster.name).Bind(int64_t{cluster.enabled}).Bind(cluster.policy.ToJson());
    st.Bind(UnixMillis(cluster.created));
    if (st.Step() != SQLITE_DONE) {
      absl::Status s = st.Error("adding a cluster");
      if (absl::IsAlreadyExists(s)) {
        return absl::AlreadyExistsError(
            absl::StrCat("cluster \"", cluster.name, "\" already exists"));
      }
      return s;
    }
    Statement tok(db_,
                  "INSERT INTO join_tokens (hash, subject, created, expires) VALUES (?, ?, ?, ?)");
    tok.Bind(token.hash)
        .Bind(token.subject)
        .Bind(UnixMillis(token.created))
        .Bind(UnixMillis(token.expires));
    return tok.Run();
  });
}

absl::StatusOr<ClusterRecord> SqliteStore::GetCluster(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  Statement st(db_,
               absl::StrCat("SELECT ", kClusterColumns, " FROM clusters WHERE name = ?").c_str());
  st.Bind(name);
  int rc = st.Step();
  if (rc == SQLITE_DONE) {
    return absl::NotFoundError(absl::StrCat("cluster \"", name, "\" is not registered"));
  }
  if (rc != SQLITE_ROW) return st.Error("reading a cluster");
  return ReadCluster(st);
}

absl::StatusOr<std::vector<ClusterRecord>> SqliteStore::ListClusters() {
  absl::MutexLock lock(&mu_);
  return QueryRows<ClusterRecord>(
      db_, absl::StrCat("SELECT ", kClusterColumns, " FROM clusters ORDER BY name"),
      "listing clusters", ReadCluster);
}

absl::Status SqliteStore::SetClusterEnabled(absl::string_view name, bool enabled,
                                            const AuditEvent& audit) {
  return Mutate(audit, [&]() -> absl::Status {
    Statement st(db_, "UPDATE clusters SET enabled = ? WHERE name = ?");
    st.Bind(int64_t{enabled}).Bind(name);
    if (absl::Status s = st.Run(); !s.ok()) return s;
    return ExpectOneRowChanged(db_, absl::StrCat("cluster \"", name, "\" is not registered"));
  });
}

absl::Status SqliteStore::RecordAck(absl::string_view cluster, absl::string_view serial,
                                    absl::string_view bundle_sha256,
                                    const IntermediateCrlRecord& crl, TimePoint at,
                                    const AuditEvent& audit) {
  return Mutate(audit, [&]() -> absl::Status {
    Statement st(db_,
                 "UPDATE clusters SET acked_serial = ?, acked_bundle = ?, acked_at = ?, "
                 "intermediate_crl = CASE WHEN ? = '' THEN intermediate_crl ELSE ? END "
                 "WHERE name = ?");
    st.Bind(serial).Bind(bundle_sha256).Bind(UnixMillis(at)).Bind(crl.crl_pem);
    st.Bind(crl.crl_pem).Bind(cluster);
    if (absl::Status s = st.Run(); !s.ok()) return s;
    if (absl::Status s =
            ExpectOneRowChanged(db_, absl::StrCat("cluster \"", cluster, "\" is not registered"));
        !s.ok()) {
      return s;
    }
    if (crl.crl_pem.empty()) return absl::OkStatus();
    Statement put(db_,
                  "INSERT OR REPLACE INTO intermediate_crls (serial, cluster, pem, next_update, "
                  "intermediate_not_after) VALUES (?, ?, ?, ?, ?)");
    put.Bind(crl.serial).Bind(cluster).Bind(crl.crl_pem).Bind(UnixMillis(crl.next_update));
    put.Bind(UnixMillis(crl.intermediate_not_after));
    return put.Run();
  });
}

absl::StatusOr<std::vector<IntermediateCrlRecord>> SqliteStore::ListIntermediateCrls(
    TimePoint now) {
  absl::MutexLock lock(&mu_);
  return QueryRows<IntermediateCrlRecord>(
      db_,
      "SELECT cluster, serial, pem, next_update, intermediate_not_after FROM "
      "intermediate_crls WHERE next_update > ? AND intermediate_not_after > ? ORDER BY "
      "cluster, intermediate_not_after, serial",
      "listing intermediate CRLs",
      [](const Statement& st) {
        IntermediateCrlRecord r;
        r.cluster = st.Text(0);
        r.serial = st.Text(1);
        r.crl_pem = st.Text(2);
        r.next_update = FromUnixMillis(st.Int(3));
        r.intermediate_not_after = FromUnixMillis(st.Int(4));
        return r;
      },
      UnixMillis(now), UnixMillis(now));
}

absl::StatusOr<std::vector<std::string>> SqliteStore::RevokeCluster(absl::string_view cluster,
                                                                    int reason, TimePoint at,
                                                                    const AuditEvent& audit) {
  std::vector<std::string> serials;
  absl::Status s = Mutate(audit, [&]() -> absl::Status {
    serials.clear();
    absl::StatusOr<std::vector<std::string>> found = QueryRows<std::string>(
        db_,
        "SELECT serial FROM certificates WHERE subject_name = ? AND kind IN "
        "('intermediate', 'agent-identity') AND revoked_at IS NULL ORDER BY serial",
        "finding certificates to revoke", [](const Statement& st) { return st.Text(0); }, cluster);
    if (!found.ok()) return found.status();
    serials = *std::move(found);
    Statement revoke(db_,
                     "UPDATE certificates SET revoked_at = ?, revocation_reason = ? WHERE "
                     "subject_name = ? AND kind IN ('intermediate', 'agent-identity') AND "
                     "revoked_at IS NULL");
    revoke.Bind(UnixMillis(at)).Bind(int64_t{reason}).Bind(cluster);
    if (absl::Status r = revoke.Run(); !r.ok()) return r;
    Statement disable(db_, "UPDATE clusters SET enabled = 0 WHERE name = ?");
    disable.Bind(cluster);
    if (absl::Status r = disable.Run(); !r.ok()) return r;
    return ExpectOneRowChanged(db_, absl::StrCat("cluster \"", cluster, "\" is not registered"));
  });
  if (!s.ok()) return s;
  return serials;
}

absl::Status SqliteStore::RevokeCertificate(absl::string_view serial, int reason, TimePoint at,
                                            const AuditEvent& audit) {
  return Mutate(audit, [&]() -> absl::Status {
    Statement st(db_,
                 "UPDATE certificates SET revoked_at = ?, revocation_reason = ? WHERE serial = ? "
                 "AND revoked_at IS NULL");
    st.Bind(UnixMillis(at)).Bind(int64_t{reason}).Bind(serial);
    if (absl::Status r = st.Run(); !r.ok()) return r;
    if (sqlite3_changes(db_) == 1) return absl::OkStatus();
    Statement exists(db_, "SELECT 1 FROM certificates WHERE serial = ?");
    exists.Bind(serial);
    if (exists.Step() == SQLITE_ROW) {
      return absl::AlreadyExistsError(absl::StrCat("certificate ", serial, " is already revoked"));
    }
    return absl::NotFoundError(absl::StrCat("no certificate with serial ", serial));
  });
}

absl::StatusOr<std::vector<CertificateRecord>> SqliteStore::ListRevoked(
    absl::string_view issuer_key_id) {
  absl::MutexLock lock(&mu_);
  return QueryRows<CertificateRecord>(
      db_,
      absl::StrCat("SELECT ", kCertificateColumns,
                   " FROM certificates WHERE issuer_key_id = ? AND revoked_at IS "
                   "NOT NULL ORDER BY serial"),
      "listing revoked certificates", ReadCertificate, issuer_key_id);
}

absl::Status SqliteStore::SaveCrl(const CrlRecord& crl, const AuditEvent& audit) {
  return Mutate(audit, [&]() -> absl::Status {
    Statement st(db_,
                 "INSERT INTO crls (root_key_id, number, pem, this_update, next_update) VALUES "
                 "(?1, ?2, ?3, ?4, ?5) ON CONFLICT (root_key_id) DO UPDATE SET number = ?2, pem = "
                 "?3, this_update = ?4, next_update = ?5 WHERE number < ?2");
    st.Bind(crl.root_key_id).Bind(static_cast<int64_t>(crl.number)).Bind(crl.crl_pem);
    st.Bind(UnixMillis(crl.this_update)).Bind(UnixMillis(crl.next_update));
    if (absl::Status r = st.Run(); !r.ok()) return r;
    if (sqlite3_changes(db_) != 1) {
      return absl::FailedPreconditionError(
          absl::StrCat("CRL number ", crl.number, " is not above the stored one"));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<CrlRecord>> SqliteStore::ListCrls() {
  absl::MutexLock lock(&mu_);
  return QueryRows<CrlRecord>(
      db_,
      "SELECT root_key_id, number, pem, this_update, next_update FROM crls ORDER BY "
      "root_key_id",
      "listing CRLs", [](const Statement& st) {
        CrlRecord c;
        c.root_key_id = st.Text(0);
        c.number = static_cast<uint64_t>(st.Int(1));
        c.crl_pem = st.Text(2);
        c.this_update = FromUnixMillis(st.Int(3));
        c.next_update = FromUnixMillis(st.Int(4));
        return c;
      });
}

absl::Status SqliteStore::AddJoinToken(const JoinTokenRecord& token, const AuditEvent& audit) {
  return Mutate(audit, [&]() -> absl::Status {
    Statement st(db_,
                 "INSERT INTO join_tokens (hash, subject, created, expires) VALUES (?, ?, ?, ?)");
    st.Bind(token.hash)
        .Bind(token.subject)
        .Bind(UnixMillis(token.created))
        .Bind(UnixMillis(token.expires));
    return st.Run();
  });
}

absl::StatusOr<JoinTokenRecord> SqliteStore::GetJoinToken(absl::string_view hash) {
  absl::MutexLock lock(&mu_);
  Statement st(db_,
               "SELECT hash, subject, created, expires, used_at FROM join_tokens WHERE hash = ?");
  st.Bind(hash);
  int rc = st.Step();
  if (rc == SQLITE_DONE) return absl::NotFoundError("join token is not known");
  if (rc != SQLITE_ROW) return st.Error("reading a join token");
  JoinTokenRecord t;
  t.hash = st.Text(0);
  t.subject = st.Text(1);
  t.created = FromUnixMillis(st.Int(2));
  t.expires = FromUnixMillis(st.Int(3));
  t.used = !st.IsNull(4);
  return t;
}

absl::Status SqliteStore::RedeemJoinToken(absl::string_view hash, TimePoint now,
                                          const CertificateRecord& cert, const AuditEvent& audit) {
  return Mutate(audit, [&]() -> absl::Status {
    // The conditional UPDATE is the single-use guarantee: under the write
    // lock, only one transaction can see used_at IS NULL.
    Statement st(db_,
                 "UPDATE join_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL AND "
                 "expires > ?");
    st.Bind(UnixMillis(now)).Bind(hash).Bind(UnixMillis(now));
    if (absl::Status s = st.Run(); !s.ok()) return s;
    if (sqlite3_changes(db_) != 1) {
      Statement why(db_, "SELECT used_at FROM join_tokens WHERE hash = ?");
      why.Bind(hash);
      if (why.Step() == SQLITE_ROW && !why.IsNull(0)) {
        return absl::AlreadyExistsError("join token was already used");
      }
      return absl::DeadlineExceededError("join token has expired");
    }
    return InsertCertificate(db_, cert);
  });
}

absl::Status SqliteStore::RecordCertificate(const CertificateRecord& cert,
                                            const AuditEvent& audit) {
  return Mutate(audit, [&]() -> absl::Status {
    if (absl::Status s = InsertCertificate(db_, cert); !s.ok()) return s;
    if (cert.kind != kKindIntermediate) return absl::OkStatus();
    Statement st(db_,
                 "UPDATE clusters SET current_serial = ?, current_not_after = ? WHERE name = ?");
    st.Bind(cert.serial).Bind(UnixMillis(cert.not_after)).Bind(cert.subject_name);
    if (absl::Status s = st.Run(); !s.ok()) return s;
    return ExpectOneRowChanged(
        db_, absl::StrCat("cluster \"", cert.subject_name, "\" is not registered"));
  });
}

absl::StatusOr<CertificateRecord> SqliteStore::GetCertificate(absl::string_view serial) {
  absl::MutexLock lock(&mu_);
  Statement st(
      db_,
      absl::StrCat("SELECT ", kCertificateColumns, " FROM certificates WHERE serial = ?").c_str());
  st.Bind(serial);
  int rc = st.Step();
  if (rc == SQLITE_DONE)
    return absl::NotFoundError(absl::StrCat("no certificate with serial ", serial));
  if (rc != SQLITE_ROW) return st.Error("reading a certificate");
  return ReadCertificate(st);
}

absl::StatusOr<std::vector<CertificateRecord>> SqliteStore::ListCertificates(
    const CertificateFilter& filter) {
  absl::MutexLock lock(&mu_);
  return QueryRows<CertificateRecord>(
      db_,
      absl::StrCat("SELECT ", kCertificateColumns,
                   " FROM certificates WHERE (?1 = '' OR subject_name = ?1) AND "
                   "(?2 = '' OR kind = ?2) ORDER BY issued_at DESC, serial LIMIT ?3"),
      "listing certificates", ReadCertificate, absl::string_view(filter.subject_name),
      absl::string_view(filter.kind), int64_t{filter.limit});
}

absl::Status SqliteStore::AddRoot(const RootRecord& root, const AuditEvent& audit,
                                  absl::string_view rotation_state) {
  return Mutate(audit, [&]() -> absl::Status {
    Statement st(db_,
                 "INSERT INTO roots (key_id, certificate_pem, chain_pem, anchor_pem, status, "
                 "created) VALUES (?, ?, ?, ?, ?, ?)");
    st.Bind(root.key_id).Bind(root.certificate_pem).Bind(root.chain_pem).Bind(root.anchor_pem);
    st.Bind(root.status).Bind(UnixMillis(root.created));
    if (absl::Status s = st.Run(); !s.ok()) return s;
    if (rotation_state.empty()) return absl::OkStatus();
    Statement meta(db_,
                   "INSERT INTO meta (key, value) VALUES ('root_rotation', ?1) ON CONFLICT (key) "
                   "DO UPDATE SET value = ?1");
    meta.Bind(rotation_state);
    return meta.Run();
  });
}

absl::Status SqliteStore::UpdateRoots(
    const std::vector<std::pair<std::string, std::string>>& statuses,
    absl::string_view rotation_state, const AuditEvent& audit) {
  return Mutate(audit, [&]() -> absl::Status {
    for (const auto& [key_id, status] : statuses) {
      Statement st(db_, "UPDATE roots SET status = ? WHERE key_id = ?");
      st.Bind(status).Bind(key_id);
      if (absl::Status s = st.Run(); !s.ok()) return s;
      if (absl::Status s = ExpectOneRowChanged(db_, absl::StrCat("no root ", key_id)); !s.ok()) {
        return s;
      }
    }
    Statement meta(db_,
                   "INSERT INTO meta (key, value) VALUES ('root_rotation', ?1) ON CONFLICT (key) "
                   "DO UPDATE SET value = ?1");
    meta.Bind(rotation_state);
    return meta.Run();
  });
}

absl::StatusOr<std::string> SqliteStore::RotationState() {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "SELECT value FROM meta WHERE key = 'root_rotation'");
  int rc = st.Step();
  if (rc == SQLITE_ROW) return st.Text(0);
  if (rc != SQLITE_DONE) return st.Error("reading the rotation state");
  return std::string();
}

absl::StatusOr<std::vector<RootRecord>> SqliteStore::ListRoots() {
  absl::MutexLock lock(&mu_);
  return QueryRows<RootRecord>(
      db_,
      "SELECT id, key_id, certificate_pem, chain_pem, anchor_pem, status, created "
      "FROM roots ORDER BY id",
      "listing roots", [](const Statement& st) {
        RootRecord r;
        r.id = st.Int(0);
        r.key_id = st.Text(1);
        r.certificate_pem = st.Text(2);
        r.chain_pem = st.Text(3);
        r.anchor_pem = st.Text(4);
        r.status = st.Text(5);
        r.created = FromUnixMillis(st.Int(6));
        return r;
      });
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
  absl::MutexLock lock(&mu_);
  return head_;
}

absl::StatusOr<std::string> SqliteStore::IntegrityCheck() {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "PRAGMA integrity_check");
  if (st.Step() != SQLITE_ROW) return st.Error("checking integrity");
  return st.Text(0);
}

}  // namespace meshtrust::ca
