// Errors from OpenSSL, carried in absl::Status.
#ifndef MESHTRUST_PKI_ERROR_H_
#define MESHTRUST_PKI_ERROR_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace meshtrust::pki {

// Drains this thread's OpenSSL error queue into one line ("; "-separated
// reasons). Returns "" when the queue is empty.
std::string DrainOpenSslErrors();

// A status of `code` whose message is `what`, followed by the drained OpenSSL
// error queue in brackets when it is not empty.
absl::Status OpenSslError(absl::StatusCode code, absl::string_view what);

// Shorthand for the common case: OpenSSL failed where it should not have.
inline absl::Status InternalOpenSslError(absl::string_view what) {
  return OpenSslError(absl::StatusCode::kInternal, what);
}

}  // namespace meshtrust::pki

#endif  // MESHTRUST_PKI_ERROR_H_
