#include "ca/core/profiles.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include "base/clock.h"
#include "pki/chain.h"
#include "tests/testing/status_matchers.h"

namespace meshtrust::ca::profiles {
namespace {

using ::meshtrust::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

const pki::TimePoint kNow = pki::Clock::now();

struct Issued {
  ossl::UniquePtr<EVP_PKEY> key;
  ossl::UniquePtr<X509> cert;
};

Issued Issue(const pki::CertificateTemplate& t, const Issued* issuer,
             pki::KeyAlgorithm alg = pki::KeyAlgorithm::kEcdsaP256) {
  Issued out;
  out.key = *pki::GenerateKey(alg);
  absl::StatusOr<ossl::UniquePtr<X509>> cert =
      issuer == nullptr
          ? pki::IssueCertificate(t, out.key.get(), nullptr, out.key.get())
          : pki::IssueCertificate(t, out.key.get(), issuer->cert.get(), issuer->key.get());
  EXPECT_THAT(cert, IsOk());
  if (cert.ok()) out.cert = *std::move(cert);
  return out;
}

// -1 when the extension is absent, else whether it is critical.
int Critical(X509* cert, int nid) {
  int at = X509_get_ext_by_NID(cert, nid, -1);
  if (at < 0) return -1;
  return X509_EXTENSION_get_critical(X509_get_ext(cert, at));
}

uint32_t KeyUsage(X509* cert) {
  X509_check_purpose(cert, -1, 0);
  return X509_get_key_usage(cert);
}

std::vector<std::string> GeneralNames(X509* cert, int type) {
  std::vector<std::string> out;
  ossl::UniquePtr<GENERAL_NAMES> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names.get(), i);
    if (n->type != type) continue;
    const ASN1_STRING* s = type == GEN_DNS ? n->d.dNSName : n->d.iPAddress;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     ASN1_STRING_length(s));
  }
  return out;
}

// RFC 5280 4.2.1.9 and 4.2.1.3: a CA asserts basicConstraints (critical)
// and keyUsage (critical) with keyCertSign; 4.2.1.2: it carries a subject key
// identifier. No CA of ours carries an extendedKeyUsage.
void ExpectCa(X509* cert, long path_len, uint32_t key_usage) {  // NOLINT(runtime/int)
  EXPECT_TRUE(pki::IsCa(cert));
  EXPECT_EQ(pki::PathLen(cert), path_len);
  EXPECT_EQ(Critical(cert, NID_basic_constraints), 1);
  EXPECT_EQ(Critical(cert, NID_key_usage), 1);
  EXPECT_EQ(KeyUsage(cert), key_usage);
  EXPECT_EQ(Critical(cert, NID_subject_key_identifier), 0);
  EXPECT_EQ(Critical(cert, NID_ext_key_usage), -1);
}

TEST(ProfilesTest, MeshRootIsASelfSignedCaForOneLevelOfIntermediates) {
  pki::CertificateTemplate t = MeshRoot("acme", "2", kNow, std::chrono::hours(24 * 3650));
  EXPECT_EQ(t.not_before, kNow - kSelfSignedBackdate);
  EXPECT_EQ(t.not_after, kNow + std::chrono::hours(24 * 3650));
  Issued root = Issue(t, nullptr, pki::KeyAlgorithm::kEcdsaP384);
  EXPECT_EQ(pki::SubjectString(root.cert.get()), "CN=acme mesh root CA 2,O=acme");
  EXPECT_EQ(pki::IssuerString(root.cert.get()), pki::SubjectString(root.cert.get()));
  ExpectCa(root.cert.get(), 1, KU_KEY_CERT_SIGN | KU_CRL_SIGN);
  EXPECT_EQ(X509_verify(root.cert.get(), root.key.get()), 1);
  EXPECT_THAT(pki::UriSans(root.cert.get()), IsEmpty());
}

TEST(ProfilesTest, ControlCaSignsOnlyEndEntities) {
  Issued control = Issue(ControlCa("acme", kNow, std::chrono::hours(24)), nullptr);
  EXPECT_EQ(pki::SubjectString(control.cert.get()), "CN=acme control CA,O=acme");
  ExpectCa(control.cert.get(), 0, KU_KEY_CERT_SIGN | KU_CRL_SIGN);
}

TEST(ProfilesTest, ServerIsATlsServerUnderTheControlCa) {
  Issued control = Issue(ControlCa("acme", kNow, std::chrono::hours(24)), nullptr);
  Issued server = Issue(
      Server("acme", {"meshtrust-ca", "ca.example"}, {"10.0.0.1"}, kNow, std::chrono::hours(24)),
      &control);
  X509* c = server.cert.get();
  EXPECT_FALSE(pki::IsCa(c));
  EXPECT_EQ(Critical(c, NID_basic_constraints), 1);
  EXPECT_EQ(KeyUsage(c), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(c), static_cast<uint32_t>(XKU_SSL_SERVER));
  EXPECT_THAT(GeneralNames(c, GEN_DNS), ElementsAre("meshtrust-ca", "ca.example"));
  EXPECT_THAT(GeneralNames(c, GEN_IPADD), ElementsAre(std::string("\x0a\x00\x00\x01", 4)));
  EXPECT_EQ(X509_check_host(c, "ca.example", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(c, "10.0.0.1", 0), 1);
  EXPECT_NE(X509_get0_authority_key_id(c), nullptr);
  EXPECT_THAT(pki::VerifyChain(c, {}, {control.cert.get()}), IsOk());
}

TEST(ProfilesTest, ClusterIntermediateIsWhatIstiodLoadsAsItsSigningCa) {
  Issued root = Issue(MeshRoot("acme", "1", kNow, std::chrono::hours(24 * 365)), nullptr);
  IntermediateInputs in;
  in.organization = "acme";
  in.cluster = "east";
  in.issued_at = ::meshtrust::FromUnixSeconds(1700000000);
  in.not_before = kNow - std::chrono::minutes(5);
  in.not_after = kNow + std::chrono::hours(24);
  pki::CertificateTemplate t = ClusterIntermediate(in);
  EXPECT_EQ(t.not_before, in.not_before);
  EXPECT_EQ(t.not_after, in.not_after);
  Issued intermediate = Issue(t, &root);
  X509* c = intermediate.cert.get();
  EXPECT_EQ(pki::SubjectString(c), "CN=east intermediate CA 1700000000,OU=east,O=acme");
  ExpectCa(c, 0, KU_KEY_CERT_SIGN | KU_CRL_SIGN | KU_DIGITAL_SIGNATURE);
  EXPECT_EQ(Critical(c, NID_name_constraints), -1);
  EXPECT_EQ(Critical(c, NID_crl_distribution_points), -1);
  EXPECT_THAT(pki::UriSans(c), IsEmpty());
  // The authority key identifier is the root's subject key identifier.
  ASSERT_NE(X509_get0_authority_key_id(c), nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(c),
                                  X509_get0_subject_key_id(root.cert.get())),
            0);
  EXPECT_THAT(pki::VerifyChain(c, {}, {root.cert.get()}), IsOk());

  // A workload certificate the intermediate signs chains to the root.
  pki::CertificateTemplate workload;
  workload.subject = {{"O", "acme"}};
  workload.not_before = kNow - std::chrono::minutes(1);
  workload.not_after = kNow + std::chrono::hours(1);
  workload.key_usage = pki::kDigitalSignature;
  workload.uris = {"spiffe://cluster.local/ns/default/sa/web"};
  Issued leaf = Issue(workload, &intermediate);
  EXPECT_THAT(pki::VerifyChain(leaf.cert.get(), {c}, {root.cert.get()}), IsOk());
}

TEST(ProfilesTest, ClusterIntermediateWithNameConstraintsAndACrlDistributionPoint) {
  Issued root = Issue(MeshRoot("acme", "1", kNow, std::chrono::hours(24 * 365)), nullptr);
  IntermediateInputs in;
  in.organization = "acme";
  in.cluster = "east";
  in.issued_at = kNow;
  in.not_before = kNow - std::chrono::minutes(5);
  in.not_after = kNow + std::chrono::hours(24);
  in.permitted_trust_domain = "east.example";
  in.crl_distribution_point = "http://ca.example/crl/mesh-root-1.der";
  Issued intermediate = Issue(ClusterIntermediate(in), &root);
  X509* c = intermediate.cert.get();
  // RFC 5280 4.2.1.10: name constraints are critical.
  EXPECT_EQ(Critical(c, NID_name_constraints), 1);
  EXPECT_EQ(Critical(c, NID_crl_distribution_points), 0);

  auto workload_for = [&](const std::string& uri) {
    pki::CertificateTemplate w;
    w.subject = {{"O", "acme"}};
    w.not_before = kNow - std::chrono::minutes(1);
    w.not_after = kNow + std::chrono::hours(1);
    w.key_usage = pki::kDigitalSignature;
    w.uris = {uri};
    return Issue(w, &intermediate);
  };
  Issued inside = workload_for("spiffe://east.example/ns/a/sa/b");
  EXPECT_THAT(pki::VerifyChain(inside.cert.get(), {c}, {root.cert.get()}), IsOk());
  Issued outside = workload_for("spiffe://west.example/ns/a/sa/b");
  EXPECT_FALSE(pki::VerifyChain(outside.cert.get(), {c}, {root.cert.get()}).ok());
}

TEST(ProfilesTest, IdentitiesAreTlsClientsNamedByTheirUri) {
  Issued control = Issue(ControlCa("acme", kNow, std::chrono::hours(24)), nullptr);
  struct Case {
    EnrollmentSubject subject;
    pki::KeyAlgorithm key;
    uint32_t key_usage;
  };
  for (const Case& k : {
           Case{{CallerKind::kAgent, "east"}, pki::KeyAlgorithm::kEcdsaP256, KU_DIGITAL_SIGNATURE},
           Case{{CallerKind::kOperator, "alice"},
                pki::KeyAlgorithm::kRsa2048,
                KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT},
           Case{{CallerKind::kAuditor, "bob"}, pki::KeyAlgorithm::kEcdsaP384, KU_DIGITAL_SIGNATURE},
       }) {
    SCOPED_TRACE(k.subject.ToString());
    pki::CertificateTemplate t =
        Identity("acme", k.subject, k.key, kNow, kNow + std::chrono::hours(1));
    Issued id = Issue(t, &control, k.key);
    X509* c = id.cert.get();
    EXPECT_FALSE(pki::IsCa(c));
    EXPECT_EQ(pki::SubjectString(c), absl::StrCat("CN=", k.subject.name, ",O=acme"));
    EXPECT_THAT(pki::UriSans(c), ElementsAre(k.subject.ToString()));
    EXPECT_EQ(KeyUsage(c), k.key_usage);
    EXPECT_EQ(X509_get_extended_key_usage(c), static_cast<uint32_t>(XKU_SSL_CLIENT));
    pki::ChainCheck client;
    client.require_client_auth = true;
    EXPECT_THAT(pki::VerifyChain(c, {}, {control.cert.get()}, client), IsOk());
  }
}

TEST(ProfilesTest, EachProfileIsAFunctionOfItsInputs) {
  auto same = [](const pki::CertificateTemplate& a, const pki::CertificateTemplate& b) {
    auto names = [](const pki::CertificateTemplate& t) {
      std::string s;
      for (const auto& e : t.subject) s += e.field + "=" + e.value + ";";
      return s;
    };
    return names(a) == names(b) && a.not_before == b.not_before && a.not_after == b.not_after &&
           a.is_ca == b.is_ca && a.path_len == b.path_len && a.key_usage == b.key_usage &&
           a.extended_key_usage == b.extended_key_usage && a.dns_names == b.dns_names &&
           a.ip_addresses == b.ip_addresses && a.uris == b.uris &&
           a.permitted_uri_domains == b.permitted_uri_domains &&
           a.crl_distribution_point == b.crl_distribution_point;
  };
  EXPECT_TRUE(same(MeshRoot("o", "1", kNow, std::chrono::hours(1)),
                   MeshRoot("o", "1", kNow, std::chrono::hours(1))));
  EXPECT_FALSE(same(MeshRoot("o", "1", kNow, std::chrono::hours(1)),
                    MeshRoot("o", "2", kNow, std::chrono::hours(1))));
  IntermediateInputs in{"o", "c", kNow, kNow, kNow + std::chrono::hours(1), "", ""};
  EXPECT_TRUE(same(ClusterIntermediate(in), ClusterIntermediate(in)));
  IntermediateInputs other = in;
  other.cluster = "d";
  EXPECT_FALSE(same(ClusterIntermediate(in), ClusterIntermediate(other)));
}

}  // namespace
}  // namespace meshtrust::ca::profiles
