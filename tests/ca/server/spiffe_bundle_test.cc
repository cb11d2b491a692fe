// The SPIFFE trust bundle on the CA's public HTTP, checked field by field
// against the SPIFFE Trust Domain and Bundle specification (section 4) and
// the X509-SVID specification (section 6).
#include "ca/server/spiffe_bundle.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <sodium.h>

#include <set>

#include "ca/server/public_http.h"
#include "nlohmann/json.hpp"
#include "pki/certificate.h"
#include "pki/jwk.h"
#include "pki/key.h"
#include "tests/testing/hostile_inputs.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::ca {
namespace {

using ::meshtrust::testing::IsOk;
using ::testing::HasSubstr;
using json = nlohmann::json;

// Decodes base64 in exactly one variant; nullopt when `text` is not in it
// (wrong alphabet, padding where there must be none, trailing bytes).
std::optional<std::string> Decode(const std::string& text, int variant) {
  std::string out(text.size(), '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &len, &end, variant) != 0 ||
      end != text.data() + text.size()) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}
std::string Url(const json& v) {
  EXPECT_TRUE(v.is_string()) << v;
  std::optional<std::string> bytes =
      Decode(v.get<std::string>(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  EXPECT_TRUE(bytes.has_value()) << v << " is not base64url without padding";
  return bytes.value_or("");
}

// The public key a JWK describes, rebuilt with OpenSSL from its members alone.
ossl::UniquePtr<EVP_PKEY> KeyFromJwk(const json& k) {
  ossl::UniquePtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  std::string kty = k.at("kty");
  std::string point, n, e;
  ossl::UniquePtr<BIGNUM> bn_n, bn_e;
  if (kty == "EC") {
    std::string crv = k.at("crv");
    size_t width = crv == "P-256" ? 32 : crv == "P-384" ? 48 : 0;
    std::string x = Url(k.at("x")), y = Url(k.at("y"));
    EXPECT_EQ(x.size(), width) << "x must be the full field size";
    EXPECT_EQ(y.size(), width) << "y must be the full field size";
    point = std::string(1, '\x04') + x + y;
    OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                    crv == "P-256" ? "prime256v1" : "secp384r1", 0);
    OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                     point.size());
  } else {
    n = Url(k.at("n"));
    e = Url(k.at("e"));
    EXPECT_NE(n[0], '\0') << "n has a leading zero";
    bn_n.reset(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), n.size(), nullptr));
    bn_e.reset(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), e.size(), nullptr));
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get());
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get());
  }
  ossl::UniquePtr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld.get()));
  ossl::UniquePtr<EVP_PKEY_CTX> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, kty == "EC" ? "EC" : "RSA", nullptr));
  EVP_PKEY* key = nullptr;
  EXPECT_EQ(EVP_PKEY_fromdata_init(ctx.get()), 1);
  EXPECT_EQ(EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()), 1);
  return ossl::UniquePtr<EVP_PKEY>(key);  // Owned by the caller.
}

// Every requirement the two specifications put on an X.509 bundle; returns
// the DER of each key's certificate, in order.
std::vector<std::string> CheckSpiffeBundle(const json& doc, uint64_t* sequence) {
  EXPECT_TRUE(doc.is_object());
  std::set<std::string> members;
  for (const auto& [name, value] : doc.items()) members.insert(name);
  EXPECT_EQ(members, (std::set<std::string>{"keys", "spiffe_sequence", "spiffe_refresh_hint"}));
  EXPECT_TRUE(doc.at("spiffe_sequence").is_number_unsigned()) << doc.at("spiffe_sequence");
  EXPECT_TRUE(doc.at("spiffe_refresh_hint").is_number_integer());
  EXPECT_GT(doc.at("spiffe_refresh_hint").get<int64_t>(), 0);
  *sequence = doc.at("spiffe_sequence").get<uint64_t>();
  EXPECT_TRUE(doc.at("keys").is_array());
  std::vector<std::string> ders;
  for (const json& k : doc.at("keys")) {
    std::set<std::string> fields;
    for (const auto& [name, value] : k.items()) fields.insert(name);
    std::string kty = k.at("kty");
    if (kty == "EC") {
      EXPECT_EQ(fields, (std::set<std::string>{"kty", "use", "x5c", "crv", "x", "y"}));
    } else {
      EXPECT_EQ(kty, "RSA");
      EXPECT_EQ(fields, (std::set<std::string>{"kty", "use", "x5c", "n", "e"}));
    }
    EXPECT_EQ(k.at("use"), "x509-svid");
    // x5c: exactly one certificate, standard base64 (with padding) of DER.
    EXPECT_TRUE(k.at("x5c").is_array());
    EXPECT_EQ(k.at("x5c").size(), 1u);
    std::optional<std::string> der =
        Decode(k.at("x5c")[0].get<std::string>(), sodium_base64_VARIANT_ORIGINAL);
    EXPECT_TRUE(der.has_value());
    absl::StatusOr<ossl::UniquePtr<X509>> cert = pki::ParseCertificateDer(der.value_or(""));
    EXPECT_THAT(cert, IsOk());
    if (!cert.ok()) continue;
    // The key members are the certificate's key.
    ossl::UniquePtr<EVP_PKEY> key = KeyFromJwk(k);
    EXPECT_TRUE(key != nullptr && pki::SamePublicKey(key.get(), pki::PublicKeyOf(cert->get())));
    ders.push_back(*der);
  }
  return ders;
}

std::vector<std::string> RootDers(const std::string& roots_pem) {
  std::vector<std::string> out;
  auto certs = *pki::ParseCertificateChainPem(roots_pem);
  for (auto& c : certs) {
    out.push_back(pki::CertificateDer(c.get()));
  }
  return out;
}

class SpiffeBundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TestCaOptions options;
    options.serve = false;
    ca_ = testing::TestCa::Create(options);
  }
  json Fetch() {
    HttpRequest req;
    req.method = "GET";
    req.path = "/spiffe-bundle";
    HttpResponse resp = HandlePublicHttp(ca_->authority(), req);
    EXPECT_EQ(resp.status, 200) << resp.body;
    EXPECT_EQ(resp.content_type, "application/json");
    return json::parse(resp.body);
  }
  std::unique_ptr<testing::TestCa> ca_;
};

TEST_F(SpiffeBundleTest, ServesTheMeshRootsAsASpiffeBundle) {
  uint64_t sequence = 0;
  std::vector<std::string> ders = CheckSpiffeBundle(Fetch(), &sequence);
  EXPECT_EQ(ders, RootDers(ca_->authority()->CurrentBundle().roots_pem));
  EXPECT_EQ(ders.size(), 1u);
  EXPECT_GE(sequence, 1u);
  EXPECT_EQ(Fetch().at("spiffe_refresh_hint"), kSpiffeRefreshHint.count());
  // Unchanged roots: the same sequence.
  uint64_t again = 0;
  CheckSpiffeBundle(Fetch(), &again);
  EXPECT_EQ(again, sequence);
}

TEST_F(SpiffeBundleTest, TheSequenceGrowsWhenTheRootsChange) {
  uint64_t before = 0;
  CheckSpiffeBundle(Fetch(), &before);
  ASSERT_THAT(ca_->authority()->BeginRootRotation(ca_->LocalOperator()), IsOk());
  uint64_t after = 0;
  std::vector<std::string> ders = CheckSpiffeBundle(Fetch(), &after);
  EXPECT_GT(after, before);
  EXPECT_EQ(ders.size(), 2u);  // The old root and the new one, in bundle order.
  EXPECT_EQ(ders, RootDers(ca_->authority()->CurrentBundle().roots_pem));
}

TEST(SpiffeBundleJsonTest, EveryKeyTypeAndARetiredRootCount) {
  // Roots of every approved algorithm, built here.
  std::string pem;
  for (pki::KeyAlgorithm alg : {pki::KeyAlgorithm::kEcdsaP256, pki::KeyAlgorithm::kEcdsaP384,
                                pki::KeyAlgorithm::kRsa2048, pki::KeyAlgorithm::kRsa4096}) {
    auto key = *pki::GenerateKey(alg);
    pki::CertificateTemplate t;
    t.subject = {{"CN", std::string(pki::KeyAlgorithmName(alg))}};
    t.not_before = std::chrono::system_clock::now();
    t.not_after = t.not_before + std::chrono::hours(1);
    t.is_ca = true;
    t.key_usage = pki::kKeyCertSign | pki::kCrlSign;
    pem += pki::CertificatePem(pki::IssueCertificate(t, key.get(), nullptr, key.get())->get());
  }
  TrustBundle bundle;
  bundle.roots_pem = pem;
  bundle.sequence = 7;
  ASSERT_OK_AND_ASSIGN(std::string text, SpiffeBundleJson(bundle, std::chrono::seconds(60)));
  json doc = json::parse(text);
  uint64_t sequence = 0;
  EXPECT_EQ(CheckSpiffeBundle(doc, &sequence), RootDers(pem));
  EXPECT_EQ(sequence, 7u);
  EXPECT_EQ(doc["keys"][0]["crv"], "P-256");
  EXPECT_EQ(doc["keys"][1]["crv"], "P-384");
  EXPECT_EQ(doc["keys"][2]["kty"], "RSA");
  EXPECT_EQ(doc["keys"][2]["e"], "AQAB");  // 65537
  EXPECT_EQ(doc["spiffe_refresh_hint"], 60);

  bundle.roots_pem = "not PEM";
  EXPECT_THAT(SpiffeBundleJson(bundle, std::chrono::seconds(60)),
              testing::StatusIs(absl::StatusCode::kDataLoss, HasSubstr("trust bundle")));
}

}  // namespace
}  // namespace meshtrust::ca
