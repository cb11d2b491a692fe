// RootRotator: replacing the mesh root in three phases gated on the
// clusters' acknowledgements (DESIGN.md). Begin adds a new root B to the
// bundle (appended after A); activate makes B sign (refused until every
// enabled cluster acked the A+B bundle, unless forced, which is audited)
// and tells every agent to re-key; finish retires A (refused until every
// enabled cluster acked an intermediate from B and the soak time passed).
// The phase is kept in the store, so it survives a restart. Thread safe;
// steps are serialized.
#ifndef MESHTRUST_CA_CORE_ROOT_ROTATION_H_
#define MESHTRUST_CA_CORE_ROOT_ROTATION_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/clock.h"
#include "ca/core/audited_call.h"
#include "ca/core/authority_options.h"
#include "ca/core/authorizer.h"
#include "ca/core/revocation.h"
#include "ca/core/states.h"
#include "ca/core/trust_state.h"
#include "ca/core/watch_hub.h"
#include "ca/store/store.h"
#include "keystore/keystore.h"

namespace meshtrust::ca {

struct RootRotationStatus {
  RotationPhase phase = RotationPhase::kIdle;
  struct Root {
    std::string key_id;
    RootStatus status = RootStatus::kTrusted;
    std::string sha256;  // Of the certificate.
  };
  std::vector<Root> roots;
  struct ClusterState {
    std::string name;
    bool enabled = false;
    bool acked_bundle = false;     // Acked the current bundle.
    bool on_signing_root = false;  // Its acked intermediate is from the signing root.
  };
  std::vector<ClusterState> clusters;
  TimePoint activated_at;
  std::string blocking;  // Why the next phase would be refused now; "" if it would not.
};

class RootRotator {
 public:
  // Every pointer must outlive the RootRotator.
  RootRotator(Store* store, keystore::KeyStore* keys, const Clock* clock, const AuditTrail* audit,
              const Authorizer* authorizer, TrustState* trust, Revocation* revocation,
              WatchHub* hub, const AuthorityOptions* options)
      : store_(store),
        keys_(keys),
        clock_(clock),
        audit_(audit),
        authorizer_(authorizer),
        trust_(trust),
        revocation_(revocation),
        hub_(hub),
        options_(options) {}

  absl::StatusOr<RootRotationStatus> Begin(const Caller& caller) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<RootRotationStatus> Activate(const Caller& caller, bool force)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<RootRotationStatus> Finish(const Caller& caller) ABSL_LOCKS_EXCLUDED(mu_);
  // The status, for an admin (audited).
  absl::StatusOr<RootRotationStatus> Status(const Caller& caller);

  // The status, for the CA's own reports (not audited). kDataLoss when the
  // stored phase is not one this code wrote.
  absl::StatusOr<RootRotationStatus> ComputeStatus();
  // The stored phase alone, for metrics.
  absl::StatusOr<RotationPhase> CurrentPhase();

 private:
  Store* store_;
  keystore::KeyStore* keys_;
  const Clock* clock_;
  const AuditTrail* audit_;
  const Authorizer* authorizer_;
  TrustState* trust_;
  Revocation* revocation_;
  WatchHub* hub_;
  const AuthorityOptions* options_;
  // Held for a whole step, from reading the stored phase to writing the
  // next; guards no memory of its own.
  absl::Mutex mu_;
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_ROOT_ROTATION_H_
