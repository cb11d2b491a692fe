#include "keystore/sealed_file_keystore.h"

#include <dirent.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/files.h"

namespace meshtrust::keystore {
namespace {

// Format v1, see docs/keystore-format.md.
constexpr absl::string_view kMetaFile = "keystore.meta";
constexpr absl::string_view kKeySuffix = ".sealed";
constexpr absl::string_view kMetaMagic = "meshtrust-keystore v1\n";
constexpr absl::string_view kKeyMagic = "meshtrust-sealed-key v1\n";
constexpr absl::string_view kCheckAd = "meshtrust/keystore/v1/kek-check";
constexpr uint8_t kKindPassphrase = 1;
constexpr uint8_t kKindKeyFile = 2;
constexpr size_t kKekBytes = crypto_aead_xchacha20poly1305_ietf_KEYBYTES;
constexpr size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr size_t kSaltBytes = crypto_pwhash_SALTBYTES;
constexpr size_t kMaxPayload = 64 * 1024;
constexpr size_t kMinPassphrase = 12;
constexpr size_t kMetaHeaderBytes = kMetaMagic.size() + 1 + kSaltBytes + 8 + 8;

// Little helpers for the fixed binary layout.
class Writer {
 public:
  void Bytes(absl::string_view b) { out_.append(b.data(), b.size()); }
  void Bytes(const uint8_t* p, size_t n) { out_.append(reinterpret_cast<const char*>(p), n); }
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U16(uint16_t v) {
    U8(static_cast<uint8_t>(v >> 8));
    U8(static_cast<uint8_t>(v));
  }
  void U32(uint32_t v) {
    U16(static_cast<uint16_t>(v >> 16));
    U16(static_cast<uint16_t>(v));
  }
  void U64(uint64_t v) {
    U32(static_cast<uint32_t>(v >> 32));
    U32(static_cast<uint32_t>(v));
  }
  void Str16(absl::string_view s) {
    U16(static_cast<uint16_t>(s.size()));
    Bytes(s);
  }
  const std::string& data() const { return out_; }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(absl::string_view in) : in_(in) {}
  bool Bytes(size_t n, absl::string_view* out) {
    if (in_.size() - pos_ < n) return false;
    *out = in_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool U8(uint8_t* v) {
    absl::string_view b;
    if (!Bytes(1, &b)) return false;
    *v = static_cast<uint8_t>(b[0]);
    return true;
  }
  bool U16(uint16_t* v) {
    uint8_t a, b;
    if (!U8(&a) || !U8(&b)) return false;
    *v = static_cast<uint16_t>((a << 8) | b);
    return true;
  }
  bool U32(uint32_t* v) {
    uint16_t a, b;
    if (!U16(&a) || !U16(&b)) return false;
    *v = (static_cast<uint32_t>(a) << 16) | b;
    return true;
  }
  bool U64(uint64_t* v) {
    uint32_t a, b;
    if (!U32(&a) || !U32(&b)) return false;
    *v = (static_cast<uint64_t>(a) << 32) | b;
    return true;
  }
  bool Str16(absl::string_view* s) {
    uint16_t n;
    return U16(&n) && Bytes(n, s);
  }
  bool AtEnd() const { return pos_ == in_.size(); }

 private:
  absl::string_view in_;
  size_t pos_ = 0;
};

const uint8_t* U(absl::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

std::string Ad(absl::string_view purpose, absl::string_view id, absl::string_view format) {
  return absl::StrCat("meshtrust/keystore/v1/", purpose, "|", id, "|", format);
}

void Seal(const SecretBytes& key, absl::string_view ad, std::span<const uint8_t> plaintext,
          Writer* w) {
  uint8_t nonce[kNonceBytes];
  randombytes_buf(nonce, sizeof(nonce));
  std::string ct(plaintext.size() + kTagBytes, '\0');
  unsigned long long ct_len = 0;  // NOLINT(runtime/int): libsodium's type.
  crypto_aead_xchacha20poly1305_ietf_encrypt(reinterpret_cast<uint8_t*>(ct.data()), &ct_len,
                                             plaintext.data(), plaintext.size(), U(ad), ad.size(),
                                             nullptr, nonce, key.UnsafeSecretView().data());
  w->Bytes(nonce, sizeof(nonce));
  w->U32(static_cast<uint32_t>(ct_len));
  w->Bytes(ct);
}

// Reads nonce + length + ciphertext and opens it into `out`.
bool Open(const SecretBytes& key, absl::string_view ad, Reader* r, size_t max_plain,
          SecretBytes* out) {
  absl::string_view nonce, ct;
  uint32_t ct_len;
  if (!r->Bytes(kNonceBytes, &nonce) || !r->U32(&ct_len) || ct_len < kTagBytes ||
      ct_len - kTagBytes > max_plain || !r->Bytes(ct_len, &ct)) {
    return false;
  }
  SecretBytes plain(ct_len - kTagBytes);
  unsigned long long plain_len = 0;  // NOLINT(runtime/int)
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain.UnsafeSecretView().data(), &plain_len,
                                                 nullptr, U(ct), ct.size(), U(ad), ad.size(),
                                                 U(nonce), key.UnsafeSecretView().data()) != 0) {
    return false;
  }
  *out = std::move(plain);
  return true;
}

absl::StatusOr<SecretBytes> DeriveKek(const KekSource& source, absl::string_view salt,
                                      const Argon2Params& params) {
  absl::StatusOr<SecretBytes> material = ReadKeyEncryptionKeyFile(source.path, 4096);
  if (!material.ok()) {
    return absl::Status(
        material.status().code(),
        absl::StrCat("cannot read the keystore ",
                     source.kind == KekSource::Kind::kKeyFile ? "key file" : "passphrase file",
                     ": ", material.status().message()));
  }
  if (source.kind == KekSource::Kind::kKeyFile) {
    if (material->size() != kKekBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "keystore key file ", source.path, " holds ", material->size(),
          " bytes; it must hold exactly 32 random bytes (e.g. head -c 32 /dev/urandom)"));
    }
    return std::move(*material);
  }
  size_t len = material->size();
  if (len > 0 && material->UnsafeSecretView()[len - 1] == '\n') material->Truncate(--len);
  if (len > 0 && material->UnsafeSecretView()[len - 1] == '\r') material->Truncate(--len);
  if (len < kMinPassphrase) {
    return absl::InvalidArgumentError(absl::StrCat("keystore passphrase in ", source.path,
                                                   " is shorter than ", kMinPassphrase,
                                                   " characters"));
  }
  SecretBytes kek(kKekBytes);
  if (crypto_pwhash(kek.UnsafeSecretView().data(), kek.size(),
                    reinterpret_cast<const char*>(material->UnsafeSecretView().data()), len,
                    U(salt), params.opslimit, params.memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return absl::ResourceExhaustedError("Argon2id ran out of memory deriving the keystore KEK");
  }
  return kek;
}

absl::Status Corrupt(absl::string_view what) { return absl::DataLossError(what); }

absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> GenerateKeyOfType(KeyType type) {
  switch (type) {
    case KeyType::kEcdsaP256:
      return pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
    case KeyType::kEcdsaP384:
      return pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP384);
    case KeyType::kRsa2048:
      return pki::GenerateKey(pki::KeyAlgorithm::kRsa2048);
    case KeyType::kRsa3072:
      return pki::GenerateKey(pki::KeyAlgorithm::kRsa3072);
    case KeyType::kRsa4096:
      return pki::GenerateKey(pki::KeyAlgorithm::kRsa4096);
    case KeyType::kEd25519:
      return pki::GenerateEd25519Key();
  }
  return absl::InvalidArgumentError("unknown key type");
}

// The private key of a sealed entry: PKCS#8, or (as keystores made before
// PKCS#8 held every key) a raw Ed25519 seed.
absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> KeyFromEntry(absl::string_view id,
                                                       const SecretEntry& entry) {
  if (entry.format == kFormatPkcs8) return pki::PrivateKeyFromPkcs8Der(entry.secret);
  if (entry.format == kFormatEd25519Seed) return pki::Ed25519KeyFromSeed(entry.secret);
  return absl::FailedPreconditionError(
      absl::StrCat("key \"", id, "\" holds ", entry.format, ", not a private key"));
}

}  // namespace

absl::StatusOr<SecretEntry> OpenSealedKey(const SecretBytes& kek, absl::string_view id,
                                          absl::string_view sealed, absl::string_view origin) {
  if (kek.size() != kKekBytes) return absl::InvalidArgumentError("the KEK must be 32 bytes");
  Reader r(sealed);
  absl::string_view magic, stored_id, format;
  if (!r.Bytes(kKeyMagic.size(), &magic) || magic != kKeyMagic) {
    return Corrupt(absl::StrCat(origin, " is not a meshtrust sealed key v1 file"));
  }
  if (!r.Str16(&stored_id) || !r.Str16(&format))
    return Corrupt(absl::StrCat(origin, " is truncated"));
  if (stored_id != id) {
    return Corrupt(absl::StrCat(origin, " holds the key \"", absl::CHexEscape(stored_id),
                                "\", not \"", id, "\"; the file was renamed or swapped"));
  }
  SecretBytes dek, secret;
  if (!::meshtrust::keystore::Open(kek, Ad("dek", id, format), &r, kKekBytes, &dek) ||
      dek.size() != kKekBytes ||
      !::meshtrust::keystore::Open(dek, Ad("key", id, format), &r, kMaxPayload, &secret) ||
      !r.AtEnd()) {
    return Corrupt(absl::StrCat("sealed key \"", id, "\" (", origin,
                                ") failed authentication: it was modified, truncated or swapped; "
                                "restore it from backup"));
  }
  return SecretEntry{std::string(format), std::move(secret)};
}

absl::StatusOr<std::unique_ptr<SealedFileKeyStore>> SealedFileKeyStore::Create(
    const std::string& dir, const KekSource& kek_source, Argon2Params params) {
  EnsureSodiumInitialized();
  std::string meta_path = absl::StrCat(dir, "/", kMetaFile);
  if (PathExists(meta_path)) {
    return absl::AlreadyExistsError(absl::StrCat("a keystore already exists in ", dir));
  }
  if (params.opslimit < crypto_pwhash_OPSLIMIT_MIN ||
      params.memlimit < crypto_pwhash_MEMLIMIT_MIN) {
    return absl::InvalidArgumentError("Argon2id parameters are below libsodium's minimum");
  }
  uint8_t salt[kSaltBytes];
  randombytes_buf(salt, sizeof(salt));
  bool passphrase = kek_source.kind == KekSource::Kind::kPassphrase;
  absl::StatusOr<SecretBytes> kek =
      DeriveKek(kek_source, absl::string_view(reinterpret_cast<char*>(salt), sizeof(salt)), params);
  if (!kek.ok()) return kek.status();

  Writer w;
  w.Bytes(kMetaMagic);
  w.U8(passphrase ? kKindPassphrase : kKindKeyFile);
  w.Bytes(salt, sizeof(salt));
  w.U64(params.opslimit);
  w.U64(params.memlimit);
  uint8_t zeros[16] = {0};
  // The check value's associated data covers the header, so edited Argon2id
  // parameters or salt are reported as tampering, not as a wrong passphrase.
  Seal(*kek, absl::StrCat(kCheckAd, w.data()), zeros, &w);
  if (absl::Status s = WriteFileAtomically(meta_path, w.data(), 0600, /*exclusive=*/true);
      !s.ok()) {
    return s;
  }
  return std::unique_ptr<SealedFileKeyStore>(new SealedFileKeyStore(dir, *std::move(kek)));
}

absl::StatusOr<std::unique_ptr<SealedFileKeyStore>> SealedFileKeyStore::Open(
    const std::string& dir, const KekSource& kek_source) {
  EnsureSodiumInitialized();
  std::string meta_path = absl::StrCat(dir, "/", kMetaFile);
  absl::StatusOr<std::string> meta = ReadFile(meta_path, 4096);
  if (!meta.ok()) {
    if (absl::IsNotFound(meta.status())) {
      return absl::NotFoundError(
          absl::StrCat("no keystore in ", dir, " (", kMetaFile, " is missing)"));
    }
    return meta.status();
  }
  Reader r(*meta);
  absl::string_view magic, salt;
  uint8_t kind;
  Argon2Params params;
  if (!r.Bytes(kMetaMagic.size(), &magic) || magic != kMetaMagic) {
    return Corrupt(absl::StrCat(meta_path, " is not a meshtrust keystore v1 metadata file"));
  }
  if (!r.U8(&kind) || !r.Bytes(kSaltBytes, &salt) || !r.U64(&params.opslimit) ||
      !r.U64(&params.memlimit)) {
    return Corrupt(absl::StrCat(meta_path, " is truncated"));
  }
  uint8_t expected_kind =
      kek_source.kind == KekSource::Kind::kPassphrase ? kKindPassphrase : kKindKeyFile;
  if (kind != kKindPassphrase && kind != kKindKeyFile) {
    return Corrupt(absl::StrCat(meta_path, " names an unknown KEK kind"));
  }
  if (kind != expected_kind) {
    return absl::FailedPreconditionError(
        absl::StrCat("the keystore in ", dir, " is sealed with a ",
                     kind == kKindPassphrase ? "passphrase" : "key file", ", but a ",
                     expected_kind == kKindPassphrase ? "passphrase" : "key file", " was given"));
  }
  if (params.opslimit < crypto_pwhash_OPSLIMIT_MIN ||
      params.opslimit > crypto_pwhash_OPSLIMIT_MAX ||
      params.memlimit < crypto_pwhash_MEMLIMIT_MIN || params.memlimit > (4ull << 30)) {
    return Corrupt(absl::StrCat(meta_path, " has out-of-range Argon2id parameters"));
  }
  absl::StatusOr<SecretBytes> kek = DeriveKek(kek_source, salt, params);
  if (!kek.ok()) return kek.status();
  SecretBytes check;
  absl::string_view header = absl::string_view(*meta).substr(0, kMetaHeaderBytes);
  if (!::meshtrust::keystore::Open(*kek, absl::StrCat(kCheckAd, header), &r, 16, &check) ||
      !r.AtEnd()) {
    return absl::PermissionDeniedError(
        absl::StrCat("the keystore passphrase or key file is wrong for ", dir,
                     " (the KEK check value does not decrypt); nothing was read"));
  }
  return std::unique_ptr<SealedFileKeyStore>(new SealedFileKeyStore(dir, *std::move(kek)));
}

std::string SealedFileKeyStore::PathFor(absl::string_view id) const {
  return absl::StrCat(dir_, "/", id, kKeySuffix);
}

absl::Status SealedFileKeyStore::PutSecret(absl::string_view id, absl::string_view format,
                                           const SecretBytes& secret) {
  if (absl::Status s = ValidateKeyId(id); !s.ok()) return s;
  if (format.empty() || format.size() > 32) return absl::InvalidArgumentError("bad entry format");
  if (secret.empty() || secret.size() > kMaxPayload) {
    return absl::InvalidArgumentError("secret is empty or larger than 64 KiB");
  }
  SecretBytes dek(kKekBytes);
  crypto_aead_xchacha20poly1305_ietf_keygen(dek.UnsafeSecretView().data());
  Writer w;
  w.Bytes(kKeyMagic);
  w.Str16(id);
  w.Str16(format);
  Seal(kek_, Ad("dek", id, format), dek.UnsafeSecretView(), &w);
  Seal(dek, Ad("key", id, format), secret.UnsafeSecretView(), &w);
  absl::Status s = WriteFileAtomically(PathFor(id), w.data(), 0600, /*exclusive=*/true);
  if (absl::IsAlreadyExists(s)) {
    return absl::AlreadyExistsError(
        absl::StrCat("key \"", id, "\" already exists; keys are never overwritten"));
  }
  return s;
}

absl::StatusOr<SecretEntry> SealedFileKeyStore::GetSecret(absl::string_view id) const {
  if (absl::Status s = ValidateKeyId(id); !s.ok()) return s;
  std::string path = PathFor(id);
  absl::StatusOr<std::string> file = ReadPrivateFile(path, kMaxPayload + 4096);
  if (!file.ok()) {
    if (absl::IsNotFound(file.status())) {
      return absl::NotFoundError(absl::StrCat("no key \"", id, "\" in the keystore"));
    }
    return file.status();
  }
  return OpenSealedKey(kek_, id, *file, path);
}

absl::StatusOr<std::shared_ptr<const pki::Signer>> SealedFileKeyStore::GenerateSigningKey(
    absl::string_view id, KeyType type) {
  if (absl::Status s = ValidateKeyId(id); !s.ok()) return s;
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> key = GenerateKeyOfType(type);
  if (!key.ok()) return key.status();
  if (absl::Status s = ImportSigningKey(id, key->get()); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<pki::Signer>> signer = pki::NewInMemorySigner(*std::move(key));
  if (!signer.ok()) return signer.status();
  return std::shared_ptr<const pki::Signer>(*std::move(signer));
}

absl::Status SealedFileKeyStore::ImportSigningKey(absl::string_view id, EVP_PKEY* key) {
  if (absl::Status s = ValidateKeyId(id); !s.ok()) return s;
  if (absl::StatusOr<pki::SignatureAlgorithm> alg = pki::SignatureAlgorithmFor(key); !alg.ok()) {
    return alg.status();
  }
  absl::StatusOr<SecretBytes> der = pki::PrivateKeyToPkcs8Der(key);
  if (!der.ok()) return der.status();
  return PutSecret(id, kFormatPkcs8, *der);
}

absl::StatusOr<std::shared_ptr<const pki::Signer>> SealedFileKeyStore::GetSigner(
    absl::string_view id) const {
  absl::StatusOr<SecretEntry> entry = GetSecret(id);
  if (!entry.ok()) return entry.status();
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> key = KeyFromEntry(id, *entry);
  if (!key.ok()) return key.status();
  absl::StatusOr<std::unique_ptr<pki::Signer>> signer = pki::NewInMemorySigner(*std::move(key));
  if (!signer.ok()) return signer.status();
  return std::shared_ptr<const pki::Signer>(*std::move(signer));
}

bool SealedFileKeyStore::Contains(absl::string_view id) const {
  return ValidateKeyId(id).ok() && PathExists(PathFor(id));
}

std::vector<std::string> SealedFileKeyStore::List() const {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    absl::string_view name = e->d_name;
    if (absl::EndsWith(name, kKeySuffix)) {
      std::string id(name.substr(0, name.size() - kKeySuffix.size()));
      if (ValidateKeyId(id).ok()) out.push_back(std::move(id));
    }
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status SealedFileKeyStore::PutKey(absl::string_view id, EVP_PKEY* key) {
  absl::StatusOr<SecretBytes> der = pki::PrivateKeyToPkcs8Der(key);
  if (!der.ok()) return der.status();
  return PutSecret(id, kFormatPkcs8, *der);
}

absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> SealedFileKeyStore::GetKey(absl::string_view id) const {
  absl::StatusOr<SecretEntry> entry = GetSecret(id);
  if (!entry.ok()) return entry.status();
  if (entry->format != kFormatPkcs8) {
    return absl::FailedPreconditionError(
        absl::StrCat("key \"", id, "\" holds ", entry->format, ", not a PKCS#8 private key"));
  }
  return pki::PrivateKeyFromPkcs8Der(entry->secret);
}

}  // namespace meshtrust::keystore
