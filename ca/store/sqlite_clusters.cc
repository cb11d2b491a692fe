// SqliteStore: clusters (policy, current intermediate, what the agent
// acknowledged) and the join tokens that enroll their agents.
#include <sqlite3.h>

#include "absl/strings/str_cat.h"
#include "ca/store/sqlite_internal.h"
#include "ca/store/sqlite_store.h"
#include "ca/store/store_errors.h"

namespace meshtrust::ca {

using sqlite_internal::Connection;
using sqlite_internal::ExpectOneRowChanged;
using sqlite_internal::InsertCertificate;
using sqlite_internal::QueryRows;
using sqlite_internal::Statement;

namespace {

// A rotation request remembers the newest certificate row when it was made
// (certificates are only ever added, so rowids grow): an intermediate of the
// cluster with a higher rowid was issued after the request. The cluster's
// current intermediate is its newest, so looking at that one row (by its
// serial) answers it, however many the cluster was issued before.
constexpr const char* kClusterSelect =
    "SELECT c.name, c.enabled, c.policy, c.created, c.current_serial, c.current_not_after, "
    "c.acked_serial, c.acked_bundle, c.acked_at, c.intermediate_crl, "
    "COALESCE(a.not_after, 0), r.requested_at, "
    "COALESCE((SELECT i.rowid FROM certificates i WHERE i.serial = c.current_serial) > "
    "r.after_certificate, 0) "
    "FROM clusters c LEFT JOIN certificates a ON a.serial = c.acked_serial AND a.kind = "
    "'intermediate' LEFT JOIN rotation_requests r ON r.cluster = c.name";

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
  c.acked_not_after = FromUnixMillis(st.Int(10));
  c.rotation_requested = !st.IsNull(11);
  if (c.rotation_requested) {
    c.rotation_requested_at = FromUnixMillis(st.Int(11));
    c.rotation_issued = st.Int(12) != 0;
  }
  return c;
}

absl::Status InsertJoinToken(Connection* db, const JoinTokenRecord& token) {
  Statement st(db, "INSERT INTO join_tokens (hash, subject, created, expires) VALUES (?, ?, ?, ?)");
  st.Bind(token.hash)
      .Bind(token.subject)
      .Bind(UnixMillis(token.created))
      .Bind(UnixMillis(token.expires));
  return st.Run();
}

}  // namespace

absl::Status SqliteStore::AddCluster(const ClusterRecord& cluster, const JoinTokenRecord& token,
                                     const AuditEvent& audit) {
  return Mutate(audit, [&]() -> absl::Status {
    Statement st(db_, "INSERT INTO clusters (name, enabled, policy, created) VALUES (?, ?, ?, ?)");
    st.Bind(cluster.name).Bind(int64_t{cluster.enabled}).Bind(cluster.policy.ToJson());
    st.Bind(UnixMillis(cluster.created));
    if (st.Step() != SQLITE_DONE) {
      absl::Status s = st.Error("adding a cluster");
      if (absl::IsAlreadyExists(s)) return ClusterExistsError(cluster.name);
      return s;
    }
    return InsertJoinToken(db_, token);
  });
}

absl::StatusOr<ClusterRecord> SqliteStore::GetCluster(absl::string_view name) {
  Reader db(this);
  if (!db.ok()) return db.status();
  Statement st(db.get(), absl::StrCat(kClusterSelect, " WHERE c.name = ?"));
  st.Bind(name);
  int rc = st.Step();
  if (rc == SQLITE_DONE) return ClusterNotRegisteredError(name);
  if (rc != SQLITE_ROW) return st.Error("reading a cluster");
  return ReadCluster(st);
}

absl::StatusOr<std::vector<ClusterRecord>> SqliteStore::ListClusters() {
  Reader db(this);
  if (!db.ok()) return db.status();
  return QueryRows<ClusterRecord>(db.get(), absl::StrCat(kClusterSelect, " ORDER BY c.name"),
                                  "listing clusters", ReadCluster);
}

absl::Status SqliteStore::SetClusterEnabled(absl::string_view name, bool enabled,
                                            const AuditEvent& audit) {
  return Mutate(audit, [&]() -> absl::Status {
    Statement st(db_, "UPDATE clusters SET enabled = ? WHERE name = ?");
    st.Bind(int64_t{enabled}).Bind(name);
    if (absl::Status s = st.Run(); !s.ok()) return s;
    return ExpectOneRowChanged(db_, ClusterNotRegisteredError(name));
  });
}

absl::Status SqliteStore::SetClusterPolicy(absl::string_view name, const ClusterPolicy& policy,
                                           const AuditEvent& audit) {
  return Mutate(audit, [&]() -> absl::Status {
    Statement st(db_, "UPDATE clusters SET policy = ? WHERE name = ?");
    st.Bind(policy.ToJson()).Bind(name);
    if (absl::Status s = st.Run(); !s.ok()) return s;
    return ExpectOneRowChanged(db_, ClusterNotRegisteredError(name));
  });
}

absl::Status SqliteStore::RequestRotation(absl::string_view cluster, TimePoint at,
                                          const AuditEvent& audit) {
  return Mutate(audit, [&]() -> absl::Status {
    Statement known(db_, "SELECT 1 FROM clusters WHERE name = ?");
    known.Bind(cluster);
    if (known.Step() != SQLITE_ROW) return ClusterNotRegisteredError(cluster);
    Statement st(db_,
                 "INSERT OR REPLACE INTO rotation_requests (cluster, requested_at, "
                 "after_certificate) VALUES (?, ?, (SELECT COALESCE(MAX(rowid), 0) FROM "
                 "certificates))");
    st.Bind(cluster).Bind(UnixMillis(at));
    return st.Run();
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
    if (absl::Status s = ExpectOneRowChanged(db_, ClusterNotRegisteredError(cluster)); !s.ok()) {
      return s;
    }
    Statement done(db_,
                   "DELETE FROM rotation_requests WHERE cluster = ? AND after_certificate < "
                   "(SELECT rowid FROM certificates WHERE serial = ? AND subject_name = ? AND "
                   "kind = 'intermediate')");
    done.Bind(cluster).Bind(serial).Bind(cluster);
    if (absl::Status s = done.Run(); !s.ok()) return s;
    if (crl.crl_pem.empty()) return absl::OkStatus();
    Statement put(db_,
                  "INSERT OR REPLACE INTO intermediate_crls (serial, cluster, pem, next_update, "
                  "intermediate_not_after) VALUES (?, ?, ?, ?, ?)");
    put.Bind(crl.serial).Bind(cluster).Bind(crl.crl_pem).Bind(UnixMillis(crl.next_update));
    put.Bind(UnixMillis(crl.intermediate_not_after));
    return put.Run();
  });
}

absl::Status SqliteStore::AddJoinToken(const JoinTokenRecord& token, const AuditEvent& audit) {
  return Mutate(audit, [&]() -> absl::Status { return InsertJoinToken(db_, token); });
}

absl::StatusOr<JoinTokenRecord> SqliteStore::GetJoinToken(absl::string_view hash) {
  Reader db(this);
  if (!db.ok()) return db.status();
  Statement st(db.get(),
               "SELECT hash, subject, created, expires, used_at FROM join_tokens WHERE hash = ?");
  st.Bind(hash);
  int rc = st.Step();
  if (rc == SQLITE_DONE) return JoinTokenUnknownError();
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
    if (sqlite_internal::Changes(db_) != 1) {
      Statement why(db_, "SELECT used_at FROM join_tokens WHERE hash = ?");
      why.Bind(hash);
      if (why.Step() == SQLITE_ROW && !why.IsNull(0)) return JoinTokenUsedError();
      return JoinTokenExpiredError();
    }
    return InsertCertificate(db_, cert);
  });
}

}  // namespace meshtrust::ca
