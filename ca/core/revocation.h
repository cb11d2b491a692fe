// Revocation: revoking certificates and clusters, and publishing each mesh
// root's CRL (re-signed before its nextUpdate, and at once after a
// revocation) and the CRL set every agent installs. Thread safe; CRL
// issuance is serialized, so CRL numbers only grow.
#ifndef MESHTRUST_CA_CORE_REVOCATION_H_
#define MESHTRUST_CA_CORE_REVOCATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "base/clock.h"
#include "ca/core/audited_call.h"
#include "ca/core/authority_options.h"
#include "ca/core/authorizer.h"
#include "ca/core/trust_state.h"
#include "ca/core/watch_hub.h"
#include "ca/store/store.h"

namespace meshtrust::ca {

struct CrlSet {
  std::string root_crls_pem;  // One per trusted root, oldest root first.
  // The latest CRL of every unexpired intermediate (by cluster), except the
  // caller's current one.
  std::string intermediate_crls_pem;
  std::string sha256;  // Of both, concatenated.
};

struct RevokeResult {
  std::vector<std::string> serials;
  uint64_t crl_number = 0;
};

class Revocation {
 public:
  // Every pointer must outlive the Revocation.
  Revocation(Store* store, const Clock* clock, const AuditTrail* audit,
             const Authorizer* authorizer, const TrustState* trust, WatchHub* hub,
             const AuthorityOptions* options)
      : store_(store),
        clock_(clock),
        audit_(audit),
        authorizer_(authorizer),
        trust_(trust),
        hub_(hub),
        options_(options) {}

  // Revokes every intermediate (and the agent identity) of `cluster` and
  // disables it, or, with an empty `cluster`, the one certificate `serial`;
  // then re-signs the CRLs.
  absl::StatusOr<RevokeResult> Revoke(const Caller& caller, absl::string_view cluster,
                                      absl::string_view serial, absl::string_view reason);
  // Releases a hold: `serial`, revoked with reason certificateHold, is no
  // longer revoked (audited as "ReleaseHold"), and every root's CRL is
  // re-signed at once without it (never an empty CRL file: a signed CRL
  // with fewer entries), so that every agent installs the fresh set.
  // kNotFound for an unknown serial; kFailedPrecondition, naming the
  // reason, for a certificate not revoked or revoked for another reason.
  absl::StatusOr<RevokeResult> ReleaseHold(const Caller& caller, absl::string_view serial);
  // Re-signs each root's CRL when it is missing, half-way to nextUpdate,
  // when a certificate it lists has expired since it was signed (expired
  // certificates leave the CRL), or (with `force`) always, and tells the
  // agents when it signed one.
  absl::Status RefreshCrls(bool force) ABSL_LOCKS_EXCLUDED(crl_mu_);
  // The current CRL of the root `key_id`, PEM; kNotFound for unknown roots.
  absl::StatusOr<std::string> RootCrlPem(absl::string_view key_id);
  // The CRLs an agent installs: its bundle's roots' and the other
  // intermediates'.
  absl::StatusOr<CrlSet> GetCrls(const Caller& caller);

 private:
  // Whether the intermediate CRL `crl` may go to the other clusters: its
  // intermediate is unrevoked, or it was signed before the revocation (an
  // Ack of a revoked intermediate is refused, so nothing newer is recorded).
  absl::StatusOr<bool> SignedBeforeAnyRevocation(const IntermediateCrlRecord& crl);

  Store* store_;
  const Clock* clock_;
  const AuditTrail* audit_;
  const Authorizer* authorizer_;
  const TrustState* trust_;
  WatchHub* hub_;
  const AuthorityOptions* options_;
  // Held across reading the latest CRL numbers from the store and saving
  // the next ones; guards no memory of its own.
  absl::Mutex crl_mu_;
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_REVOCATION_H_
