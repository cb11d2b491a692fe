#include "pki/error.h"

#include <openssl/err.h>

#include "absl/strings/str_cat.h"

namespace meshtrust::pki {

std::string DrainOpenSslErrors() {
  std::string out;
  const char* file = nullptr;
  int line = 0;
  const char* data = nullptr;
  int flags = 0;
  unsigned long e;  // NOLINT(runtime/int): OpenSSL's type.
  while ((e = ERR_get_error_all(&file, &line, nullptr, &data, &flags)) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
    if ((flags & ERR_TXT_STRING) && data != nullptr && *data != '\0') {
      absl::StrAppend(&out, " (", data, ")");
    }
  }
  return out;
}

absl::Status OpenSslError(absl::StatusCode code, absl::string_view what) {
  std::string queue = DrainOpenSslErrors();
  if (queue.empty()) return absl::Status(code, what);
  return absl::Status(code, absl::StrCat(what, " [openssl: ", queue, "]"));
}

}  // namespace meshtrust::pki
