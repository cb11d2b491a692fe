// Authorizer: may this caller make this call? Decided per call from the
// store (the identity's issuance, revocation and expiry, its cluster's
// state), never from the TLS handshake alone. Thread safe.
#ifndef MESHTRUST_CA_CORE_AUTHORIZER_H_
#define MESHTRUST_CA_CORE_AUTHORIZER_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/clock.h"
#include "ca/core/audited_call.h"
#include "ca/core/identity.h"
#include "ca/store/store.h"

namespace meshtrust::ca {

// What an admin call does: auditors may only read.
enum class AdminAccess { kRead, kWrite };

class Authorizer {
 public:
  // `store`, `clock` and `audit` must outlive it.
  Authorizer(Store* store, const Clock* clock, const AuditTrail* audit)
      : store_(store), clock_(clock), audit_(audit) {}

  // The caller's cluster, when the caller is an agent whose identity
  // certificate this CA issued and has not revoked, of an enabled cluster;
  // kUnauthenticated or kPermissionDenied otherwise. The first success with
  // a renewed identity supersedes the identity it renewed.
  absl::StatusOr<ClusterRecord> AuthorizeAgent(const Caller& caller) const;
  // OK when the caller is an admin whose identity is current, and an
  // operator for kWrite.
  absl::Status AuthorizeAdmin(const Caller& caller, AdminAccess access) const;
  // kUnauthenticated when the identity certificate is revoked, superseded by
  // a renewed identity that has been used, or expired.
  absl::Status CheckIdentityCurrent(const CertificateRecord& identity) const;

  // For long-lived calls (Watch streams): OK while `caller` may still make
  // the call it started. A refusal is audited as `action`.
  absl::Status Reauthorize(const Caller& caller, absl::string_view action) const;

 private:
  // The first successful call with a renewed identity supersedes the one it
  // renewed (audited as SupersedeIdentity).
  void SupersedePrevious(const Caller& caller, const CertificateRecord& identity) const;

  Store* store_;
  const Clock* clock_;
  const AuditTrail* audit_;
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_AUTHORIZER_H_
