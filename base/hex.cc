#include "base/hex.h"

#include <sodium.h>

namespace meshtrust {

std::string HexEncode(absl::string_view bytes) {
  std::string hex(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                 bytes.size());
  hex.pop_back();
  return hex;
}

absl::StatusOr<std::string> HexDecode(absl::string_view hex) {
  std::string out(hex.size() / 2 + 1, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), hex.data(),
                     hex.size(), nullptr, &len, &end) != 0 ||
      end != hex.data() + hex.size()) {
    return absl::InvalidArgumentError("not a hex string");
  }
  out.resize(len);
  return out;
}

}  // namespace meshtrust
