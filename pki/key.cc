#include "pki/key.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <sodium.h>

#include "absl/strings/str_cat.h"
#include "pki/der.h"
#include "pki/error.h"
#include "pki/pem.h"

namespace meshtrust::pki {
namespace {

constexpr absl::string_view kRsaFamily = "RSA";
constexpr absl::string_view kEcFamily = "EC";

std::string CurveName(EVP_PKEY* key) {
  char name[80] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), &len) !=
      1) {
    ERR_clear_error();
    return "";
  }
  return std::string(name, len);
}

// True when the EC key's parameters were given explicitly rather than by
// name. OpenSSL may still recognise explicit parameters that match a named
// curve; we refuse them regardless (CVE-2020-0601-style confusion).
bool HasExplicitCurveParameters(EVP_PKEY* key) {
  int explicit_params = 0;
  if (EVP_PKEY_get_int_param(key, OSSL_PKEY_PARAM_EC_DECODED_FROM_EXPLICIT_PARAMS,
                             &explicit_params) != 1) {
    ERR_clear_error();
    return false;
  }
  return explicit_params != 0;
}

}  // namespace

absl::string_view KeyAlgorithmName(KeyAlgorithm alg) {
  switch (alg) {
    case KeyAlgorithm::kEcdsaP256:
      return "ecdsa-p256";
    case KeyAlgorithm::kEcdsaP384:
      return "ecdsa-p384";
    case KeyAlgorithm::kRsa2048:
      return "rsa-2048";
    case KeyAlgorithm::kRsa3072:
      return "rsa-3072";
    case KeyAlgorithm::kRsa4096:
      return "rsa-4096";
  }
  return "unknown";
}

const std::vector<KeyAlgorithm>& AllKeyAlgorithms() {
  static const std::vector<KeyAlgorithm> kAll = {KeyAlgorithm::kEcdsaP256, KeyAlgorithm::kEcdsaP384,
                                                 KeyAlgorithm::kRsa2048, KeyAlgorithm::kRsa3072,
                                                 KeyAlgorithm::kRsa4096};
  return kAll;
}

absl::StatusOr<KeyAlgorithm> ParseKeyAlgorithm(absl::string_view name) {
  for (KeyAlgorithm alg : AllKeyAlgorithms()) {
    if (KeyAlgorithmName(alg) == name) return alg;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown key algorithm \"", name,
                   "\"; use one of ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096"));
}

absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> GenerateKey(KeyAlgorithm alg) {
  EVP_PKEY* raw = nullptr;
  switch (alg) {
    case KeyAlgorithm::kEcdsaP256:
      raw = EVP_EC_gen("P-256");
      break;
    case KeyAlgorithm::kEcdsaP384:
      raw = EVP_EC_gen("P-384");
      break;
    case KeyAlgorithm::kRsa2048:
      raw = EVP_RSA_gen(2048);
      break;
    case KeyAlgorithm::kRsa3072:
      raw = EVP_RSA_gen(3072);
      break;
    case KeyAlgorithm::kRsa4096:
      raw = EVP_RSA_gen(4096);
      break;
  }
  if (raw == nullptr) {
    return InternalOpenSslError(absl::StrCat("generating a ", KeyAlgorithmName(alg), " key"));
  }
  return ossl::UniquePtr<EVP_PKEY>(raw);
}

absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> GenerateEd25519Key() {
  ossl::UniquePtr<EVP_PKEY> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (key == nullptr) return InternalOpenSslError("generating an Ed25519 key");
  return key;
}

absl::StatusOr<std::string> Ed25519RawPublicKey(EVP_PKEY* key) {
  std::string raw(32, '\0');
  size_t len = raw.size();
  if (key == nullptr || !EVP_PKEY_is_a(key, "ED25519") ||
      EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &len) != 1 ||
      len != raw.size()) {
    ERR_clear_error();
    return absl::InvalidArgumentError("not an Ed25519 key");
  }
  return raw;
}

absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> Ed25519KeyFromSeed(const SecretBytes& seed) {
  if (seed.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("an Ed25519 seed is 32 bytes, not ", seed.size()));
  }
  ossl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, seed.UnsafeSecretView().data(), seed.size()));
  if (key == nullptr) return InternalOpenSslError("loading an Ed25519 seed");
  return key;
}

std::string DescribeKey(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, kRsaFamily.data())) {
    return absl::StrCat("RSA-", EVP_PKEY_get_bits(key));
  }
  if (EVP_PKEY_is_a(key, kEcFamily.data())) {
    if (HasExplicitCurveParameters(key)) return "ECDSA with explicit curve parameters";
    std::string curve = CurveName(key);
    return curve.empty() ? "ECDSA on an unnamed curve" : absl::StrCat("ECDSA ", curve);
  }
  const char* type = EVP_PKEY_get0_type_name(key);
  return type != nullptr ? type : "an unknown key type";
}

absl::StatusOr<KeyAlgorithm> ClassifyKey(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, kEcFamily.data())) {
    if (HasExplicitCurveParameters(key)) {
      return absl::InvalidArgumentError(
          "key uses explicit EC curve parameters; only the named curves P-256 and P-384 are "
          "accepted");
    }
    std::string curve = CurveName(key);
    if (curve == "prime256v1" || curve == "P-256") return KeyAlgorithm::kEcdsaP256;
    if (curve == "secp384r1" || curve == "P-384") return KeyAlgorithm::kEcdsaP384;
    return absl::InvalidArgumentError(absl::StrCat(
        "key is ", DescribeKey(key), "; only the named curves P-256 and P-384 are accepted"));
  }
  if (EVP_PKEY_is_a(key, kRsaFamily.data())) {
    int bits = EVP_PKEY_get_bits(key);
    BIGNUM* e_raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e_raw) != 1) {
      return InternalOpenSslError("reading the RSA public exponent");
    }
    ossl::UniquePtr<BIGNUM> e(e_raw);
    if (!BN_is_word(e.get(), RSA_F4)) {
      std::string exponent = BN_num_bits(e.get()) <= 64
                                 ? absl::StrCat("public exponent ", BN_get_word(e.get()))
                                 : absl::StrCat("a ", BN_num_bits(e.get()), "-bit public exponent");
      return absl::InvalidArgumentError(
          absl::StrCat("RSA key has ", exponent, "; only 65537 is accepted"));
    }
    if (bits == 2048) return KeyAlgorithm::kRsa2048;
    if (bits == 3072) return KeyAlgorithm::kRsa3072;
    if (bits == 4096) return KeyAlgorithm::kRsa4096;
    return absl::InvalidArgumentError(
        absl::StrCat("key is RSA-", bits, "; only RSA-2048, RSA-3072 and RSA-4096 are accepted"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "key is ", DescribeKey(key), "; only ECDSA (P-256, P-384) and RSA are accepted"));
}

absl::StatusOr<std::string> PublicKeySpkiDer(EVP_PKEY* key) {
  int len = i2d_PUBKEY(key, nullptr);
  if (len <= 0) return InternalOpenSslError("encoding a public key");
  std::string der(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_PUBKEY(key, &p) != len) return InternalOpenSslError("encoding a public key");
  return der;
}

absl::StatusOr<std::string> SpkiSha256Pin(EVP_PKEY* key) {
  absl::StatusOr<std::string> der = PublicKeySpkiDer(key);
  if (!der.ok()) return der.status();
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(der->data()), der->size(), digest);
  char hex[2 * SHA256_DIGEST_LENGTH + 1];
  sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
  return absl::StrCat("sha256:", hex);
}

bool SamePublicKey(EVP_PKEY* a, EVP_PKEY* b) {
  int r = EVP_PKEY_eq(a, b);
  ERR_clear_error();
  return r == 1;
}

absl::StatusOr<SecretBytes> PrivateKeyToPkcs8Der(EVP_PKEY* key) {
  ossl::UniquePtr<PKCS8_PRIV_KEY_INFO> p8(EVP_PKEY2PKCS8(key));
  if (p8 == nullptr) return InternalOpenSslError("encoding a private key as PKCS#8");
  int len = i2d_PKCS8_PRIV_KEY_INFO(p8.get(), nullptr);
  if (len <= 0) return InternalOpenSslError("encoding a private key as PKCS#8");
  // i2d with a non-null output pointer writes straight into our wiped buffer,
  // so the plaintext never passes through an OpenSSL-owned allocation.
  SecretBytes der(static_cast<size_t>(len));
  unsigned char* p = der.UnsafeSecretView().data();
  if (i2d_PKCS8_PRIV_KEY_INFO(p8.get(), &p) != len) {
    return InternalOpenSslError("encoding a private key as PKCS#8");
  }
  return der;
}

absl::StatusOr<SecretBytes> PrivateKeyToPkcs8Pem(EVP_PKEY* key) {
  absl::StatusOr<SecretBytes> der = PrivateKeyToPkcs8Der(key);
  if (!der.ok()) return der.status();
  return SecretDerToPem(*der, "PRIVATE KEY");
}

absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> PrivateKeyFromPkcs8Der(const SecretBytes& der) {
  absl::StatusOr<ossl::UniquePtr<PKCS8_PRIV_KEY_INFO>> p8 = ParseWholeDer<PKCS8_PRIV_KEY_INFO>(
      der.UnsafeSecretView(), d2i_PKCS8_PRIV_KEY_INFO,
      {.not_valid = "private key is not valid PKCS#8 DER",
       .trailing = "private key DER has trailing bytes after the PKCS#8 structure"});
  if (!p8.ok()) return p8.status();
  ossl::UniquePtr<EVP_PKEY> key(EVP_PKCS82PKEY(p8->get()));
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "PKCS#8 private key is not usable");
  }
  return key;
}

absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> PrivateKeyFromPem(const SecretBytes& pem) {
  absl::StatusOr<PemSecretBlock> block = DecodeSecretPem(pem);
  if (!block.ok()) return block.status();
  if (block->label == "PRIVATE KEY") return PrivateKeyFromPkcs8Der(block->der);
  int type;
  if (block->label == "EC PRIVATE KEY") {
    type = EVP_PKEY_EC;
  } else if (block->label == "RSA PRIVATE KEY") {
    type = EVP_PKEY_RSA;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("PEM block \"", block->label,
                     "\" is not a private key; expected PRIVATE KEY, EC PRIVATE KEY or RSA "
                     "PRIVATE KEY"));
  }
  const std::string not_valid = absl::StrCat("cannot parse the ", block->label);
  return ParseWholeDer<EVP_PKEY>(
      block->der.UnsafeSecretView(),
      [type](EVP_PKEY** out, const unsigned char** p, long len) {
        return d2i_PrivateKey(type, out, p, len);
      },
      {.not_valid = not_valid, .trailing = "private key DER has trailing bytes"});
}

absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> PublicKeyFromSpkiDer(absl::string_view der) {
  return ParseWholeDer<EVP_PKEY>(der, d2i_PUBKEY,
                                 {.not_valid = "public key is not a valid SubjectPublicKeyInfo",
                                  .trailing = "public key DER has trailing bytes"});
}

absl::Status InitSecureKeyHeap(size_t bytes) {
  // 1: locked; 2: mapped but not locked; 0: failed.
  if (int rc = CRYPTO_secure_malloc_init(bytes, 32); rc != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "OpenSSL's secure heap is unavailable (", rc == 2 ? "not locked" : "not set up",
        "; an mlock limit?); private keys use ordinary memory"));
  }
  return absl::OkStatus();
}

}  // namespace meshtrust::pki
