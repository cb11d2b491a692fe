#include "pki/der.h"

namespace meshtrust::pki {

std::string DerTlv(uint8_t tag, absl::string_view content) {
  std::string out(1, static_cast<char>(tag));
  size_t n = content.size();
  if (n < 0x80) {
    out.push_back(static_cast<char>(n));
  } else {
    std::string len;
    for (; n > 0; n >>= 8) len.insert(len.begin(), static_cast<char>(n & 0xff));
    out.push_back(static_cast<char>(0x80 | len.size()));
    out += len;
  }
  out.append(content.data(), content.size());
  return out;
}

}  // namespace meshtrust::pki
