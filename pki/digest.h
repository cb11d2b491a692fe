// Message digests as meshtrust prints them.
#ifndef MESHTRUST_PKI_DIGEST_H_
#define MESHTRUST_PKI_DIGEST_H_

#include <string>

#include "absl/strings/string_view.h"

namespace meshtrust::pki {

// SHA-256 of `data`, lowercase hex.
std::string Sha256Hex(absl::string_view data);

}  // namespace meshtrust::pki

#endif  // MESHTRUST_PKI_DIGEST_H_
