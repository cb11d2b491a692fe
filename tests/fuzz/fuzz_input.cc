#include "tests/fuzz/fuzz_input.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "pki/certificate.h"

namespace meshtrust::fuzz {

std::vector<absl::string_view> SplitParts(const uint8_t* data, size_t size, size_t max_parts) {
  absl::string_view rest(reinterpret_cast<const char*>(data), size);
  std::vector<absl::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    size_t at = rest.find(kPartSeparator);
    if (at == absl::string_view::npos) break;
    parts.push_back(rest.substr(0, at));
    rest.remove_prefix(at + kPartSeparator.size());
  }
  parts.push_back(rest);
  parts.resize(max_parts);
  return parts;
}

std::string JoinParts(const std::vector<std::string>& parts) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out.append(kPartSeparator.data(), kPartSeparator.size());
    out += parts[i];
  }
  return out;
}

void Require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

ossl::UniquePtr<EVP_PKEY> FixedKey(absl::string_view label) {
  std::string seed = absl::StrCat("meshtrust-fuzz/", label);
  unsigned char scalar[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(seed.data()), seed.size(), scalar);
  ossl::UniquePtr<BIGNUM> priv(BN_bin2bn(scalar, sizeof(scalar), nullptr));
  ossl::UniquePtr<EC_GROUP> group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  ossl::UniquePtr<EC_POINT> pub(EC_POINT_new(group.get()));
  Require(EC_POINT_mul(group.get(), pub.get(), priv.get(), nullptr, nullptr, nullptr) == 1,
          "public point");
  unsigned char pub_bytes[65];
  size_t pub_len = EC_POINT_point2oct(group.get(), pub.get(), POINT_CONVERSION_UNCOMPRESSED,
                                      pub_bytes, sizeof(pub_bytes), nullptr);
  ossl::UniquePtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0);
  OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv.get());
  OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, pub_bytes, pub_len);
  ossl::UniquePtr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld.get()));
  ossl::UniquePtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* key = nullptr;
  Require(ctx != nullptr && EVP_PKEY_fromdata_init(ctx.get()) == 1 &&
              EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_KEYPAIR, params.get()) == 1,
          "fixed key");
  return ossl::UniquePtr<EVP_PKEY>(key);  // The caller owns the new key.
}

ossl::UniquePtr<X509> FixedCa(absl::string_view label) {
  ossl::UniquePtr<EVP_PKEY> key = FixedKey(label);
  pki::CertificateTemplate t;
  t.subject = {{"O", "meshtrust"}, {"CN", absl::StrCat("meshtrust fuzz ", label)}};
  t.not_before = std::chrono::system_clock::now() - std::chrono::hours(1);
  t.not_after = std::chrono::system_clock::now() + std::chrono::hours(24 * 365);
  t.is_ca = true;
  t.key_usage = pki::kKeyCertSign | pki::kCrlSign;
  absl::StatusOr<ossl::UniquePtr<X509>> cert =
      pki::IssueCertificate(t, key.get(), nullptr, key.get());
  Require(cert.ok(), "fixed CA");
  return *std::move(cert);
}

}  // namespace meshtrust::fuzz
