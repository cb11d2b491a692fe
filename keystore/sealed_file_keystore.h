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

namespace meshtrust::keystore {

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

  absl::Status PutSecret(absl::string_view id, absl::string_view format,
                         const SecretBytes& secret) override;
  absl::StatusOr<SecretEntry> GetSecret(absl::string_view id) const override;
  bool Contains(absl::string_view id) const override;
  std::vector<std::string> List() const override;

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
