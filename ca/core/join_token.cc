#include "ca/core/join_token.h"

#include <sodium.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/hex.h"

namespace meshtrust::ca {
namespace {

constexpr absl::string_view kTokenPrefix = "mtj1.";
constexpr size_t kTokenBytes = 32;

}  // namespace

std::string JoinTokenHash(absl::string_view token) {
  unsigned char h[32];
  crypto_generichash(h, sizeof(h), reinterpret_cast<const unsigned char*>(token.data()),
                     token.size(), nullptr, 0);
  return HexEncode(absl::string_view(reinterpret_cast<char*>(h), sizeof(h)));
}

absl::Status ValidateJoinTokenFormat(absl::string_view token) {
  size_t b64_len =
      sodium_base64_encoded_len(kTokenBytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING) - 1;
  if (!absl::StartsWith(token, kTokenPrefix) || token.size() != kTokenPrefix.size() + b64_len) {
    return absl::InvalidArgumentError(
        "join token is malformed: expected \"mtj1.\" followed by 43 base64url characters, as "
        "printed by `meshtrustctl token create`");
  }
  for (char c : token.substr(kTokenPrefix.size())) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return absl::InvalidArgumentError("join token is malformed: invalid character");
  }
  return absl::OkStatus();
}

NewJoinToken MintJoinToken(const std::string& subject, std::chrono::seconds ttl, TimePoint now,
                           JoinTokenRecord* record) {
  unsigned char raw[kTokenBytes];
  randombytes_buf(raw, sizeof(raw));
  char b64[64];
  sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(raw, sizeof(raw));
  NewJoinToken token;
  token.token = absl::StrCat(kTokenPrefix, b64);
  sodium_memzero(b64, sizeof(b64));
  token.subject = subject;
  token.expires = now + ttl;
  record->hash = JoinTokenHash(token.token);
  record->subject = subject;
  record->created = now;
  record->expires = token.expires;
  return token;
}

absl::Status CheckJoinTokenTtl(std::chrono::seconds ttl, std::chrono::seconds max_ttl) {
  if (ttl.count() <= 0 || ttl > max_ttl) {
    return absl::InvalidArgumentError("join token TTL must be between 1s and 7 days");
  }
  return absl::OkStatus();
}

}  // namespace meshtrust::ca
