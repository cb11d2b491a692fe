#include "base/json_fields.h"

#include <limits>

#include "absl/strings/str_cat.h"

namespace meshtrust {
namespace {

absl::Status WrongType(const nlohmann::json& value, const char* key, absl::string_view wanted) {
  return absl::InvalidArgumentError(
      absl::StrCat("field \"", key, "\" is ", value.type_name(), ", not ", wanted));
}

absl::Status NotAnObject(const nlohmann::json& document) {
  if (document.is_discarded()) return absl::InvalidArgumentError("the document is not JSON");
  return absl::InvalidArgumentError(
      absl::StrCat("the document is ", document.type_name(), ", not an object"));
}

}  // namespace

absl::StatusOr<std::string> JsonString(const nlohmann::json& object, const char* key,
                                       absl::string_view fallback) {
  if (!object.is_object()) return NotAnObject(object);
  auto it = object.find(key);
  if (it == object.end()) return std::string(fallback);
  if (!it->is_string()) return WrongType(*it, key, "a string");
  return it->get<std::string>();
}

absl::StatusOr<int64_t> JsonInt64(const nlohmann::json& object, const char* key, int64_t fallback) {
  if (!object.is_object()) return NotAnObject(object);
  auto it = object.find(key);
  if (it == object.end()) return fallback;
  if (it->is_number_integer() && !it->is_number_unsigned()) return it->get<int64_t>();
  if (it->is_number_unsigned() &&
      it->get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return static_cast<int64_t>(it->get<uint64_t>());
  }
  return WrongType(*it, key, "an integer that fits in 64 bits");
}

}  // namespace meshtrust
