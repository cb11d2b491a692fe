// Refusals of the Store contract (store.h): a request the stored records do
// not allow. Every backend gives them with the same code and text, so the
// Authority and the operators reading them need not know which backend
// answered. Failures of the database itself are each backend's own.
#ifndef MESHTRUST_CA_STORE_STORE_ERRORS_H_
#define MESHTRUST_CA_STORE_STORE_ERRORS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace meshtrust::ca {

// kNotFound.
absl::Status ClusterNotRegisteredError(absl::string_view cluster);
// kAlreadyExists.
absl::Status ClusterExistsError(absl::string_view cluster);

// kNotFound.
absl::Status JoinTokenUnknownError();
// kAlreadyExists: redeemed before.
absl::Status JoinTokenUsedError();
// kDeadlineExceeded.
absl::Status JoinTokenExpiredError();

// kAlreadyExists: the serial of a certificate issued before.
absl::Status SerialIssuedError(absl::string_view serial);
// kNotFound.
absl::Status NoCertificateError(absl::string_view serial);
// kAlreadyExists.
absl::Status AlreadyRevokedError(absl::string_view serial);
// kFailedPrecondition: releasing a hold on a certificate that is not revoked,
// or was revoked for another reason (an RFC 5280 CRLReason code) than
// certificateHold.
absl::Status NotRevokedError(absl::string_view serial);
absl::Status NotOnHoldError(absl::string_view serial, int reason);
// kFailedPrecondition: a root's CRL numbers only go up.
absl::Status CrlNumberNotAboveError(uint64_t number);

// kNotFound.
absl::Status NoRootError(absl::string_view key_id);

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_STORE_STORE_ERRORS_H_
