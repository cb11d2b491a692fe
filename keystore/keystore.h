// KeyStore: where meshtrust keeps the private keys it owns (mesh roots, the
// control CA, the server TLS key, the audit signing key).
//
// Keys are used through signers (pki/signer.h): sign these bytes, give me
// the public key. A backend may keep keys it never lets go of (an HSM's);
// the sealed-file backend unseals a key only inside the signer it returns,
// and the key is wiped when the last holder of that signer lets it go.
//
// Implementations must be thread safe. Nothing a KeyStore returns in a
// Status names key bytes.
#ifndef MESHTRUST_KEYSTORE_KEYSTORE_H_
#define MESHTRUST_KEYSTORE_KEYSTORE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pki/key.h"
#include "pki/ossl.h"
#include "pki/signer.h"

namespace meshtrust::keystore {

// The kinds of key a KeyStore makes: the CA algorithms, and Ed25519 for the
// audit log.
enum class KeyType { kEcdsaP256, kEcdsaP384, kRsa2048, kRsa3072, kRsa4096, kEd25519 };
KeyType KeyTypeFor(pki::KeyAlgorithm alg);

class KeyStore {
 public:
  virtual ~KeyStore() = default;

  // Makes a new key pair of `type` under `id`, inside the store, and returns
  // its signer. kAlreadyExists if `id` is taken: a KeyStore never overwrites
  // a key. Ids are [a-z0-9._-]{1,128}.
  virtual absl::StatusOr<std::shared_ptr<const pki::Signer>> GenerateSigningKey(
      absl::string_view id, KeyType type) = 0;
  // Keeps a private key made elsewhere (an operator's imported CA) under
  // `id`; kAlreadyExists as above.
  virtual absl::Status ImportSigningKey(absl::string_view id, EVP_PKEY* key) = 0;
  // The signer of key `id`: kNotFound, or kDataLoss when the stored key fails
  // authentication. Each call may unseal (or look up) the key again; hold the
  // signer for as long as the key is in use instead of asking per signature.
  virtual absl::StatusOr<std::shared_ptr<const pki::Signer>> GetSigner(
      absl::string_view id) const = 0;

  virtual bool Contains(absl::string_view id) const = 0;
  virtual std::vector<std::string> List() const = 0;
};

// kInvalidArgument unless `id` is a valid key id.
absl::Status ValidateKeyId(absl::string_view id);

}  // namespace meshtrust::keystore

#endif  // MESHTRUST_KEYSTORE_KEYSTORE_H_
