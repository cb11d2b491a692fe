// SqliteStore: the mesh roots and the phase of a root rotation.
#include <sqlite3.h>

#include "ca/store/sqlite_internal.h"
#include "ca/store/sqlite_store.h"
#include "ca/store/store_errors.h"

namespace meshtrust::ca {

using sqlite_internal::Connection;
using sqlite_internal::ExpectOneRowChanged;
using sqlite_internal::QueryRows;
using sqlite_internal::Statement;

namespace {

absl::Status SetRotationState(Connection* db, absl::string_view rotation_state) {
  Statement st(db,
               "INSERT INTO meta (key, value) VALUES ('root_rotation', ?1) ON CONFLICT (key) DO "
               "UPDATE SET value = ?1");
  st.Bind(rotation_state);
  return st.Run();
}

}  // namespace

absl::Status SqliteStore::AddRoot(const RootRecord& root, const AuditEvent& audit,
                                  absl::string_view rotation_state) {
  return Mutate(audit, [&]() -> absl::Status {
    Statement st(db_,
                 "INSERT INTO roots (key_id, certificate_pem, chain_pem, anchor_pem, status, "
                 "created) VALUES (?, ?, ?, ?, ?, ?)");
    st.Bind(root.key_id).Bind(root.certificate_pem).Bind(root.chain_pem).Bind(root.anchor_pem);
    st.Bind(root.status).Bind(UnixMillis(root.created));
    if (absl::Status s = st.Run(); !s.ok()) return s;
    if (!root.endorsement_pem.empty()) {
      Statement e(db_, "INSERT INTO root_endorsements (key_id, certificate_pem) VALUES (?, ?)");
      e.Bind(root.key_id).Bind(root.endorsement_pem);
      if (absl::Status s = e.Run(); !s.ok()) return s;
    }
    if (rotation_state.empty()) return absl::OkStatus();
    return SetRotationState(db_, rotation_state);
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
      if (absl::Status s = ExpectOneRowChanged(db_, NoRootError(key_id)); !s.ok()) {
        return s;
      }
    }
    return SetRotationState(db_, rotation_state);
  });
}

absl::StatusOr<std::string> SqliteStore::RotationState() {
  Reader db(this);
  if (!db.ok()) return db.status();
  Statement st(db.get(), "SELECT value FROM meta WHERE key = 'root_rotation'");
  int rc = st.Step();
  if (rc == SQLITE_ROW) return st.Text(0);
  if (rc != SQLITE_DONE) return st.Error("reading the rotation state");
  return std::string();
}

absl::StatusOr<std::vector<RootRecord>> SqliteStore::ListRoots() {
  Reader db(this);
  if (!db.ok()) return db.status();
  return QueryRows<RootRecord>(
      db.get(),
      "SELECT r.id, r.key_id, r.certificate_pem, r.chain_pem, r.anchor_pem, r.status, r.created, "
      "coalesce(e.certificate_pem, '') FROM roots r LEFT JOIN root_endorsements e "
      "ON e.key_id = r.key_id ORDER BY r.id",
      "listing roots", [](const Statement& st) {
        RootRecord r;
        r.id = st.Int(0);
        r.key_id = st.Text(1);
        r.certificate_pem = st.Text(2);
        r.chain_pem = st.Text(3);
        r.anchor_pem = st.Text(4);
        r.status = st.Text(5);
        r.created = FromUnixMillis(st.Int(6));
        r.endorsement_pem = st.Text(7);
        return r;
      });
}

}  // namespace meshtrust::ca
