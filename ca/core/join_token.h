// Join tokens: 256 random bits, printed once as "mtj1.<base64url>", stored
// only as a BLAKE2b-256 hash, bound to the identity they enroll.
#ifndef MESHTRUST_CA_CORE_JOIN_TOKEN_H_
#define MESHTRUST_CA_CORE_JOIN_TOKEN_H_

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "base/clock.h"
#include "ca/store/store.h"

namespace meshtrust::ca {

struct NewJoinToken {
  std::string token;  // Shown once.
  std::string subject;
  TimePoint expires;
};

// A fresh token enrolling `subject` (an identity URI), valid for `ttl` from
// `now`; *record is what the store keeps of it.
NewJoinToken MintJoinToken(const std::string& subject, std::chrono::seconds ttl, TimePoint now,
                           JoinTokenRecord* record);

// kInvalidArgument unless `token` looks like a token MintJoinToken made.
absl::Status ValidateJoinTokenFormat(absl::string_view token);

// The hash the store knows a token by: hex BLAKE2b-256 of the whole string.
std::string JoinTokenHash(absl::string_view token);

// kInvalidArgument unless 0 < `ttl` <= `max_ttl`.
absl::Status CheckJoinTokenTtl(std::chrono::seconds ttl, std::chrono::seconds max_ttl);

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_JOIN_TOKEN_H_
