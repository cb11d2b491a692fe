// KeyStore: where meshtrust keeps the private keys it owns (mesh roots, the
// control CA, the server TLS key, the audit signing key).
//
// Implementations must be thread safe. Plaintext leaves a KeyStore only as
// SecretBytes or as an EVP_PKEY; nothing it returns in a Status names key
// bytes.
#ifndef MESHTRUST_KEYSTORE_KEYSTORE_H_
#define MESHTRUST_KEYSTORE_KEYSTORE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/secret_bytes.h"
#include "pki/ossl.h"

namespace meshtrust::keystore {

// What a sealed entry holds; bound into its associated data, so an entry
// cannot be passed off as another kind.
inline constexpr absl::string_view kFormatPkcs8 = "pkcs8";
inline constexpr absl::string_view kFormatEd25519Seed = "ed25519-seed";

struct SecretEntry {
  std::string format;  // kFormatPkcs8 or kFormatEd25519Seed
  SecretBytes secret;
};

class KeyStore {
 public:
  virtual ~KeyStore() = default;

  // Stores `secret` under `id`. kAlreadyExists if `id` is taken: a KeyStore
  // never overwrites a key. Ids are [a-z0-9._-]{1,128}.
  virtual absl::Status PutSecret(absl::string_view id, absl::string_view format,
                                 const SecretBytes& secret) = 0;
  // kNotFound, or kDataLoss when the stored entry fails authentication.
  virtual absl::StatusOr<SecretEntry> GetSecret(absl::string_view id) const = 0;
  virtual bool Contains(absl::string_view id) const = 0;
  virtual std::vector<std::string> List() const = 0;

  // Convenience for OpenSSL keys, stored as PKCS#8.
  absl::Status PutKey(absl::string_view id, EVP_PKEY* key);
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> GetKey(absl::string_view id) const;
};

// kInvalidArgument unless `id` is a valid key id.
absl::Status ValidateKeyId(absl::string_view id);

}  // namespace meshtrust::keystore

#endif  // MESHTRUST_KEYSTORE_KEYSTORE_H_
