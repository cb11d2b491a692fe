// Lowercase hex, as the audit log, key fingerprints and join tokens print it.
#ifndef MESHTRUST_BASE_HEX_H_
#define MESHTRUST_BASE_HEX_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace meshtrust {

// Two lowercase hex digits per byte.
std::string HexEncode(absl::string_view bytes);

// The bytes `hex` spells. kInvalidArgument unless every character is a hex
// digit (either case) and there is an even number of them.
absl::StatusOr<std::string> HexDecode(absl::string_view hex);

}  // namespace meshtrust

#endif  // MESHTRUST_BASE_HEX_H_
