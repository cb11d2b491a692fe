// Enrollment: identities from the control CA. An agent or admin enrolls
// once with a join token and renews over mTLS; the CA's offline operator
// mints admin tokens. Guessed tokens are throttled per source address.
// Thread safe.
#ifndef MESHTRUST_CA_CORE_ENROLLMENT_H_
#define MESHTRUST_CA_CORE_ENROLLMENT_H_

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/clock.h"
#include "ca/core/audited_call.h"
#include "ca/core/authority_options.h"
#include "ca/core/authorizer.h"
#include "ca/core/enroll_limiter.h"
#include "ca/core/identity.h"
#include "ca/core/issuance.h"
#include "ca/core/issuance_throttle.h"
#include "ca/core/join_token.h"
#include "ca/store/store.h"

namespace meshtrust::ca {

struct IssuedIdentity {
  std::string identity;
  std::string certificate_pem;
  std::string control_ca_pem;
  AuditCheckpoint checkpoint;
};

class Enrollment {
 public:
  // Every pointer must outlive the Enrollment; `control` must hold a
  // certificate and its key.
  Enrollment(Store* store, const Clock* clock, const AuditTrail* audit,
             const Authorizer* authorizer, ControlCa control, const AuthorityOptions* options);

  // `source` is where the call came from (an IP address, or "local"), for
  // the per-source limit on invalid tokens and the audit record. A non-empty
  // `expected_identity` that the token does not enroll is refused before
  // the token is spent.
  absl::StatusOr<IssuedIdentity> Enroll(absl::string_view token, absl::string_view csr_der,
                                        absl::string_view source,
                                        absl::string_view expected_identity);
  // A new identity certificate for an enrolled agent, for a new key;
  // counted against the cluster's issuance limit.
  absl::StatusOr<IssuedIdentity> RenewIdentity(const Caller& caller, absl::string_view csr_der);
  // A token that enrolls an admin; for the local, offline operator only.
  absl::StatusOr<NewJoinToken> CreateAdminToken(const EnrollmentSubject& admin,
                                                std::chrono::seconds ttl);

  // Source addresses refused right now for guessing join tokens.
  size_t ThrottledSources() { return limiter_.ThrottledSources(clock_->Now()); }
  // Clusters refused right now for renewing their identity too often.
  size_t ThrottledRenewals() { return renewals_.Throttled(clock_->Now()); }

 private:
  // CheckSubjectNamesNoOtherCluster against the registered clusters.
  absl::Status CheckSubjectCluster(X509_REQ* csr, absl::string_view cluster);

  Store* store_;
  const Clock* clock_;
  const AuditTrail* audit_;
  const Authorizer* authorizer_;
  const ControlCa control_;
  const std::string control_ca_pem_;
  const AuthorityOptions* options_;
  EnrollLimiter limiter_;
  IssuanceThrottle renewals_{"identity renewals"};
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_ENROLLMENT_H_
