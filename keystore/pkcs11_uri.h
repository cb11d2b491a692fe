// Pkcs11Uri: the parts of an RFC 7512 `pkcs11:` URI meshtrust uses to find a
// token and the keys in it.
//
//   pkcs11:token=meshtrust;object=mesh-root-1?module-path=/usr/lib/softhsm/libsofthsm2.so
//       &pin-source=file:/run/secrets/hsm-pin
//
// Path attributes (';'-separated) select the token and, optionally, one key:
// token, manufacturer, serial, model, slot-id, object (CKA_LABEL), id
// (CKA_ID, percent-encoded bytes), type (private, public, cert, secret-key,
// data). Query attributes ('&'-separated): module-path (the PKCS#11 module to
// load, required), pin-source (`file:/path` or `env:NAME`, the latter a
// meshtrust extension). A pin-value is refused: a PIN on a command line or in
// a config file is readable by every process that can list processes or read
// the config.
//
// Values are percent-decoded; each attribute may appear once; unknown
// attributes other than vendor ones (`x-...`) are refused, so a typo never
// widens the selection silently.
#ifndef MESHTRUST_KEYSTORE_PKCS11_URI_H_
#define MESHTRUST_KEYSTORE_PKCS11_URI_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace meshtrust::keystore {

struct Pkcs11Uri {
  // Token selection: empty means "any".
  std::string token;
  std::string manufacturer;
  std::string serial;
  std::string model;
  std::optional<uint64_t> slot_id;
  // Object selection.
  std::string object;  // CKA_LABEL
  std::string id;      // CKA_ID, raw bytes
  std::string type;
  // Query.
  std::string module_path;
  std::string pin_source;  // As given: "file:/path" or "env:NAME".

  // The URI without its query, for messages (it never holds a PIN).
  std::string Describe() const;
};

// Parses `uri`. kInvalidArgument naming what is wrong.
absl::StatusOr<Pkcs11Uri> ParsePkcs11Uri(absl::string_view uri);

// Percent-decodes `value` (RFC 3986); kInvalidArgument on a malformed escape.
absl::StatusOr<std::string> PercentDecode(absl::string_view value);

}  // namespace meshtrust::keystore

#endif  // MESHTRUST_KEYSTORE_PKCS11_URI_H_
