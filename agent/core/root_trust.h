// RootTrust: which mesh roots this agent trusts, and how that set may move.
//
// The CA's answers are not trusted for what they say about roots: whoever
// holds the CA's TLS key or the control CA key could otherwise hand the
// agent a root of their own. The agent starts from the root fingerprints it
// was given at enrollment (--root-fingerprint, printed by `meshtrust-ca
// init`) and from then on trusts the roots of the last bundle it installed;
// one that keeps no roots but finds a cacerts meshtrust wrote starts from
// that set's roots instead (an upgrade, or an identity Secret recreated).
// A bundle from the CA is accepted only when
//  - every root in it is trusted already, or is endorsed by a trusted root
//    through a cross-certificate in the same answer (root rotation issues
//    one for each new root, signed by the root that signed then);
//  - the root it names as signing is one of its roots; and
//  - it keeps the root this cluster's installed intermediate chains to,
//    unless it names another, trusted, root as signing: the retire phase of
//    a root rotation, when every cluster has moved to the new root.
// Anything else is refused with the reason and nothing is installed.
//
// Not thread safe: one caller at a time.
#ifndef MESHTRUST_AGENT_CORE_ROOT_TRUST_H_
#define MESHTRUST_AGENT_CORE_ROOT_TRUST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/clock.h"

namespace meshtrust::agent {

// Where the agent keeps the roots it trusts (next to its identity).
class TrustedRootsStore {
 public:
  virtual ~TrustedRootsStore() = default;
  // The trusted roots (PEM); nullopt when none were saved yet.
  virtual absl::StatusOr<std::optional<std::string>> LoadTrustedRoots() = 0;
  virtual absl::Status SaveTrustedRoots(const std::string& roots_pem) = 0;
};

// What a CA answer says about roots.
struct RootOffer {
  std::string roots_pem;
  std::string signing_root_pem;  // Empty when the answer does not say.
  std::string endorsements_pem;  // Cross-certificates, possibly none.
};

// "sha256:<hex>", bare hex, or hex with colons (as `openssl x509
// -fingerprint -sha256` prints it), in either case; the lowercase hex.
absl::StatusOr<std::string> ParseRootFingerprint(absl::string_view text);

class RootTrust {
 public:
  // `pins`: lowercase SHA-256 hex of the root certificates the agent was told
  // to trust (ParseRootFingerprint), used only while nothing is saved and no
  // managed set is installed.
  // Pointers must outlive the RootTrust.
  RootTrust(TrustedRootsStore* store, std::vector<std::string> pins, const Clock* clock)
      : store_(store), pins_(std::move(pins)), clock_(clock) {}

  // Checks `offer` against the trusted roots. `installed_roots_pem` and
  // `installed_signing_root_pem` describe the managed set installed now (its
  // root-cert.pem and the root its chain ends in), empty when there is none.
  // Returns the roots to trust once the offer is installed. A refusal is
  // kPermissionDenied, "refused the CA's trust bundle: ...", and counted.
  absl::StatusOr<std::string> Check(const RootOffer& offer, const std::string& installed_roots_pem,
                                    const std::string& installed_signing_root_pem);

  // Keeps `roots_pem` (what Check returned, now installed) as the trusted
  // roots, when it differs from what is kept.
  absl::Status Commit(const std::string& roots_pem);

  // Offers refused so far.
  int64_t refusals() const { return refusals_; }

 private:
  // The trusted roots (PEM) from the store, from `installed_roots_pem` for an
  // agent that installed before it kept them, or empty when the pins decide.
  absl::StatusOr<std::string> Trusted(const std::string& installed_roots_pem);

  TrustedRootsStore* store_;
  std::vector<std::string> pins_;
  const Clock* clock_;
  std::optional<std::string> saved_;  // What the store holds, once read.
  int64_t refusals_ = 0;
};

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_CORE_ROOT_TRUST_H_
