// The CA's domain states as enums. Their names exist only where they leave
// the core: the store keeps them as text (ca/store/store.h) and the wire
// carries them as text (ca/server). Each enum has one Name/Parse pair; Parse
// answers kDataLoss for a name this code never wrote.
#ifndef MESHTRUST_CA_CORE_STATES_H_
#define MESHTRUST_CA_CORE_STATES_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace meshtrust::ca {

// A mesh root's place in the trust bundle.
enum class RootStatus {
  kActive,   // In the bundle, and signs new intermediates.
  kTrusted,  // In the bundle only.
  kRetired,  // Out of the bundle; kept to sign its final CRL.
};

// Where a root rotation stands (DESIGN.md, "Root rotation").
enum class RotationPhase {
  kIdle,       // No rotation under way.
  kBegun,      // The new root is in the bundle; the old one still signs.
  kActivated,  // The new root signs; the old one is still trusted.
};

// What an issued certificate is for.
enum class CertificateKind {
  kIntermediate,   // A cluster's intermediate CA, from a mesh root.
  kAgentIdentity,  // A cluster agent's client identity, from the control CA.
  kAdminIdentity,  // An operator's or auditor's client identity, from the control CA.
};

// "active", "trusted", "retired".
absl::string_view RootStatusName(RootStatus status);
absl::StatusOr<RootStatus> ParseRootStatus(absl::string_view name);

// "idle", "begun", "activated".
absl::string_view RotationPhaseName(RotationPhase phase);
absl::StatusOr<RotationPhase> ParseRotationPhase(absl::string_view name);

// "intermediate", "agent-identity", "admin-identity" (the store's kKind*).
absl::string_view CertificateKindName(CertificateKind kind);
absl::StatusOr<CertificateKind> ParseCertificateKind(absl::string_view name);
// Whether the stored name `name` is `kind` (false for an unknown name).
bool IsCertificateKind(absl::string_view name, CertificateKind kind);

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_STATES_H_
