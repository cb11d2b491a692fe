// Who is calling: the identities the control CA issues, and their names.
//
// Agents:    spiffe://meshtrust/cluster/<cluster>
// Operators: spiffe://meshtrust/admin/operator/<name>
// Auditors:  spiffe://meshtrust/admin/auditor/<name>   (read-only)
#ifndef MESHTRUST_CA_CORE_IDENTITY_H_
#define MESHTRUST_CA_CORE_IDENTITY_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pki/ossl.h"

namespace meshtrust::ca {

enum class CallerKind { kAnonymous, kAgent, kOperator, kAuditor };

struct Caller {
  CallerKind kind = CallerKind::kAnonymous;
  std::string name;    // Cluster name for agents, admin name for admins.
  std::string serial;  // Serial of the client certificate, lowercase hex.

  static Caller Anonymous() { return {}; }
  // The identity URI, or "anonymous".
  std::string ToString() const;
  bool IsAdmin() const { return kind == CallerKind::kOperator || kind == CallerKind::kAuditor; }
};

// The identity a join token is bound to, and that Enroll issues.
struct EnrollmentSubject {
  CallerKind kind = CallerKind::kAgent;
  std::string name;
  std::string ToString() const;  // The identity URI.
  static absl::StatusOr<EnrollmentSubject> Parse(absl::string_view uri);
};

// Reads the caller from a client certificate the TLS layer already verified
// against the control CA. kUnauthenticated when it holds no (or more than one)
// meshtrust identity URI.
absl::StatusOr<Caller> CallerFromCertificate(X509* cert);

// Names: clusters and admins are DNS labels ([a-z0-9-], 1-63, no leading or
// trailing '-'); trust domains are DNS names.
absl::Status ValidateClusterName(absl::string_view name);
absl::Status ValidateAdminName(absl::string_view name);
absl::Status ValidateTrustDomain(absl::string_view domain);

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_IDENTITY_H_
