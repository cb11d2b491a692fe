#include "ca/core/authorizer.h"

#include "absl/strings/str_cat.h"
#include "ca/core/states.h"

namespace meshtrust::ca {

absl::StatusOr<ClusterRecord> Authorizer::AuthorizeAgent(const Caller& caller) const {
  if (caller.kind != CallerKind::kAgent) {
    return absl::PermissionDeniedError(absl::StrCat(
        caller.ToString(), " is not a cluster agent; this call needs a cluster identity"));
  }
  absl::StatusOr<CertificateRecord> identity = store_->GetCertificate(caller.serial);
  if (!identity.ok() || !IsCertificateKind(identity->kind, CertificateKind::kAgentIdentity) ||
      identity->subject_name != caller.name) {
    return absl::UnauthenticatedError(absl::StrCat("client certificate ", caller.serial,
                                                   " was not issued by this CA as the identity of ",
                                                   caller.ToString()));
  }
  if (absl::Status s = CheckIdentityCurrent(*identity); !s.ok()) return s;
  absl::StatusOr<ClusterRecord> cluster = store_->GetCluster(caller.name);
  if (!cluster.ok()) return cluster.status();
  if (!cluster->enabled) {
    return absl::PermissionDeniedError(
        absl::StrCat("cluster \"", caller.name,
                     "\" is disabled; an operator must run `meshtrustctl cluster "
                     "enable ",
                     caller.name, "`"));
  }
  if (!identity->pending_supersede.empty()) SupersedePrevious(caller, *identity);
  return cluster;
}

absl::Status Authorizer::AuthorizeAdmin(const Caller& caller, AdminAccess access) const {
  if (!caller.IsAdmin()) {
    return absl::PermissionDeniedError(
        absl::StrCat(caller.ToString(), " is not an admin; admin calls need an admin identity"));
  }
  if (access == AdminAccess::kWrite && caller.kind != CallerKind::kOperator) {
    return absl::PermissionDeniedError(
        absl::StrCat(caller.ToString(), " is an auditor (read-only); this call needs an operator"));
  }
  absl::StatusOr<CertificateRecord> identity = store_->GetCertificate(caller.serial);
  if (!identity.ok() || !IsCertificateKind(identity->kind, CertificateKind::kAdminIdentity) ||
      identity->subject_name != caller.name) {
    return absl::UnauthenticatedError(absl::StrCat(
        "client certificate ", caller.serial, " was not issued by this CA as an admin identity"));
  }
  return CheckIdentityCurrent(*identity);
}

absl::Status Authorizer::CheckIdentityCurrent(const CertificateRecord& identity) const {
  if (identity.revoked) {
    return absl::UnauthenticatedError(
        absl::StrCat("client certificate ", identity.serial, " has been revoked"));
  }
  if (identity.superseded) {
    return absl::UnauthenticatedError(
        absl::StrCat("client certificate ", identity.serial, " was superseded at ",
                     UnixSeconds(identity.superseded_at), " (unix time) by the renewed identity ",
                     identity.superseded_by, "; use the renewed identity (or enroll again)"));
  }
  // TLS checks validity at a full handshake only: a resumed session or a
  // long-lived connection can outlast the certificate, so every call checks.
  if (identity.not_after <= clock_->Now()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "client certificate ", identity.serial, " expired at ", UnixSeconds(identity.not_after),
        " (unix time); renew the identity or enroll again"));
  }
  return absl::OkStatus();
}

void Authorizer::SupersedePrevious(const Caller& caller, const CertificateRecord& identity) const {
  // The renewed identity has now worked once, so the agent no longer needs
  // the one it renewed: from here on that one is refused.
  AuditedCall call = audit_->Begin(caller, "SupersedeIdentity", caller.name, "");
  call.set_serial(identity.pending_supersede);
  // Refused (kAlreadyExists) when another call with the same identity got
  // there first; a failing store leaves the previous identity valid until
  // the next call tries again. Either way nothing was recorded.
  store_->SupersedeRenewedIdentity(identity.serial, clock_->Now(), call.Succeeded("superseded"))
      .IgnoreError();
}

absl::Status Authorizer::Reauthorize(const Caller& caller, absl::string_view action) const {
  AuditedCall call = audit_->Begin(caller, action, caller.name, "");
  absl::Status s = caller.kind == CallerKind::kAgent ? AuthorizeAgent(caller).status()
                                                     : AuthorizeAdmin(caller, AdminAccess::kRead);
  if (!s.ok()) return call.Refuse(s);
  // A stream that may go on is not news; only its end is recorded.
  call.Unrecorded();
  return absl::OkStatus();
}

}  // namespace meshtrust::ca
