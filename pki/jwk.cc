#include "pki/jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "absl/strings/str_cat.h"
#include "pki/error.h"
#include "pki/key.h"

namespace meshtrust::pki {
namespace {

std::string Base64(absl::string_view bytes, int variant) {
  std::string out(sodium_base64_encoded_len(bytes.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), variant);
  out.resize(std::char_traits<char>::length(out.c_str()));  // Up to the NUL.
  return out;
}

// A BIGNUM parameter of `key`, big-endian, left-padded with zeros to `width`
// bytes (0: no padding, no leading zeros).
absl::StatusOr<std::string> BigNumParam(EVP_PKEY* key, const char* name, int width) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) {
    return InternalOpenSslError(absl::StrCat("reading the key's ", name));
  }
  ossl::UniquePtr<BIGNUM> bn(raw);  // Owned here from now on.
  int size = width > 0 ? width : BN_num_bytes(bn.get());
  std::string out(static_cast<size_t>(size), '\0');
  if (BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()), size) != size) {
    return InternalOpenSslError(absl::StrCat("encoding the key's ", name));
  }
  return out;
}

}  // namespace

std::string Base64Standard(absl::string_view bytes) {
  return Base64(bytes, sodium_base64_VARIANT_ORIGINAL);
}

std::string Base64UrlNoPadding(absl::string_view bytes) {
  return Base64(bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

absl::StatusOr<JwkPublicKey> PublicKeyJwk(EVP_PKEY* key) {
  absl::StatusOr<KeyAlgorithm> alg = ClassifyKey(key);
  if (!alg.ok()) return alg.status();
  JwkPublicKey jwk;
  if (*alg == KeyAlgorithm::kEcdsaP256 || *alg == KeyAlgorithm::kEcdsaP384) {
    bool p256 = *alg == KeyAlgorithm::kEcdsaP256;
    int width = p256 ? 32 : 48;
    absl::StatusOr<std::string> x = BigNumParam(key, OSSL_PKEY_PARAM_EC_PUB_X, width);
    if (!x.ok()) return x.status();
    absl::StatusOr<std::string> y = BigNumParam(key, OSSL_PKEY_PARAM_EC_PUB_Y, width);
    if (!y.ok()) return y.status();
    jwk.kty = "EC";
    jwk.crv = p256 ? "P-256" : "P-384";
    jwk.x = Base64UrlNoPadding(*x);
    jwk.y = Base64UrlNoPadding(*y);
    return jwk;
  }
  absl::StatusOr<std::string> n = BigNumParam(key, OSSL_PKEY_PARAM_RSA_N, 0);
  if (!n.ok()) return n.status();
  absl::StatusOr<std::string> e = BigNumParam(key, OSSL_PKEY_PARAM_RSA_E, 0);
  if (!e.ok()) return e.status();
  jwk.kty = "RSA";
  jwk.n = Base64UrlNoPadding(*n);
  jwk.e = Base64UrlNoPadding(*e);
  return jwk;
}

}  // namespace meshtrust::pki
