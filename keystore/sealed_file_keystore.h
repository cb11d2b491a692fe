// SealedFileKeyStore: envelope-encrypted keys in a directory.
//
// Each key is sealed with its own random data key (XChaCha20-Poly1305); the
// data key is wrapped by the key-encryption key (KEK), which comes from an
// Argon2id passphrase or a 32-byte key file. Associated data binds the format
// version, the key id and the entry format, so a file renamed to another id,
// edited, truncated or swapped fails authentication. The formats are
// documented in docs/keystore-format.md.
//
// Thread safe. Files are written atomically and never overwritten.
#ifndef MESHTRUST_KEYSTORE_SEALED_FILE_KEYSTORE_H_
#define MESHTRUST_KEYSTORE_SEALED_FILE_KEYSTORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/secret_bytes.h"
#include "keystore/keystore.h"
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

// Where the KEK comes from.
struct KekSource {
  enum class Kind { kPassphrase, kKeyFile };
  Kind kind = Kind::kKeyFile;
  // kKeyFile: exactly 32 bytes. kPassphrase: at least 12 bytes, one trailing
  // newline ignored (as written by `echo`).
  std::string path;

  static KekSource KeyFile(std::string path) { return {Kind::kKeyFile, std::move(path)}; }
  static KekSource PassphraseFile(std::string path) { return {Kind::kPassphrase, std::move(path)}; }
};

// Argon2id cost for passphrase KEKs; stored in the keystore's metadata so it
// can change without breaking existing keystores.
struct Argon2Params {
  uint64_t opslimit = 3;
  uint64_t memlimit = 64ull << 20;
};

class SealedFileKeyStore final : public KeyStore {
 public:
  // Creates a new keystore in `dir` (which must exist and be empty of a
  // keystore): writes its metadata file with a KEK check value.
  static absl::StatusOr<std::unique_ptr<SealedFileKeyStore>> Create(const std::string& dir,
                                                                    const KekSource& kek,
                                                                    Argon2Params params = {});
  // Opens an existing keystore. A wrong passphrase or key file is
  // kPermissionDenied and reads nothing else.
  static absl::StatusOr<std::unique_ptr<SealedFileKeyStore>> Open(const std::string& dir,
                                                                  const KekSource& kek);

  absl::StatusOr<std::shared_ptr<const pki::Signer>> GenerateSigningKey(absl::string_view id,
                                                                        KeyType type) override;
  absl::Status ImportSigningKey(absl::string_view id, EVP_PKEY* key) override;
  // Unseals the key into the returned signer, which holds it (in OpenSSL's
  // secure heap when the process set one up) until it is destroyed.
  absl::StatusOr<std::shared_ptr<const pki::Signer>> GetSigner(absl::string_view id) const override;

  bool Contains(absl::string_view id) const override;
  std::vector<std::string> List() const override;

  // Sealed entries as such, beyond signing keys: the CA's TLS server key,
  // which OpenSSL's TLS stack must hold, lives here whatever backend keeps
  // the signing keys.
  //
  // Stores `secret` under `id`. kAlreadyExists if `id` is taken: entries are
  // never overwritten. Ids are [a-z0-9._-]{1,128}.
  absl::Status PutSecret(absl::string_view id, absl::string_view format, const SecretBytes& secret);
  // kNotFound, or kDataLoss when the stored entry fails authentication.
  absl::StatusOr<SecretEntry> GetSecret(absl::string_view id) const;
  // The same for OpenSSL keys, stored as PKCS#8.
  absl::Status PutKey(absl::string_view id, EVP_PKEY* key);
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> GetKey(absl::string_view id) const;

  // The path of the sealed file for `id` (for tests and docs).
  std::string PathFor(absl::string_view id) const;

 private:
  SealedFileKeyStore(std::string dir, SecretBytes kek)
      : dir_(std::move(dir)), kek_(std::move(kek)) {}
  std::string dir_;
  SecretBytes kek_;  // 32 bytes.
};

// Decodes and authenticates the contents of one sealed key file that must
// hold `id`, under `kek` (32 bytes). kDataLoss naming `origin` when the bytes
// are not a sealed key of `id`, or were modified, truncated or swapped.
// GetSecret reads the file and calls this; it stands alone so the decoder of
// bytes from disk can be fuzzed.
absl::StatusOr<SecretEntry> OpenSealedKey(const SecretBytes& kek, absl::string_view id,
                                          absl::string_view sealed, absl::string_view origin);

}  // namespace meshtrust::keystore

#endif  // MESHTRUST_KEYSTORE_SEALED_FILE_KEYSTORE_H_
