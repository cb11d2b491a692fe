#include "ca/core/states.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "ca/store/store.h"

namespace meshtrust::ca {
namespace {

// The name's enum among `all`, or kDataLoss naming what was unknown.
template <typename Enum, size_t N>
absl::StatusOr<Enum> ParseName(absl::string_view name, const Enum (&all)[N],
                               absl::string_view (*name_of)(Enum), absl::string_view what) {
  for (Enum value : all) {
    if (name_of(value) == name) return value;
  }
  return absl::DataLossError(absl::StrCat("unknown ", what, " \"", absl::CHexEscape(name), "\""));
}

constexpr RootStatus kRootStatuses[] = {RootStatus::kActive, RootStatus::kTrusted,
                                        RootStatus::kRetired};
constexpr RotationPhase kRotationPhases[] = {RotationPhase::kIdle, RotationPhase::kBegun,
                                             RotationPhase::kActivated};
constexpr CertificateKind kCertificateKinds[] = {CertificateKind::kIntermediate,
                                                 CertificateKind::kAgentIdentity,
                                                 CertificateKind::kAdminIdentity};

}  // namespace

absl::string_view RootStatusName(RootStatus status) {
  switch (status) {
    case RootStatus::kActive:
      return "active";
    case RootStatus::kTrusted:
      return "trusted";
    case RootStatus::kRetired:
      return "retired";
  }
  return "unknown";
}

absl::StatusOr<RootStatus> ParseRootStatus(absl::string_view name) {
  return ParseName(name, kRootStatuses, &RootStatusName, "root status");
}

absl::string_view RotationPhaseName(RotationPhase phase) {
  switch (phase) {
    case RotationPhase::kIdle:
      return "idle";
    case RotationPhase::kBegun:
      return "begun";
    case RotationPhase::kActivated:
      return "activated";
  }
  return "unknown";
}

absl::StatusOr<RotationPhase> ParseRotationPhase(absl::string_view name) {
  return ParseName(name, kRotationPhases, &RotationPhaseName, "phase");
}

absl::string_view CertificateKindName(CertificateKind kind) {
  switch (kind) {
    case CertificateKind::kIntermediate:
      return kKindIntermediate;
    case CertificateKind::kAgentIdentity:
      return kKindAgentIdentity;
    case CertificateKind::kAdminIdentity:
      return kKindAdminIdentity;
  }
  return "unknown";
}

absl::StatusOr<CertificateKind> ParseCertificateKind(absl::string_view name) {
  return ParseName(name, kCertificateKinds, &CertificateKindName, "certificate kind");
}

bool IsCertificateKind(absl::string_view name, CertificateKind kind) {
  absl::StatusOr<CertificateKind> parsed = ParseCertificateKind(name);
  return parsed.ok() && *parsed == kind;
}

}  // namespace meshtrust::ca
