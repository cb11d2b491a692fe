// istiod's acceptance rules for cacerts, one by one, on sets built here.
#include "pki/istiod_acceptance.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_replace.h"
#include "pki/crl.h"
#include "pki/key.h"
#include "pki/pem.h"
#include "tests/testing/status_matchers.h"

namespace meshtrust::pki {
namespace {

using ::meshtrust::testing::StatusIs;
using ::testing::HasSubstr;

struct Ca {
  ossl::UniquePtr<X509> cert;
  ossl::UniquePtr<EVP_PKEY> key;
  std::string pem() const { return CertificatePem(cert.get()); }
  std::string Crl(TimePoint now) const {
    CrlTemplate t;
    t.number = 1;
    t.this_update = now - std::chrono::minutes(5);
    t.next_update = now + std::chrono::hours(24);
    return CrlPem(IssueCrl(t, cert.get(), key.get())->get());
  }
};

Ca MakeRoot(TimePoint now, const std::string& name) {
  Ca ca;
  ca.key = *GenerateKey(KeyAlgorithm::kEcdsaP256);
  CertificateTemplate t;
  t.subject = {{"O", "test"}, {"CN", name}};
  t.not_before = now - std::chrono::minutes(5);
  t.not_after = now + std::chrono::hours(24 * 365);
  t.is_ca = true;
  t.key_usage = kKeyCertSign | kCrlSign;
  ca.cert = *IssueCertificate(t, ca.key.get(), nullptr, ca.key.get());
  return ca;
}

struct IntermediateShape {
  std::vector<ExtendedKeyUsage> eku;
  uint32_t key_usage = kKeyCertSign | kCrlSign | kDigitalSignature;
  std::chrono::hours lifetime{24};
};
IntermediateShape WithEku(std::vector<ExtendedKeyUsage> eku) {
  IntermediateShape s;
  s.eku = std::move(eku);
  return s;
}
IntermediateShape WithKeyUsage(uint32_t key_usage) {
  IntermediateShape s;
  s.key_usage = key_usage;
  return s;
}
IntermediateShape WithLifetime(std::chrono::hours lifetime) {
  IntermediateShape s;
  s.lifetime = lifetime;
  return s;
}

Ca MakeIntermediate(const Ca& root, TimePoint now, const IntermediateShape& shape = {}) {
  Ca ca;
  ca.key = *GenerateKey(KeyAlgorithm::kEcdsaP256);
  CertificateTemplate t;
  t.subject = {{"O", "test"}, {"OU", "cluster1"}, {"CN", "cluster1 intermediate CA"}};
  t.not_before = now - std::chrono::hours(2);
  t.not_after = t.not_before + shape.lifetime;
  t.is_ca = true;
  t.path_len = 0;
  t.key_usage = shape.key_usage;
  t.extended_key_usage = shape.eku;
  ca.cert = *IssueCertificate(t, ca.key.get(), root.cert.get(), root.key.get());
  return ca;
}

class IstiodAcceptanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    now_ = Clock::now();
    root_ = MakeRoot(now_, "root A");
    intermediate_ = MakeIntermediate(root_, now_);
    Use(intermediate_);
    chain_ = intermediate_.pem() + root_.pem();
    roots_ = root_.pem();
    crls_ = intermediate_.Crl(now_) + root_.Crl(now_);
  }
  void Use(const Ca& intermediate) {
    cert_ = intermediate.pem();
    key_ = *PrivateKeyToPkcs8Pem(intermediate.key.get());
  }
  std::optional<IstiodRefusal> Check() {
    IstiodCaFiles files;
    files.ca_cert_pem = cert_;
    files.ca_key_pem = &key_;
    files.cert_chain_pem = chain_;
    files.root_cert_pem = roots_;
    files.ca_crl_pem = crls_;
    return CheckIstiodAcceptsCaFiles(files, now_);
  }
  // The rule name of the refusal, or "accepted".
  std::string Verdict() {
    std::optional<IstiodRefusal> r = Check();
    return r.has_value() ? std::string(IstiodRuleName(r->rule)) : "accepted";
  }

  TimePoint now_;
  Ca root_, intermediate_;
  std::string cert_, chain_, roots_, crls_;
  SecretBytes key_;
};

TEST_F(IstiodAcceptanceTest, AcceptsAWellFormedSet) {
  EXPECT_EQ(Verdict(), "accepted");
  // istiod checks no CRL when ca-crl.pem is empty.
  crls_.clear();
  EXPECT_EQ(Verdict(), "accepted");
}

TEST_F(IstiodAcceptanceTest, RefusesACertificateThatDoesNotVerifyToTheRoots) {
  Ca other = MakeRoot(now_, "root B");
  roots_ = other.pem();
  EXPECT_EQ(Verdict(), "chain");
  EXPECT_THAT(Check()->Message(),
              HasSubstr("istiod would refuse this cacerts (rule chain): ca-cert.pem does not "
                        "verify through cert-chain.pem to root-cert.pem"));
}

TEST_F(IstiodAcceptanceTest, RefusesAChainMissingTheIntermediateIssuer) {
  Ca other = MakeRoot(now_, "root B");
  Ca foreign = MakeIntermediate(other, now_);
  Use(foreign);  // Signed by root B, which neither chain nor bundle holds.
  chain_ = foreign.pem() + root_.pem();
  EXPECT_EQ(Verdict(), "chain");
}

TEST_F(IstiodAcceptanceTest, RefusesAnExpiredIntermediate) {
  Ca expired = MakeIntermediate(root_, now_, WithLifetime(std::chrono::hours(1)));
  Use(expired);
  chain_ = expired.pem() + root_.pem();
  crls_ = expired.Crl(now_) + root_.Crl(now_);
  EXPECT_EQ(Verdict(), "chain");
}

TEST_F(IstiodAcceptanceTest, RefusesAnExtendedKeyUsageWithoutServerAuth) {
  Ca client_only = MakeIntermediate(root_, now_, WithEku({ExtendedKeyUsage::kClientAuth}));
  Use(client_only);
  chain_ = client_only.pem() + root_.pem();
  crls_ = client_only.Crl(now_) + root_.Crl(now_);
  EXPECT_EQ(Verdict(), "chain");
  EXPECT_THAT(Check()->detail, HasSubstr("extendedKeyUsage without serverAuth"));
  // serverAuth passes Go's default key usage check.
  Ca server = MakeIntermediate(
      root_, now_, WithEku({ExtendedKeyUsage::kServerAuth, ExtendedKeyUsage::kClientAuth}));
  Use(server);
  chain_ = server.pem() + root_.pem();
  crls_ = server.Crl(now_) + root_.Crl(now_);
  EXPECT_EQ(Verdict(), "accepted");
}

TEST_F(IstiodAcceptanceTest, RefusesUnreadableCertificateFiles) {
  std::string good_cert = cert_;
  cert_ = "not a certificate";
  EXPECT_EQ(Verdict(), "chain");
  cert_ = good_cert + good_cert;  // Two blocks where istiod reads one.
  EXPECT_EQ(Verdict(), "chain");
  cert_ = good_cert;
  roots_ = "";
  EXPECT_EQ(Verdict(), "chain");
  roots_ = root_.pem();
  chain_ = "garbage";
  EXPECT_EQ(Verdict(), "chain");
}

TEST_F(IstiodAcceptanceTest, RefusesAKeyThatIsNotAPrivateKey) {
  key_ = SecretBytes::CopyOf("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  EXPECT_EQ(Verdict(), "key");
  key_ = SecretBytes();
  EXPECT_EQ(Verdict(), "key");
  EXPECT_THAT(Check()->Message(), HasSubstr("ca-key.pem is empty"));
}

TEST_F(IstiodAcceptanceTest, RefusesAKeyThatIsNotTheCertificates) {
  key_ = *PrivateKeyToPkcs8Pem(root_.key.get());
  EXPECT_EQ(Verdict(), "key_mismatch");
  std::string message = Check()->Message();
  EXPECT_THAT(message, HasSubstr("ca-key.pem is not the key of ca-cert.pem"));
  // The refusal never carries key bytes.
  EXPECT_THAT(message, ::testing::Not(HasSubstr("PRIVATE KEY")));
}

TEST_F(IstiodAcceptanceTest, RefusesACrlBlockThatDoesNotParse) {
  std::string good = crls_;
  crls_ = good + EncodePem("not a CRL", "X509 CRL");
  EXPECT_EQ(Verdict(), "crl_parse");
  EXPECT_THAT(Check()->detail, HasSubstr("block 3 of ca-crl.pem"));
  // Any label is parsed as a CRL by istiod: a certificate fails too.
  crls_ = good + root_.pem();
  EXPECT_EQ(Verdict(), "crl_parse");
  crls_ = "junk";
  EXPECT_EQ(Verdict(), "crl_parse");
}

TEST_F(IstiodAcceptanceTest, RefusesACrlSetWithoutACrlFromEveryChainCertificate) {
  crls_ = intermediate_.Crl(now_);  // No root CRL.
  EXPECT_EQ(Verdict(), "crl_missing");
  EXPECT_THAT(Check()->detail,
              HasSubstr("missing CRL signed by certificates: \"CN=root A,O=test\""));
  crls_ = root_.Crl(now_);  // No intermediate CRL.
  EXPECT_EQ(Verdict(), "crl_missing");
  // A CRL from another root with the same name is not the root's.
  Ca impostor = MakeRoot(now_, "root A");
  crls_ = intermediate_.Crl(now_) + impostor.Crl(now_);
  EXPECT_EQ(Verdict(), "crl_missing");
  // Order does not matter, and further CRLs are allowed.
  Ca other = MakeRoot(now_, "root B");
  crls_ = other.Crl(now_) + root_.Crl(now_) + intermediate_.Crl(now_);
  EXPECT_EQ(Verdict(), "accepted");
}

TEST_F(IstiodAcceptanceTest, AChainCertificateWithoutCrlSignCannotSignItsCrl) {
  Ca no_crl_sign = MakeIntermediate(root_, now_, WithKeyUsage(kKeyCertSign | kDigitalSignature));
  Use(no_crl_sign);
  chain_ = no_crl_sign.pem() + root_.pem();
  crls_ = no_crl_sign.Crl(now_) + root_.Crl(now_);
  EXPECT_EQ(Verdict(), "crl_missing");
}

TEST(IstiodRootBundleTest, TheByteRuleNeedsTheOldFileUnchanged) {
  TimePoint now = Clock::now();
  std::string a = MakeRoot(now, "A").pem(), b = MakeRoot(now, "B").pem();
  auto verdict = [](const std::string& installed, const std::string& next, RootBundleRule rule) {
    std::optional<IstiodRefusal> r = CheckIstiodAcceptsRootChange(installed, next, rule);
    return r.has_value() ? std::string(IstiodRuleName(r->rule)) : "accepted";
  };
  for (RootBundleRule rule : {RootBundleRule::kBytes, RootBundleRule::kCertificateSet}) {
    EXPECT_EQ(verdict(a, a, rule), "accepted");
    EXPECT_EQ(verdict("", a, rule), "accepted");     // Nothing installed.
    EXPECT_EQ(verdict(a, a + b, rule), "accepted");  // A root appended.
    EXPECT_EQ(verdict(a + b, b, rule), "accepted");  // The old root retired.
    EXPECT_EQ(verdict(a, b, rule), "root_bundle");   // Replaced outright.
  }
  // Reordered, or re-encoded: the same certificates, other bytes.
  EXPECT_EQ(verdict(a + b, b + a, RootBundleRule::kBytes), "root_bundle");
  EXPECT_EQ(verdict(a + b, b + a, RootBundleRule::kCertificateSet), "accepted");
  std::string a_crlf = absl::StrReplaceAll(a, {{"\n", "\r\n"}});
  EXPECT_EQ(verdict(a, a_crlf + b, RootBundleRule::kBytes), "root_bundle");
  EXPECT_EQ(verdict(a, a_crlf + b, RootBundleRule::kCertificateSet), "accepted");
  EXPECT_THAT(CheckIstiodAcceptsRootChange(a + b, b + a, RootBundleRule::kBytes)->Message(),
              HasSubstr("istiod would refuse this cacerts (rule root_bundle)"));
  // A bundle with no certificate is never a subset.
  EXPECT_EQ(verdict(a, "junk", RootBundleRule::kCertificateSet), "root_bundle");
}

TEST(IstiodRootBundleTest, TheIstioVersionChoosesTheRule) {
  EXPECT_EQ(*RootBundleRuleForIstioVersion("any"), RootBundleRule::kBytes);
  EXPECT_EQ(*RootBundleRuleForIstioVersion("1.20"), RootBundleRule::kBytes);
  EXPECT_EQ(*RootBundleRuleForIstioVersion("1.30.4"), RootBundleRule::kBytes);
  EXPECT_EQ(*RootBundleRuleForIstioVersion("1.31"), RootBundleRule::kCertificateSet);
  EXPECT_EQ(*RootBundleRuleForIstioVersion("v1.32.0"), RootBundleRule::kCertificateSet);
  for (const char* bad : {"", "1", "2.0", "1.x", "1.31.", "latest", "1.-1", "1.31.0.1"}) {
    EXPECT_THAT(RootBundleRuleForIstioVersion(bad),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not \"any\" or a 1.x")))
        << bad;
  }
}

}  // namespace
}  // namespace meshtrust::pki
