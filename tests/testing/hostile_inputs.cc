#include "tests/testing/hostile_inputs.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <chrono>
#include <cstdlib>
#include <functional>

#include "pki/certificate.h"
#include "pki/key.h"

namespace meshtrust::testing {

RogueRoot MakeRogueRoot() {
  RogueRoot r;
  r.key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  pki::CertificateTemplate t;
  t.subject = {{"CN", "rogue root"}};
  t.not_before = std::chrono::system_clock::now() - std::chrono::hours(1);
  t.not_after = std::chrono::system_clock::now() + std::chrono::hours(24);
  t.is_ca = true;
  t.key_usage = pki::kKeyCertSign | pki::kCrlSign;
  r.cert = *pki::IssueCertificate(t, r.key.get(), nullptr, r.key.get());
  return r;
}
namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "test input builder failed: %s\n", what);
    std::abort();
  }
}

std::string SignAndEncode(X509_REQ* req, EVP_PKEY* key, const EVP_MD* md = EVP_sha256()) {
  Check(X509_REQ_set_pubkey(req, key) == 1, "set pubkey");
  // Ed25519 and Ed448 sign without a separate digest.
  if (EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448")) md = nullptr;
  Check(X509_REQ_sign(req, key, md) > 0, "sign");
  int len = i2d_X509_REQ(req, nullptr);
  std::string der(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_X509_REQ(req, &p);
  return der;
}

ossl::UniquePtr<X509_REQ> NewReq(const std::string& cn) {
  ossl::UniquePtr<X509_REQ> req(X509_REQ_new());
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.data()),
                             static_cast<int>(cn.size()), -1, 0);
  return req;
}

// A DER length field for `n`, minimal unless `octets` forces the long form.
std::string LengthOctets(size_t n, size_t octets = 0) {
  if (octets == 0 && n < 0x80) return std::string(1, static_cast<char>(n));
  std::string len;
  for (size_t m = n; m > 0; m >>= 8) len.insert(len.begin(), static_cast<char>(m & 0xff));
  while (len.size() < octets) len.insert(len.begin(), '\0');
  return static_cast<char>(0x80 | len.size()) + len;
}

// Splits the TLV at `at`: returns the header size and sets *content_size.
size_t HeaderSize(const std::string& der, size_t at, size_t* content_size) {
  auto byte = [&](size_t i) { return static_cast<uint8_t>(der[i]); };
  uint8_t first = byte(at + 1);
  if (first < 0x80) {
    *content_size = first;
    return 2;
  }
  size_t n = 0;
  for (size_t k = 0; k < (first & 0x7fu); ++k) n = (n << 8) | byte(at + 2 + k);
  *content_size = n;
  return 2 + (first & 0x7fu);
}

// A CSR for `key` (CN=attacker) whose CertificationRequestInfo TLV is
// replaced by edit(info), then signed with SHA-256 over the edited bytes.
std::string CsrWithEditedInfo(EVP_PKEY* key,
                              const std::function<std::string(const std::string&)>& edit) {
  ossl::UniquePtr<X509_REQ> req = NewReq("attacker");
  std::string der = SignAndEncode(req.get(), key);
  size_t outer_content = 0;
  size_t at = HeaderSize(der, 0, &outer_content);
  size_t info_content = 0;
  size_t info_size = HeaderSize(der, at, &info_content) + info_content;
  std::string info = edit(der.substr(at, info_size));
  size_t alg_content = 0;
  size_t alg_size = HeaderSize(der, at + info_size, &alg_content) + alg_content;
  std::string alg = der.substr(at + info_size, alg_size);

  ossl::UniquePtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  Check(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1, "sign init");
  size_t sig_size = 0;
  const auto* tbs = reinterpret_cast<const unsigned char*>(info.data());
  Check(EVP_DigestSign(ctx.get(), nullptr, &sig_size, tbs, info.size()) == 1, "sign size");
  std::string sig(sig_size, '\0');
  Check(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_size, tbs,
                       info.size()) == 1,
        "sign");
  sig.resize(sig_size);
  std::string bits = "\x03" + LengthOctets(sig.size() + 1) + '\0' + sig;
  std::string body = info + alg + bits;
  return "\x30" + LengthOctets(body.size()) + body;
}

}  // namespace

ossl::UniquePtr<EVP_PKEY> EcKeyOnCurve(const char* curve_name) {
  EVP_PKEY* key = EVP_EC_gen(curve_name);
  Check(key != nullptr, curve_name);
  return ossl::UniquePtr<EVP_PKEY>(key);
}

ossl::UniquePtr<EVP_PKEY> RsaKey(int bits, unsigned long exponent) {  // NOLINT
  ossl::UniquePtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  Check(ctx != nullptr && EVP_PKEY_keygen_init(ctx.get()) == 1, "rsa ctx");
  Check(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), bits) == 1, "rsa bits");
  ossl::UniquePtr<BIGNUM> e(BN_new());
  BN_set_word(e.get(), exponent);
  Check(EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx.get(), e.get()) == 1, "rsa exponent");
  EVP_PKEY* key = nullptr;
  Check(EVP_PKEY_keygen(ctx.get(), &key) == 1, "rsa keygen");
  return ossl::UniquePtr<EVP_PKEY>(key);
}

ossl::UniquePtr<EVP_PKEY> ExplicitParamsP256Key() {
  ossl::UniquePtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  Check(EVP_PKEY_keygen_init(ctx.get()) == 1, "ec ctx");
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>("P-256"), 0),
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING,
                                       const_cast<char*>(OSSL_PKEY_EC_ENCODING_EXPLICIT), 0),
      OSSL_PARAM_construct_end()};
  Check(EVP_PKEY_CTX_set_params(ctx.get(), params) == 1, "explicit params");
  EVP_PKEY* key = nullptr;
  Check(EVP_PKEY_keygen(ctx.get(), &key) == 1, "ec keygen");
  ossl::UniquePtr<EVP_PKEY> generated(key);
  // Round-trip the private key so the decoder records the explicit encoding.
  int len = i2d_PrivateKey(generated.get(), nullptr);
  std::string der(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_PrivateKey(generated.get(), &p);
  const auto* q = reinterpret_cast<const unsigned char*>(der.data());
  EVP_PKEY* decoded = d2i_PrivateKey(EVP_PKEY_EC, nullptr, &q, len);
  Check(decoded != nullptr, "decode explicit key");
  return ossl::UniquePtr<EVP_PKEY>(decoded);
}

ossl::UniquePtr<EVP_PKEY> RsaPublicKey(int modulus_bits, int exponent_bits) {
  ossl::UniquePtr<BIGNUM> n(BN_new());
  Check(BN_rand(n.get(), modulus_bits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD) == 1, "modulus");
  ossl::UniquePtr<BIGNUM> e(BN_new());
  BN_set_bit(e.get(), exponent_bits);
  BN_set_bit(e.get(), 0);
  ossl::UniquePtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get());
  OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get());
  ossl::UniquePtr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld.get()));
  ossl::UniquePtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* key = nullptr;
  Check(ctx != nullptr && EVP_PKEY_fromdata_init(ctx.get()) == 1 &&
            EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) == 1,
        "rsa public key");
  return ossl::UniquePtr<EVP_PKEY>(key);
}

std::string CsrSignedByOtherKey(EVP_PKEY* subject_key, EVP_PKEY* signer) {
  ossl::UniquePtr<X509_REQ> req = NewReq("attacker");
  Check(X509_REQ_set_pubkey(req.get(), subject_key) == 1, "set pubkey");
  Check(X509_REQ_sign(req.get(), signer, EVP_sha256()) > 0, "sign");
  int len = i2d_X509_REQ(req.get(), nullptr);
  std::string der(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_X509_REQ(req.get(), &p);
  return der;
}

std::string CsrWithSubject(EVP_PKEY* key,
                           const std::vector<std::pair<std::string, std::string>>& subject) {
  ossl::UniquePtr<X509_REQ> req(X509_REQ_new());
  for (const auto& [field, value] : subject) {
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), field.c_str(), MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(value.data()),
                               static_cast<int>(value.size()), -1, 0);
  }
  return SignAndEncode(req.get(), key);
}

std::string DeeplyNestedDer(int depth) {
  std::string der;
  for (int i = 0; i < depth; ++i) {
    std::string header(1, '\x30');
    size_t n = der.size();
    if (n < 0x80) {
      header.push_back(static_cast<char>(n));
    } else {
      std::string len;
      for (; n > 0; n >>= 8) len.insert(len.begin(), static_cast<char>(n & 0xff));
      header.push_back(static_cast<char>(0x80 | len.size()));
      header += len;
    }
    der = header + der;
  }
  return der;
}

std::string CsrWithExtensions(EVP_PKEY* key,
                              const std::vector<std::pair<std::string, std::string>>& extensions,
                              const std::string& common_name) {
  ossl::UniquePtr<X509_REQ> req = NewReq(common_name);
  ossl::ExtensionStack exts(sk_X509_EXTENSION_new_null());
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, nullptr, nullptr, req.get(), nullptr, 0);
  for (const auto& [name, value] : extensions) {
    X509_EXTENSION* ext = X509V3_EXT_nconf(nullptr, &ctx, name.c_str(), value.c_str());
    Check(ext != nullptr, name.c_str());
    sk_X509_EXTENSION_push(exts.get(), ext);  // The stack owns ext.
  }
  Check(X509_REQ_add_extensions(req.get(), exts.get()) == 1, "add extensions");
  return SignAndEncode(req.get(), key);
}

std::string CsrWithRawUriSan(EVP_PKEY* key, const std::string& uri) {
  ossl::UniquePtr<X509_REQ> req = NewReq("attacker");
  ossl::UniquePtr<GENERAL_NAMES> names(sk_GENERAL_NAME_new_null());
  GENERAL_NAME* gn = GENERAL_NAME_new();
  ASN1_IA5STRING* s = ASN1_IA5STRING_new();
  ASN1_STRING_set(s, uri.data(), static_cast<int>(uri.size()));
  GENERAL_NAME_set0_value(gn, GEN_URI, s);  // gn owns s.
  sk_GENERAL_NAME_push(names.get(), gn);    // names owns gn.
  ossl::ExtensionStack exts(sk_X509_EXTENSION_new_null());
  X509_EXTENSION* ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, names.get());
  sk_X509_EXTENSION_push(exts.get(), ext);  // exts owns ext.
  Check(X509_REQ_add_extensions(req.get(), exts.get()) == 1, "add SAN");
  return SignAndEncode(req.get(), key);
}

std::string CsrWithChallengePassword(EVP_PKEY* key) {
  ossl::UniquePtr<X509_REQ> req = NewReq("attacker");
  Check(X509_REQ_add1_attr_by_NID(req.get(), NID_pkcs9_challengePassword, MBSTRING_ASC,
                                  reinterpret_cast<const unsigned char*>("secret"), -1) == 1,
        "challengePassword");
  return SignAndEncode(req.get(), key);
}

std::string CsrWithAttribute(EVP_PKEY* key, const std::string& oid) {
  ossl::UniquePtr<X509_REQ> req = NewReq("attacker");
  ossl::UniquePtr<ASN1_OBJECT> obj(OBJ_txt2obj(oid.c_str(), 1));
  Check(obj != nullptr, "attribute OID");
  Check(X509_REQ_add1_attr_by_OBJ(req.get(), obj.get(), V_ASN1_UTF8STRING,
                                  reinterpret_cast<const unsigned char*>("x"), 1) == 1,
        "attribute");
  return SignAndEncode(req.get(), key);
}

std::string CsrWithUnknownCriticalExtension(EVP_PKEY* key) {
  ossl::UniquePtr<X509_REQ> req = NewReq("attacker");
  ossl::UniquePtr<ASN1_OBJECT> oid(OBJ_txt2obj("1.3.6.1.4.1.99999.1", 1));
  ossl::UniquePtr<ASN1_STRING> value(ASN1_OCTET_STRING_new());
  ASN1_OCTET_STRING_set(value.get(), reinterpret_cast<const unsigned char*>("\x05\x00"), 2);
  X509_EXTENSION* ext = X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), 1, value.get());
  ossl::ExtensionStack exts(sk_X509_EXTENSION_new_null());
  sk_X509_EXTENSION_push(exts.get(), ext);  // exts owns ext.
  Check(X509_REQ_add_extensions(req.get(), exts.get()) == 1, "unknown ext");
  return SignAndEncode(req.get(), key);
}

std::string CsrSignedWith(EVP_PKEY* key, const EVP_MD* md) {
  ossl::UniquePtr<X509_REQ> req = NewReq("attacker");
  return SignAndEncode(req.get(), key, md);
}

std::string CsrWithVersion(EVP_PKEY* key, int version) {
  return CsrWithEditedInfo(key, [version](const std::string& info) {
    size_t content = 0;
    size_t header = HeaderSize(info, 0, &content);
    std::string edited = info;
    // The info starts with the version, INTEGER 02 01 00.
    Check(edited.substr(header, 3) == std::string("\x02\x01\x00", 3), "version field");
    edited[header + 2] = static_cast<char>(version);
    return edited;
  });
}

std::string CsrWithCompressedKey(EVP_PKEY* key) {
  Check(EVP_PKEY_set_utf8_string_param(key, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                       OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_COMPRESSED) == 1,
        "compressed point format");
  ossl::UniquePtr<X509_REQ> req = NewReq("attacker");
  return SignAndEncode(req.get(), key);
}

std::string CsrWithRawSubject(EVP_PKEY* key,
                              const std::vector<std::pair<std::string, std::string>>& subject,
                              int asn1_type) {
  ossl::UniquePtr<X509_REQ> req(X509_REQ_new());
  for (const auto& [field, value] : subject) {
    // A plain ASN.1 type (not MBSTRING_*) stores the bytes as they are.
    Check(X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), field.c_str(), asn1_type,
                                     reinterpret_cast<const unsigned char*>(value.data()),
                                     static_cast<int>(value.size()), -1, 0) == 1,
          "raw subject entry");
  }
  return SignAndEncode(req.get(), key);
}

std::string WithNonMinimalOuterLength(const std::string& der) {
  size_t content = 0;
  size_t header = HeaderSize(der, 0, &content);
  return "\x30" + LengthOctets(content, 4) + der.substr(header);
}

std::string WithIndefiniteOuterLength(const std::string& der) {
  size_t content = 0;
  size_t header = HeaderSize(der, 0, &content);
  return std::string("\x30\x80", 2) + der.substr(header) + std::string(2, '\0');
}

std::string CsrWithBerInSignedPart(EVP_PKEY* key) {
  return CsrWithEditedInfo(key, [](const std::string& info) {
    size_t content = 0;
    size_t header = HeaderSize(info, 0, &content);
    return "\x30" + LengthOctets(content, 4) + info.substr(header);
  });
}

std::string FlipLastBit(std::string der) {
  der.back() = static_cast<char>(der.back() ^ 0x01);
  return der;
}

}  // namespace meshtrust::testing
