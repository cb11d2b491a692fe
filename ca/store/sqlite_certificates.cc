// SqliteStore: issued certificates, their revocation, the roots' CRLs and
// the CRLs the clusters' intermediates signed.
#include <sqlite3.h>

#include "absl/strings/str_cat.h"
#include "ca/store/sqlite_internal.h"
#include "ca/store/sqlite_store.h"
#include "ca/store/store_errors.h"

namespace meshtrust::ca {

using sqlite_internal::Connection;
using sqlite_internal::ExpectOneRowChanged;
using sqlite_internal::QueryRows;
using sqlite_internal::Statement;

namespace {

constexpr const char* kCertificateColumns =
    "serial, kind, subject_name, subject, not_before, not_after, pem, issued_at, revoked_at, "
    "issuer_key_id, revocation_reason, "
    "(SELECT r.previous_serial FROM identity_renewals r WHERE r.serial = certificates.serial "
    "AND r.superseded_at IS NULL), "
    "(SELECT r.serial FROM identity_renewals r WHERE r.previous_serial = certificates.serial "
    "AND r.superseded_at IS NOT NULL ORDER BY r.superseded_at LIMIT 1), "
    "(SELECT MIN(r.superseded_at) FROM identity_renewals r WHERE "
    "r.previous_serial = certificates.serial AND r.superseded_at IS NOT NULL)";

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
  if (!st.IsNull(11)) c.pending_supersede = st.Text(11);
  c.superseded = !st.IsNull(12);
  if (c.superseded) {
    c.superseded_by = st.Text(12);
    c.superseded_at = FromUnixMillis(st.Int(13));
  }
  return c;
}

}  // namespace

namespace sqlite_internal {

absl::Status InsertCertificate(Connection* db, const CertificateRecord& cert) {
  Statement st(db,
               "INSERT INTO certificates (serial, kind, subject_name, subject, not_before, "
               "not_after, pem, issued_at, issuer_key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  st.Bind(cert.serial).Bind(cert.kind).Bind(cert.subject_name).Bind(cert.subject);
  st.Bind(UnixMillis(cert.not_before)).Bind(UnixMillis(cert.not_after)).Bind(cert.certificate_pem);
  st.Bind(UnixMillis(cert.issued_at)).Bind(cert.issuer_key_id);
  if (st.Step() != SQLITE_DONE) {
    absl::Status s = st.Error("recording a certificate");
    if (absl::IsAlreadyExists(s)) return SerialIssuedError(cert.serial);
    return s;
  }
  return absl::OkStatus();
}

}  // namespace sqlite_internal

using sqlite_internal::InsertCertificate;

absl::Status SqliteStore::RecordCertificate(const CertificateRecord& cert,
                                            const AuditEvent& audit) {
  return Mutate(audit, [&]() -> absl::Status {
    if (absl::Status s = InsertCertificate(db_, cert); !s.ok()) return s;
    if (!cert.renews.empty()) {
      Statement renewal(db_,
                        "INSERT INTO identity_renewals (serial, previous_serial) VALUES (?, ?)");
      renewal.Bind(cert.serial).Bind(cert.renews);
      if (absl::Status s = renewal.Run(); !s.ok()) return s;
    }
    if (cert.kind != kKindIntermediate) return absl::OkStatus();
    Statement st(db_,
                 "UPDATE clusters SET current_serial = ?, current_not_after = ? WHERE name = ?");
    st.Bind(cert.serial).Bind(UnixMillis(cert.not_after)).Bind(cert.subject_name);
    if (absl::Status s = st.Run(); !s.ok()) return s;
    return ExpectOneRowChanged(db_, ClusterNotRegisteredError(cert.subject_name));
  });
}

absl::StatusOr<CertificateRecord> SqliteStore::GetCertificate(absl::string_view serial) {
  Reader db(this);
  if (!db.ok()) return db.status();
  Statement st(db.get(),
               absl::StrCat("SELECT ", kCertificateColumns, " FROM certificates WHERE serial = ?"));
  st.Bind(serial);
  int rc = st.Step();
  if (rc == SQLITE_DONE) return NoCertificateError(serial);
  if (rc != SQLITE_ROW) return st.Error("reading a certificate");
  return ReadCertificate(st);
}

absl::Status SqliteStore::SupersedeRenewedIdentity(absl::string_view successor, TimePoint at,
                                                   const AuditEvent& audit) {
  return Mutate(audit, [&]() -> absl::Status {
    Statement st(db_,
                 "UPDATE identity_renewals SET superseded_at = ? WHERE serial = ? AND "
                 "superseded_at IS NULL");
    st.Bind(UnixMillis(at)).Bind(successor);
    if (absl::Status r = st.Run(); !r.ok()) return r;
    if (sqlite_internal::Changes(db_) == 1) return absl::OkStatus();
    Statement exists(db_, "SELECT 1 FROM identity_renewals WHERE serial = ?");
    exists.Bind(successor);
    if (exists.Step() == SQLITE_ROW) {
      return absl::AlreadyExistsError(
          absl::StrCat("the identity renewed by ", successor, " is already superseded"));
    }
    return absl::NotFoundError(absl::StrCat("certificate ", successor, " renews no identity"));
  });
}

absl::StatusOr<std::vector<CertificateRecord>> SqliteStore::ListCertificates(
    const CertificateFilter& filter) {
  Reader db(this);
  if (!db.ok()) return db.status();
  return QueryRows<CertificateRecord>(
      db.get(),
      absl::StrCat("SELECT ", kCertificateColumns,
                   " FROM certificates WHERE (?1 = '' OR subject_name = ?1) AND "
                   "(?2 = '' OR kind = ?2) ORDER BY issued_at DESC, serial LIMIT ?3"),
      "listing certificates", ReadCertificate, absl::string_view(filter.subject_name),
      absl::string_view(filter.kind), int64_t{filter.limit});
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
    return ExpectOneRowChanged(db_, ClusterNotRegisteredError(cluster));
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
    if (sqlite_internal::Changes(db_) == 1) return absl::OkStatus();
    Statement exists(db_, "SELECT 1 FROM certificates WHERE serial = ?");
    exists.Bind(serial);
    if (exists.Step() == SQLITE_ROW) return AlreadyRevokedError(serial);
    return NoCertificateError(serial);
  });
}

absl::Status SqliteStore::ReleaseHold(absl::string_view serial, const AuditEvent& audit) {
  constexpr int64_t kCertificateHold = 6;  // RFC 5280 CRLReason.
  return Mutate(audit, [&]() -> absl::Status {
    Statement st(
        db_,
        "UPDATE certificates SET revoked_at = NULL, revocation_reason = 0 WHERE serial = ? "
        "AND revoked_at IS NOT NULL AND revocation_reason = ?");
    st.Bind(serial).Bind(kCertificateHold);
    if (absl::Status r = st.Run(); !r.ok()) return r;
    if (sqlite_internal::Changes(db_) == 1) return absl::OkStatus();
    Statement state(db_, "SELECT revoked_at, revocation_reason FROM certificates WHERE serial = ?");
    state.Bind(serial);
    if (state.Step() != SQLITE_ROW) return NoCertificateError(serial);
    if (state.IsNull(0)) return NotRevokedError(serial);
    return NotOnHoldError(serial, static_cast<int>(state.Int(1)));
  });
}

absl::StatusOr<std::vector<CertificateRecord>> SqliteStore::ListRevoked(
    absl::string_view issuer_key_id) {
  Reader db(this);
  if (!db.ok()) return db.status();
  return QueryRows<CertificateRecord>(
      db.get(),
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
    if (sqlite_internal::Changes(db_) != 1) return CrlNumberNotAboveError(crl.number);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<CrlRecord>> SqliteStore::ListCrls() {
  Reader db(this);
  if (!db.ok()) return db.status();
  return QueryRows<CrlRecord>(
      db.get(),
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

absl::StatusOr<std::vector<IntermediateCrlRecord>> SqliteStore::ListIntermediateCrls(
    TimePoint now) {
  Reader db(this);
  if (!db.ok()) return db.status();
  return QueryRows<IntermediateCrlRecord>(
      db.get(),
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

}  // namespace meshtrust::ca
