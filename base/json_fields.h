// Typed reads of optional members of a JSON object that came from a file or a
// store. nlohmann's value() throws when a member has another type; these
// return an error naming the member instead, so a corrupt document is an
// error the caller can explain, never an uncaught exception.
#ifndef MESHTRUST_BASE_JSON_FIELDS_H_
#define MESHTRUST_BASE_JSON_FIELDS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace meshtrust {

// The string member `key` of `object`, or `fallback` when it is absent.
// kInvalidArgument naming the member when it is present with another type.
absl::StatusOr<std::string> JsonString(const nlohmann::json& object, const char* key,
                                       absl::string_view fallback = "");

// The integer member `key` of `object`, or `fallback` when it is absent.
// kInvalidArgument naming the member when it is present and not an integer
// that fits in int64.
absl::StatusOr<int64_t> JsonInt64(const nlohmann::json& object, const char* key,
                                  int64_t fallback = 0);

}  // namespace meshtrust

#endif  // MESHTRUST_BASE_JSON_FIELDS_H_
