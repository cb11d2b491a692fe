// TrustState: the one home of the mesh's trust, shared by the Authority's
// parts: the roots with their keys and statuses, the one that signs, and
// the trust bundle agents install.
//
// It is replaced whole (Reload, after a root rotation step) and read as an
// immutable snapshot, so no lock is held while signing. Thread safe.
#ifndef MESHTRUST_CA_CORE_TRUST_STATE_H_
#define MESHTRUST_CA_CORE_TRUST_STATE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "ca/core/issuance.h"
#include "ca/core/states.h"
#include "ca/store/store.h"
#include "keystore/keystore.h"

namespace meshtrust::ca {

struct TrustBundle {
  std::string roots_pem;         // Oldest root first.
  std::string sha256;            // Hex SHA-256 of roots_pem.
  std::string signing_root_pem;  // The anchor that signs new intermediates.
  // Cross-certificates by which earlier roots endorse the later ones
  // (RootRecord::endorsement_pem), for agents that pin a root.
  std::string endorsements_pem;
  // Grows whenever roots_pem changes: one for each root that joined the
  // bundle, one more for each that left it (the SPIFFE bundle's
  // spiffe_sequence). Roots are never deleted, only retired.
  uint64_t sequence = 0;
};

// One consistent view of the roots.
struct TrustSnapshot {
  struct Root {
    std::shared_ptr<const SigningCa> ca;
    RootStatus status = RootStatus::kTrusted;
  };
  std::vector<Root> roots;                  // Oldest first.
  std::shared_ptr<const SigningCa> active;  // The root with RootStatus::kActive.
  TrustBundle bundle;
};

class TrustState {
 public:
  // `store` and `keys` must outlive it. Empty until the first Reload().
  TrustState(Store* store, keystore::KeyStore* keys) : store_(store), keys_(keys) {}

  // Reads the roots from the store and their keys from the keystore, and
  // replaces the snapshot. kDataLoss for a key that does not match its root
  // or a status this code never wrote; kFailedPrecondition without an
  // active root.
  absl::Status Reload() ABSL_LOCKS_EXCLUDED(mu_);
  // The current snapshot; never null after a successful Reload().
  std::shared_ptr<const TrustSnapshot> Current() const ABSL_LOCKS_EXCLUDED(mu_);
  // The key ids of the roots, oldest first.
  std::vector<std::string> RootKeyIds() const;
  // OK when the store answers and the active root's signer signs a probe
  // that verifies.
  absl::Status CheckReady() const;

 private:
  Store* store_;
  keystore::KeyStore* keys_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const TrustSnapshot> current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_TRUST_STATE_H_
