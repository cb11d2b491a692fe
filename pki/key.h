// Key generation, classification and (de)serialisation.
#ifndef MESHTRUST_PKI_KEY_H_
#define MESHTRUST_PKI_KEY_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/secret_bytes.h"
#include "pki/ossl.h"

namespace meshtrust::pki {

// The key algorithms meshtrust issues for and accepts. Anything else (other
// curves, explicit curve parameters, other RSA sizes or exponents) is refused.
enum class KeyAlgorithm { kEcdsaP256, kEcdsaP384, kRsa2048, kRsa3072, kRsa4096 };

// "ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096".
absl::string_view KeyAlgorithmName(KeyAlgorithm alg);
absl::StatusOr<KeyAlgorithm> ParseKeyAlgorithm(absl::string_view name);
const std::vector<KeyAlgorithm>& AllKeyAlgorithms();

absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> GenerateKey(KeyAlgorithm alg);
// Ed25519, for signing the audit log (RFC 8032).
absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> GenerateEd25519Key();
// The 32 raw bytes of an Ed25519 public key (RFC 8032), as libsodium takes it.
absl::StatusOr<std::string> Ed25519RawPublicKey(EVP_PKEY* key);
// The Ed25519 key whose 32-byte private seed is `seed`.
absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> Ed25519KeyFromSeed(const SecretBytes& seed);

// Gives OpenSSL a locked secure heap of `bytes` for the private key material
// it allocates. Call once, early in main, before any thread starts.
// kFailedPrecondition when the heap cannot be locked (an mlock limit, or
// already set up); keys then live in ordinary memory.
absl::Status InitSecureKeyHeap(size_t bytes);

// A human description of any public key, for error messages: "RSA-1024",
// "ECDSA secp256k1", "ECDSA with explicit curve parameters", "ED25519".
std::string DescribeKey(EVP_PKEY* key);

// The approved algorithm of `key`, or kInvalidArgument saying why the key is
// not acceptable (weak RSA, non-approved curve, explicit parameters, odd
// exponent).
absl::StatusOr<KeyAlgorithm> ClassifyKey(EVP_PKEY* key);

// DER SubjectPublicKeyInfo of the key, and its SHA-256 as lowercase hex (the
// pin format agents use: "sha256:<hex>").
absl::StatusOr<std::string> PublicKeySpkiDer(EVP_PKEY* key);
absl::StatusOr<std::string> SpkiSha256Pin(EVP_PKEY* key);
bool SamePublicKey(EVP_PKEY* a, EVP_PKEY* b);

// PKCS#8 PrivateKeyInfo, DER or PEM ("PRIVATE KEY"), in wiped memory.
absl::StatusOr<SecretBytes> PrivateKeyToPkcs8Der(EVP_PKEY* key);
absl::StatusOr<SecretBytes> PrivateKeyToPkcs8Pem(EVP_PKEY* key);
// Parses exactly one PKCS#8 private key; trailing bytes are an error.
absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> PrivateKeyFromPkcs8Der(const SecretBytes& der);
// Parses a PEM private key (PKCS#8 "PRIVATE KEY", SEC1 "EC PRIVATE KEY" or
// PKCS#1 "RSA PRIVATE KEY"), exactly one block.
absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> PrivateKeyFromPem(const SecretBytes& pem);

// Parses a DER SubjectPublicKeyInfo; trailing bytes are an error.
absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> PublicKeyFromSpkiDer(absl::string_view der);

}  // namespace meshtrust::pki

#endif  // MESHTRUST_PKI_KEY_H_
