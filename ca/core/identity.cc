#include "ca/core/identity.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "pki/certificate.h"

namespace meshtrust::ca {
namespace {

constexpr absl::string_view kPrefix = "spiffe://meshtrust/";

bool IsLabel(absl::string_view s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

}  // namespace

std::string Caller::ToString() const {
  switch (kind) {
    case CallerKind::kAnonymous:
      return "anonymous";
    case CallerKind::kAgent:
      return absl::StrCat(kPrefix, "cluster/", name);
    case CallerKind::kOperator:
      return absl::StrCat(kPrefix, "admin/operator/", name);
    case CallerKind::kAuditor:
      return absl::StrCat(kPrefix, "admin/auditor/", name);
  }
  return "anonymous";
}

std::string EnrollmentSubject::ToString() const { return Caller{kind, name, ""}.ToString(); }

absl::StatusOr<EnrollmentSubject> EnrollmentSubject::Parse(absl::string_view uri) {
  if (!absl::StartsWith(uri, kPrefix)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", uri, "\" is not a meshtrust identity"));
  }
  std::vector<absl::string_view> parts = absl::StrSplit(uri.substr(kPrefix.size()), '/');
  if (parts.size() == 2 && parts[0] == "cluster" && IsLabel(parts[1])) {
    return EnrollmentSubject{CallerKind::kAgent, std::string(parts[1])};
  }
  if (parts.size() == 3 && parts[0] == "admin" && IsLabel(parts[2])) {
    if (parts[1] == "operator")
      return EnrollmentSubject{CallerKind::kOperator, std::string(parts[2])};
    if (parts[1] == "auditor")
      return EnrollmentSubject{CallerKind::kAuditor, std::string(parts[2])};
  }
  return absl::InvalidArgumentError(absl::StrCat("\"", uri, "\" is not a meshtrust identity"));
}

absl::StatusOr<Caller> CallerFromCertificate(X509* cert) {
  std::vector<std::string> uris = pki::UriSans(cert);
  const std::string* found = nullptr;
  for (const std::string& uri : uris) {
    if (!absl::StartsWith(uri, kPrefix)) continue;
    if (found != nullptr) {
      return absl::UnauthenticatedError(
          "client certificate holds more than one meshtrust identity");
    }
    found = &uri;
  }
  if (found == nullptr) {
    return absl::UnauthenticatedError("client certificate holds no meshtrust identity URI");
  }
  absl::StatusOr<EnrollmentSubject> subject = EnrollmentSubject::Parse(*found);
  if (!subject.ok()) return absl::UnauthenticatedError(subject.status().message());
  return Caller{subject->kind, subject->name, pki::SerialHex(cert)};
}

absl::Status ValidateClusterName(absl::string_view name) {
  if (!IsLabel(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster name \"", name,
                     "\" is invalid: use 1-63 lowercase letters, digits and '-', not starting or "
                     "ending with '-'"));
  }
  return absl::OkStatus();
}

absl::Status ValidateAdminName(absl::string_view name) {
  if (!IsLabel(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "admin name \"", name, "\" is invalid: use 1-63 lowercase letters, digits and '-'"));
  }
  return absl::OkStatus();
}

absl::Status ValidateTrustDomain(absl::string_view domain) {
  if (domain.empty() || domain.size() > 253) {
    return absl::InvalidArgumentError("trust domain must be 1 to 253 characters");
  }
  for (absl::string_view label : absl::StrSplit(domain, '.')) {
    bool ok = !label.empty() && label.size() <= 63 && label.front() != '-' && label.back() != '-';
    for (char c : label) {
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_');
    }
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("trust domain \"", domain,
                       "\" is invalid: use a lowercase DNS name such as cluster.local"));
    }
  }
  return absl::OkStatus();
}

}  // namespace meshtrust::ca
