// Internal to the SQLite backend (ca/store/sqlite_*.cc): the prepared
// statement wrapper, the row-mapping query helper and the transaction that
// pairs each change with its audit record. Not for use outside ca/store/.
#ifndef MESHTRUST_CA_STORE_SQLITE_INTERNAL_H_
#define MESHTRUST_CA_STORE_SQLITE_INTERNAL_H_

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "ca/store/sqlite_store.h"

namespace meshtrust::ca {
namespace sqlite_internal {

// One database connection and the statements prepared on it. Preparing a
// statement costs more than running most of ours, so each is prepared once
// per connection and kept for reuse. A connection is used by one thread at a
// time (the writer under the store's lock, a reader while it is leased).
class Connection {
 public:
  explicit Connection(sqlite3* handle) : handle_(handle) {}
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* handle() const { return handle_; }
  // A prepared statement for `sql` (reset, nothing bound), taken out of the
  // cache so that a statement nested inside another's rows gets its own;
  // null with *rc set when `sql` does not prepare.
  sqlite3_stmt* Take(const std::string& sql, int* rc);
  // Returns a statement taken for `sql`, reset.
  void Give(std::string sql, sqlite3_stmt* stmt);

 private:
  sqlite3* handle_;
  absl::flat_hash_map<std::string, sqlite3_stmt*> idle_;
};

// One prepared statement (from its connection's cache); binds by position,
// reset and returned to the cache on destruction.
class Statement {
 public:
  Statement(Connection* db, std::string sql) : conn_(db), db_(db->handle()), sql_(std::move(sql)) {
    stmt_ = db->Take(sql_, &rc_);
  }
  ~Statement() {
    if (stmt_ != nullptr) conn_->Give(std::move(sql_), stmt_);
  }
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
  Connection* conn_;
  sqlite3* db_;
  std::string sql_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_OK;
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
absl::StatusOr<std::vector<T>> QueryRows(Connection* db, std::string sql, absl::string_view what,
                                         Read read, const Params&... params) {
  Statement st(db, std::move(sql));
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

inline absl::Status Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    return absl::InternalError(absl::StrCat("database error: ", msg));
  }
  return absl::OkStatus();
}

inline absl::Status Exec(Connection* db, const char* sql) { return Exec(db->handle(), sql); }

// `refusal` unless the last statement changed exactly one row.
inline absl::Status ExpectOneRowChanged(Connection* db, absl::Status refusal) {
  if (sqlite3_changes(db->handle()) != 1) return refusal;
  return absl::OkStatus();
}

// Inserts an issued certificate; kAlreadyExists when its serial was issued
// before. Defined in sqlite_certificates.cc; RedeemJoinToken records the
// enrolled identity with it too.
absl::Status InsertCertificate(Connection* db, const CertificateRecord& cert);

// How many rows the last statement on `db` changed.
inline int Changes(Connection* db) { return sqlite3_changes(db->handle()); }

}  // namespace sqlite_internal

// A read-only connection leased for one read, returned when it goes.
class SqliteStore::Reader {
 public:
  explicit Reader(SqliteStore* store) : store_(store), conn_(store->TakeReader()) {}
  ~Reader() {
    if (conn_.ok()) store_->GiveReader(*std::move(conn_));
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  bool ok() const { return conn_.ok(); }
  absl::Status status() const { return conn_.status(); }
  sqlite_internal::Connection* get() const { return conn_->get(); }

 private:
  SqliteStore* store_;
  absl::StatusOr<std::unique_ptr<sqlite_internal::Connection>> conn_;
};

// Defined here so that every part of the backend can instantiate it.
template <typename Body>
absl::Status SqliteStore::Mutate(const AuditEvent& audit, Body body) {
  return Write(audit, absl::FunctionRef<absl::Status()>(body));
}

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_STORE_SQLITE_INTERNAL_H_
