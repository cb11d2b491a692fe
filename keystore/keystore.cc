#include "keystore/keystore.h"

#include "absl/strings/str_cat.h"
#include "pki/key.h"

namespace meshtrust::keystore {

absl::Status ValidateKeyId(absl::string_view id) {
  if (id.empty() || id.size() > 128) {
    return absl::InvalidArgumentError("key id must be 1 to 128 characters");
  }
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok)
      return absl::InvalidArgumentError(
          absl::StrCat("key id \"", id, "\" has characters outside [a-z0-9._-]"));
  }
  if (id[0] == '.') return absl::InvalidArgumentError("key id must not start with '.'");
  return absl::OkStatus();
}

KeyType KeyTypeFor(pki::KeyAlgorithm alg) {
  switch (alg) {
    case pki::KeyAlgorithm::kEcdsaP256:
      return KeyType::kEcdsaP256;
    case pki::KeyAlgorithm::kEcdsaP384:
      return KeyType::kEcdsaP384;
    case pki::KeyAlgorithm::kRsa2048:
      return KeyType::kRsa2048;
    case pki::KeyAlgorithm::kRsa3072:
      return KeyType::kRsa3072;
    case pki::KeyAlgorithm::kRsa4096:
      return KeyType::kRsa4096;
  }
  return KeyType::kEcdsaP256;
}

}  // namespace meshtrust::keystore
