// IdentityManager: the agent's own client identity at the CA
// (spiffe://meshtrust/cluster/<name>, issued by the control CA). Loads it from
// the IdentityStore, or enrolls once with a join token when none is stored;
// decides when it is due for renewal (two thirds into its life) and renews it
// with a fresh key. Keys and CSRs are made here, never in the transport; every
// certificate the CA returns is checked (our key, chains to the control CA,
// names our identity, usable for client authentication) before it is saved.
// Knows nothing of gRPC or of where the identity is stored.
//
// Not thread safe: one caller at a time.
#ifndef MESHTRUST_AGENT_CORE_IDENTITY_MANAGER_H_
#define MESHTRUST_AGENT_CORE_IDENTITY_MANAGER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/core/ca_connection.h"
#include "agent/core/enroller.h"
#include "agent/core/identity_store.h"
#include "base/clock.h"
#include "client/identity.h"
#include "pki/key.h"

namespace meshtrust::agent {

struct IdentityManagerOptions {
  std::string cluster;  // The identity is spiffe://meshtrust/cluster/<cluster>.
  std::string pin;      // The control CA's pin, needed only to enroll.
  pki::KeyAlgorithm key_algorithm = pki::KeyAlgorithm::kEcdsaP256;
};

class IdentityManager {
 public:
  // Pointers must outlive the manager.
  IdentityManager(IdentityStore* store, Enroller* enroller, const Clock* clock,
                  IdentityManagerOptions options);

  // The stored identity; when none is stored, a new one enrolled with the
  // token `join_token` returns (called only then; "" when none was given) and
  // saved. A stored identity of another cluster or past its expiry is an error
  // saying what to do. Enrolling spends the one-time token, so it first checks
  // that the store can be written (IdentityStore::CheckWritable) and runs
  // `before_enrolling` (e.g. the same check for where the intermediate will
  // go); when either fails, the CA is not called and the token stays good.
  absl::StatusOr<client::Identity> LoadOrEnroll(
      const std::function<absl::StatusOr<std::string>()>& join_token,
      const std::function<absl::Status()>& before_enrolling = nullptr);

  // Whether `identity` is two thirds into its life (or unreadable).
  bool RenewalDue(const client::Identity& identity) const;
  // When a running agent should stop to renew `identity`: two thirds into its
  // life, but not before half of the time it has left, since a short-lived
  // identity's backdated notBefore can put two thirds of its life in the past.
  TimePoint NextRenewal(const client::Identity& identity) const;

  // A connection to the CA authenticated with `identity`.
  using ConnectFunction =
      std::function<std::unique_ptr<CaConnection>(const client::Identity& identity)>;

  // Renews `current` over `ca` (a connection authenticated with `current`):
  // a new key, a CSR, the CA's certificate checked (our key, our identity,
  // chains to the control CA, whose pin is checked when known, for client
  // authentication), saved, then one call made with it over `connect`
  // (which makes the CA supersede `current`). When that call fails,
  // `current` is saved again and stays the identity in use; on any earlier
  // error nothing is saved.
  absl::StatusOr<client::Identity> Renew(const client::Identity& current, CaConnection* ca,
                                         const ConnectFunction& connect);

  std::string ExpectedIdentity() const;
  // Two thirds into the certificate's life; the epoch when it is unreadable.
  static TimePoint RenewAt(const client::Identity& identity);
  // The certificate's notAfter; the epoch when it is unreadable.
  static TimePoint NotAfter(const client::Identity& identity);

 private:
  absl::StatusOr<client::Identity> Enroll(const std::string& token);
  // kDataLoss unless `control_ca_pem` is the CA the pin names.
  absl::Status CheckControlCaPin(const std::string& control_ca_pem) const;
  // kDataLoss unless `certificate_pem` is for `our_key`, names `identity`,
  // and chains to `control_ca_pem` for client authentication now.
  absl::Status CheckIssued(const std::string& certificate_pem, EVP_PKEY* our_key,
                           const std::string& identity, const std::string& control_ca_pem) const;

  IdentityStore* store_;
  Enroller* enroller_;
  const Clock* clock_;
  IdentityManagerOptions options_;
};

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_CORE_IDENTITY_MANAGER_H_
