#include "ca/store/store_errors.h"

#include "absl/strings/str_cat.h"

namespace meshtrust::ca {

absl::Status ClusterNotRegisteredError(absl::string_view cluster) {
  return absl::NotFoundError(absl::StrCat("cluster \"", cluster, "\" is not registered"));
}

absl::Status ClusterExistsError(absl::string_view cluster) {
  return absl::AlreadyExistsError(absl::StrCat("cluster \"", cluster, "\" already exists"));
}

absl::Status JoinTokenUnknownError() { return absl::NotFoundError("join token is not known"); }

absl::Status JoinTokenUsedError() {
  return absl::AlreadyExistsError("join token was already used");
}

absl::Status JoinTokenExpiredError() {
  return absl::DeadlineExceededError("join token has expired");
}

absl::Status SerialIssuedError(absl::string_view serial) {
  return absl::AlreadyExistsError(absl::StrCat("serial ", serial, " was already issued"));
}

absl::Status NoCertificateError(absl::string_view serial) {
  return absl::NotFoundError(absl::StrCat("no certificate with serial ", serial));
}

absl::Status AlreadyRevokedError(absl::string_view serial) {
  return absl::AlreadyExistsError(absl::StrCat("certificate ", serial, " is already revoked"));
}

absl::Status NotRevokedError(absl::string_view serial) {
  return absl::FailedPreconditionError(
      absl::StrCat("certificate ", serial, " is not revoked; there is no hold to release"));
}

absl::Status NotOnHoldError(absl::string_view serial, int reason) {
  return absl::FailedPreconditionError(
      absl::StrCat("certificate ", serial, " was revoked with CRLReason ", reason,
                   ", not certificateHold (6); only a hold can be released"));
}

absl::Status CrlNumberNotAboveError(uint64_t number) {
  return absl::FailedPreconditionError(
      absl::StrCat("CRL number ", number, " is not above the stored one"));
}

absl::Status NoRootError(absl::string_view key_id) {
  return absl::NotFoundError(absl::StrCat("no root ", key_id));
}

}  // namespace meshtrust::ca
