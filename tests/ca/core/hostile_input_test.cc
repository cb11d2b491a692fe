// The bad-input suite at the Authority: CSRs, identities and join tokens an
// attacker would send. Every case asserts the exact refusal, that the
// refusal is in the audit log, and that nothing else changed: no certificate
// issued, no cluster state touched, no token consumed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "ca/core/authority.h"
#include "pki/certificate.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/pem.h"
#include "tests/testing/hostile_inputs.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::ca {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

std::string GoodCsr() {
  auto key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  return *pki::BuildCsrDer(key.get(), "");
}

// What a refused request must leave as it was.
struct Snapshot {
  std::vector<std::string> serials;   // Every certificate the CA issued.
  std::vector<std::string> clusters;  // name/enabled/current serial/acked serial.
  uint64_t head = 0;
  bool operator==(const Snapshot&) const = default;
};

class HostileInputTest : public testing::LocalCaTest {
 protected:
  Snapshot Take() {
    Snapshot s;
    auto certificates = ca_->store()->ListCertificates({"", "", 100000});
    auto clusters = ca_->store()->ListClusters();
    EXPECT_THAT(certificates, IsOk());
    EXPECT_THAT(clusters, IsOk());
    for (const auto& c : *certificates) s.serials.push_back(c.serial);
    for (const auto& c : *clusters) {
      s.clusters.push_back(
          absl::StrCat(c.name, "/", c.enabled, "/", c.current_serial, "/", c.acked_serial));
    }
    s.head = ca_->store()->Head().sequence;
    return s;
  }

  // `call` must be refused with `code` and `fragment`, audited as `action`,
  // and change nothing but append that one audit record.
  template <typename Call>
  void ExpectRefused(const std::string& what, Call call, absl::StatusCode code,
                     const std::string& fragment, const std::string& action) {
    SCOPED_TRACE(what);
    Snapshot before = Take();
    auto result = call();
    EXPECT_THAT(result, StatusIs(code, HasSubstr(fragment)));
    Snapshot after = Take();
    EXPECT_EQ(after.serials, before.serials) << "a refused request issued a certificate";
    EXPECT_EQ(after.clusters, before.clusters) << "a refused request changed a cluster";
    ASSERT_EQ(after.head, before.head + 1) << "the refusal must be one audit record";
    auto last = *ca_->store()->ReadAudit(after.head - 1, 1);
    ASSERT_EQ(last.size(), 1u);
    EXPECT_EQ(last[0].event.action, action);
    EXPECT_THAT(last[0].event.result, StartsWith("refused: " + absl::StatusCodeToString(code)));
    EXPECT_EQ(last[0].event.serial, "");
    ++cases_;
  }

  auto Sign(const std::string& csr) {
    return [this, csr] {
      return ca_->authority()->SignIntermediate(agent1_, "cluster1", csr, std::chrono::seconds(0));
    };
  }

  int cases_ = 0;
};

TEST_F(HostileInputTest, MalformedCsrEncodings) {
  std::string der = GoodCsr();
  std::string pem = pki::EncodePem(der, "CERTIFICATE REQUEST");
  auto p256 = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  struct Case {
    std::string name, csr, fragment;
  } cases[] = {
      {"empty", "", "CSR is empty"},
      {"truncated DER", der.substr(0, der.size() - 10), "not valid PKCS#10 DER"},
      {"trailing bytes", der + std::string(3, '\0'), "3 trailing bytes"},
      {"two PEM blocks", pem + pem,
       "expected exactly one PEM block \"CERTIFICATE REQUEST\", found 2"},
      {"a certificate, not a CSR", pki::EncodePem(der, "CERTIFICATE"),
       "expected a PEM block \"CERTIFICATE REQUEST\", found \"CERTIFICATE\""},
      {"PEM with headers",
       "-----BEGIN CERTIFICATE REQUEST-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n"
       "-----END CERTIFICATE REQUEST-----\n",
       "has headers"},
      {"text before PEM", "subject=evil\n" + pem, "does not start with a -----BEGIN line"},
      {"1 MiB", std::string(1 << 20, '\x30'), "CSR is 1048576 bytes; the limit is 16384"},
      {"deeply nested ASN.1", testing::DeeplyNestedDer(3000), "not valid PKCS#10 DER"},
      {"not ASN.1 at all", "\xff\xfe garbage", "not valid PKCS#10 DER"},
      {"bad signature", testing::FlipLastBit(der), "CSR signature does not verify"},
      {"signed by another key",
       testing::CsrSignedByOtherKey(p256.get(),
                                    (*pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256)).get()),
       "CSR signature does not verify"},
  };
  for (const Case& c : cases) {
    ExpectRefused(c.name, Sign(c.csr), kInvalid, c.fragment, "SignIntermediate");
  }
  EXPECT_EQ(cases_, 12);
}

TEST_F(HostileInputTest, KeysAreCheckedBeforeTheSignature) {
  auto signer = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  // RSA-16384 (the largest modulus OpenSSL decodes) and a 1001-bit public
  // exponent would make verification slow; both are refused on the key alone,
  // before the (here bogus) signature is looked at.
  auto huge = testing::RsaPublicKey(16384);
  ExpectRefused("RSA-16384", Sign(testing::CsrSignedByOtherKey(huge.get(), signer.get())), kInvalid,
                "CSR key is RSA-16384; only RSA-2048, RSA-3072 and RSA-4096 are accepted",
                "SignIntermediate");
  auto big_exponent = testing::RsaPublicKey(2048, 1000);
  ExpectRefused("RSA with a 1001-bit exponent",
                Sign(testing::CsrSignedByOtherKey(big_exponent.get(), signer.get())), kInvalid,
                "RSA key has a 1001-bit public exponent; only 65537 is accepted",
                "SignIntermediate");
  auto tiny = testing::RsaPublicKey(2048, 1);  // e = 3
  ExpectRefused("RSA e=3", Sign(testing::CsrSignedByOtherKey(tiny.get(), signer.get())), kInvalid,
                "RSA key has public exponent 3", "SignIntermediate");
  auto rsa1024 = testing::RsaPublicKey(1024);
  ExpectRefused("RSA-1024", Sign(testing::CsrSignedByOtherKey(rsa1024.get(), signer.get())),
                kInvalid, "CSR key is RSA-1024", "SignIntermediate");
  auto ed25519 = ossl::UniquePtr<EVP_PKEY>(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  ExpectRefused("Ed25519", Sign(testing::CsrWithSubject(ed25519.get(), {{"CN", "x"}})), kInvalid,
                "only ECDSA (P-256, P-384) and RSA are accepted", "SignIntermediate");
}

TEST_F(HostileInputTest, CsrSubjectNeverReachesTheCertificate) {
  // A cluster1 CSR whose subject imitates the intermediate of a cluster not
  // (yet) registered, with tricks in the values: the certificate is built
  // from the template alone. (Naming a registered cluster is refused:
  // CsrSubjectNamingAnotherClusterIsRefused.)
  auto key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  std::string csr = testing::CsrWithSubject(
      key.get(),
      {{"O", "meshtrust"}, {"OU", "cluster7"}, {"CN", "cluster7 intermediate CA 1,OU=cluster7"}});
  ASSERT_OK_AND_ASSIGN(IssuedIntermediate issued, Sign(csr)());
  auto cert = *pki::ParseCertificatePem(issued.certificate_pem);
  std::string subject = pki::SubjectString(cert.get());
  EXPECT_THAT(subject, StartsWith("CN=cluster1 intermediate CA "));
  EXPECT_THAT(subject, ::testing::EndsWith(",OU=cluster1,O=meshtrust"));
  EXPECT_THAT(subject, ::testing::Not(HasSubstr("cluster7")));
}

// Each class of CSR the CA does not sign, refused with its own message both
// as an intermediate CSR and as an enrollment CSR, with nothing issued and
// the refusal audited; a valid CSR still passes both afterwards.
TEST_F(HostileInputTest, CsrHygiene) {
  auto p256 = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  auto rsa = testing::RsaKey(2048);
  auto compressed = testing::EcKeyOnCurve("P-256");
  std::string good = testing::CsrWithSubject(p256.get(), {{"CN", "attacker"}});
  const std::string long_oid = "1.3.6.1.4.1.99999." + std::string(150, '7');
  struct Case {
    std::string name, csr, fragment;
  } cases[] = {
      {"MD5", testing::CsrSignedWith(rsa.get(), EVP_md5()),
       "CSR is signed with md5WithRSAEncryption; only SHA-256 or stronger is accepted"},
      {"SHA-1 RSA", testing::CsrSignedWith(rsa.get(), EVP_sha1()),
       "CSR is signed with sha1WithRSAEncryption; only SHA-256 or stronger is accepted"},
      {"SHA-1 ECDSA", testing::CsrSignedWith(p256.get(), EVP_sha1()),
       "CSR is signed with ecdsa-with-SHA1; only SHA-256 or stronger is accepted"},
      {"compressed EC point", testing::CsrWithCompressedKey(compressed.get()),
       "CSR public key is a compressed EC point; send it uncompressed"},
      {"non-minimal outer length", testing::WithNonMinimalOuterLength(good),
       "CSR is not DER (BER encoding: indefinite length or non-minimal length octets)"},
      {"indefinite outer length", testing::WithIndefiniteOuterLength(good),
       "CSR is not DER (BER encoding: indefinite length or non-minimal length octets)"},
      {"BER inside the signed part", testing::CsrWithBerInSignedPart(p256.get()),
       "CSR is not DER (BER encoding: indefinite length or non-minimal length octets)"},
      {"version 3", testing::CsrWithVersion(p256.get(), 3),
       "CSR version is 3; only version 1 (0) exists"},
      {"version 1 (v2)", testing::CsrWithVersion(p256.get(), 1),
       "CSR version is 1; only version 1 (0) exists"},
      {"NUL in CN",
       testing::CsrWithRawSubject(p256.get(), {{"CN", std::string("cluster2\0cluster1", 17)}},
                                  V_ASN1_UTF8STRING),
       "CSR subject has a NUL byte (in CN); send an empty subject"},
      {"NUL in OU",
       testing::CsrWithRawSubject(p256.get(), {{"OU", std::string("a\0b", 3)}}, V_ASN1_UTF8STRING),
       "CSR subject has a NUL byte (in OU); send an empty subject"},
      {"65-byte CN",
       testing::CsrWithRawSubject(p256.get(), {{"CN", std::string(65, 'a')}}, V_ASN1_UTF8STRING),
       "CSR subject CN is 65 bytes; the limit is 64 (RFC 5280 ub-common-name)"},
      {"4 KiB CN",
       testing::CsrWithRawSubject(p256.get(), {{"CN", std::string(4096, 'a')}}, V_ASN1_UTF8STRING),
       "CSR subject is 4117 bytes; the limit is 1024; send an empty subject"},
      {"PrintableString with '*'",
       testing::CsrWithRawSubject(p256.get(), {{"O", "evil*corp"}}, V_ASN1_PRINTABLESTRING),
       "CSR subject O is a PrintableString holding a character a PrintableString may not"},
      {"PrintableString with '@'",
       testing::CsrWithRawSubject(p256.get(), {{"CN", "a@b"}}, V_ASN1_PRINTABLESTRING),
       "CSR subject CN is a PrintableString holding a character a PrintableString may not"},
      {"unnamed attribute", testing::CsrWithAttribute(p256.get(), "1.3.6.1.4.1.99999.7"),
       "CSR carries attributes (1.3.6.1.4.1.99999.7); send a CSR without attributes"},
      {"unnamed attribute with a long OID", testing::CsrWithAttribute(p256.get(), long_oid),
       "CSR carries attributes (" + long_oid + "); send a CSR without attributes"},
  };
  for (const Case& c : cases) {
    ExpectRefused(c.name, Sign(c.csr), kInvalid, c.fragment, "SignIntermediate");
  }
  NewJoinToken token = *ca_->authority()->CreateJoinToken(ca_->LocalOperator(), "cluster2",
                                                          std::chrono::minutes(10));
  for (const Case& c : cases) {
    ExpectRefused(
        c.name + " (Enroll)",
        [&] { return ca_->authority()->Enroll(token.token, c.csr, "10.0.0.9"); }, kInvalid,
        c.fragment, "Enroll");
  }
  EXPECT_EQ(cases_, 2 * static_cast<int>(std::size(cases)));
  // A valid CSR with a plain subject still passes both, and the refusals
  // did not spend the token.
  EXPECT_THAT(Sign(good)(), IsOk());
  EXPECT_THAT(ca_->authority()->Enroll(token.token, good, "10.0.0.9"), IsOk());
}

// The CA writes its own subject, but a CSR whose subject names another
// cluster is misleading and refused (and audited), for every call that
// takes a CSR.
TEST_F(HostileInputTest, CsrSubjectNamingAnotherClusterIsRefused) {
  auto key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  auto csr = [&](std::vector<std::pair<std::string, std::string>> subject) {
    return testing::CsrWithRawSubject(key.get(), subject, V_ASN1_UTF8STRING);
  };
  const std::string other =
      "names cluster \"cluster2\", but the caller is cluster \"cluster1\"; send an empty subject";
  ExpectRefused("OU of another cluster", Sign(csr({{"OU", "cluster2"}})), kInvalid,
                "CSR subject OU " + other, "SignIntermediate");
  ExpectRefused("CN in the CA's own form", Sign(csr({{"CN", "cluster2 intermediate CA 1"}})),
                kInvalid, "CSR subject CN " + other, "SignIntermediate");
  ExpectRefused("CN holding an identity",
                Sign(csr({{"CN", "spiffe://meshtrust/cluster/cluster2"}})), kInvalid,
                "CSR subject CN " + other, "SignIntermediate");
  ExpectRefused(
      "renewal naming another cluster",
      [&] {
        return ca_->authority()->RenewIdentity(agent1_, csr({{"CN", "cluster2"}}));
      },
      kInvalid, "CSR subject CN " + other, "RenewIdentity");
  NewJoinToken token = *ca_->authority()->CreateJoinToken(ca_->LocalOperator(), "cluster2",
                                                          std::chrono::minutes(10));
  ExpectRefused(
      "enrollment naming another cluster",
      [&] {
        return ca_->authority()->Enroll(token.token, csr({{"CN", "cluster1"}}), "10.0.0.9");
      },
      kInvalid, "CSR subject CN names cluster \"cluster1\", but the caller is cluster \"cluster2\"",
      "Enroll");
  // Its own name, or a name that is no cluster, passes; the refusal above
  // did not spend the token.
  EXPECT_THAT(Sign(csr({{"OU", "cluster1"}, {"CN", "cluster1 intermediate CA 1"}}))(), IsOk());
  EXPECT_THAT(Sign(csr({{"CN", "cluster9"}}))(), IsOk());
  EXPECT_THAT(ca_->authority()->Enroll(token.token, csr({{"CN", "cluster2"}}), "10.0.0.9"), IsOk());
}

TEST_F(HostileInputTest, CsrsAskingForMoreThanAnIntermediate) {
  auto key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  const std::vector<std::pair<std::string, std::string>> requests[] = {
      {{"basicConstraints", "critical,CA:TRUE,pathlen:5"}},
      {{"nameConstraints", "critical,permitted;URI:.evil.example"}},
      {{"certificatePolicies", "DER:30:06:30:04:06:02:2A:03"}},
      {{"subjectAltName", "URI:spiffe://cluster.local/ns/istio-system/sa/istiod"}},
      {{"keyUsage", "critical,keyCertSign,cRLSign,digitalSignature"}},  // Even a harmless one.
      {{"crlDistributionPoints", "URI:http://evil.example/crl"}},
  };
  for (const auto& request : requests) {
    ExpectRefused(request[0].first, Sign(testing::CsrWithExtensions(key.get(), request)), kInvalid,
                  "CSR requests extensions (" + request[0].first, "SignIntermediate");
  }
  for (const std::string& uri : {std::string("spiffe://cluster.local\0.evil/x", 30),
                                 std::string("spiffe://fe80::1%25eth0/x"),
                                 std::string("spiffe://[::1]/ns/x"), std::string("\0", 1)}) {
    ExpectRefused(absl::CHexEscape(uri), Sign(testing::CsrWithRawUriSan(key.get(), uri)), kInvalid,
                  "CSR requests extensions (subjectAltName)", "SignIntermediate");
  }
}

TEST_F(HostileInputTest, IdentityCsrsAreHeldToTheSameRules) {
  auto signer = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  auto huge = testing::RsaPublicKey(16384);
  auto renew = [&](const std::string& csr) {
    return [this, csr] { return ca_->authority()->RenewIdentity(agent1_, csr); };
  };
  ExpectRefused("renew with RSA-16384",
                renew(testing::CsrSignedByOtherKey(huge.get(), signer.get())), kInvalid,
                "CSR key is RSA-16384", "RenewIdentity");
  ExpectRefused("renew asking for another identity",
                renew(testing::CsrWithExtensions(
                    signer.get(), {{"subjectAltName", "URI:spiffe://meshtrust/cluster/cluster2"}})),
                kInvalid, "CSR requests extensions (subjectAltName)", "RenewIdentity");
  ExpectRefused("renew with garbage", renew("garbage"), kInvalid, "not valid PKCS#10",
                "RenewIdentity");
}

TEST_F(HostileInputTest, JoinTokens) {
  auto enroll = [this](const std::string& token, const std::string& source) {
    return [this, token, source] { return ca_->authority()->Enroll(token, GoodCsr(), source); };
  };
  constexpr absl::StatusCode kUnauth = absl::StatusCode::kUnauthenticated;
  std::string valid_shape = "mtj1." + std::string(43, 'A');
  ExpectRefused("malformed", enroll("mtj1.short", "10.0.0.9"), kInvalid, "join token is malformed",
                "Enroll");
  ExpectRefused("bad character", enroll("mtj1." + std::string(42, 'A') + "/", "10.0.0.9"), kInvalid,
                "invalid character", "Enroll");
  ExpectRefused("NUL inside", enroll("mtj1." + std::string(42, 'A') + '\0', "10.0.0.9"), kInvalid,
                "invalid character", "Enroll");
  ExpectRefused("unknown", enroll(valid_shape, "10.0.0.9"), kUnauth, "join token is not valid",
                "Enroll");

  NewJoinToken expired =
      *ca_->authority()->CreateJoinToken(ca_->LocalOperator(), "cluster2", std::chrono::minutes(1));
  clock_.Advance(std::chrono::minutes(2));
  ExpectRefused("expired", enroll(expired.token, "10.0.0.9"), kUnauth, "join token has expired",
                "Enroll");

  NewJoinToken once = *ca_->authority()->CreateJoinToken(ca_->LocalOperator(), "cluster2",
                                                         std::chrono::minutes(10));
  ASSERT_THAT(enroll(once.token, "10.0.0.9")(), IsOk());
  ExpectRefused("already used", enroll(once.token, "10.0.0.9"), kUnauth, "already used", "Enroll");

  // The token decides the identity: a cluster2 token never yields cluster1,
  // and an agent that says which identity it expects does not spend another
  // cluster's token.
  NewJoinToken c2 = *ca_->authority()->CreateJoinToken(ca_->LocalOperator(), "cluster2",
                                                       std::chrono::minutes(10));
  ExpectRefused(
      "another cluster's token",
      [&] {
        return ca_->authority()->Enroll(c2.token, GoodCsr(), "10.0.0.9",
                                        "spiffe://meshtrust/cluster/cluster1");
      },
      absl::StatusCode::kPermissionDenied,
      "this join token enrolls spiffe://meshtrust/cluster/cluster2, not "
      "spiffe://meshtrust/cluster/cluster1; it belongs to another cluster (the token was not used)",
      "Enroll");
  ASSERT_OK_AND_ASSIGN(IssuedIdentity id, enroll(c2.token, "10.0.0.9")());
  EXPECT_EQ(id.identity, "spiffe://meshtrust/cluster/cluster2");

  // The audit record names where an anonymous enrollment came from.
  auto last = *ca_->store()->ReadAudit(ca_->store()->Head().sequence - 1, 1);
  EXPECT_EQ(last[0].event.caller, "anonymous from 10.0.0.9");
}

TEST_F(HostileInputTest, TokenGuessingIsThrottledPerSource) {
  NewJoinToken real =
      *ca_->authority()->CreateJoinToken(ca_->LocalOperator(), "cluster2", std::chrono::hours(1));
  const std::string attacker = "203.0.113.7";
  auto guess = [&](int i) {
    std::string token = "mtj1." + std::string(42, 'A') + static_cast<char>('A' + i % 26);
    return ca_->authority()->Enroll(token, GoodCsr(), attacker);
  };
  EnrollLimits limits;  // The defaults the CA runs with.
  for (int i = 0; i < limits.burst; ++i) {
    EXPECT_THAT(guess(i), StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("not valid")));
  }
  uint64_t head = ca_->store()->Head().sequence;
  EXPECT_THAT(guess(99), StatusIs(absl::StatusCode::kResourceExhausted,
                                  HasSubstr("too many invalid join tokens from 203.0.113.7; "
                                            "try again in 10s")));
  // The first refusal is audited; the flood after it is not, so guessing
  // cannot fill the audit log.
  EXPECT_EQ(ca_->store()->Head().sequence, head + 1);
  for (int i = 0; i < 50; ++i) {
    EXPECT_THAT(guess(i), StatusIs(absl::StatusCode::kResourceExhausted, ::testing::_));
  }
  EXPECT_EQ(ca_->authority()->ThrottledEnrollSources(), 1u);  // The metric operators alert on.
  EXPECT_EQ(ca_->store()->Head().sequence, head + 1);
  auto last = *ca_->store()->ReadAudit(head, 1);
  EXPECT_THAT(last[0].event.result, HasSubstr("RESOURCE_EXHAUSTED: too many invalid join tokens"));

  // While throttled, even the real token is not looked at, and so not spent.
  EXPECT_THAT(ca_->authority()->Enroll(real.token, GoodCsr(), attacker),
              StatusIs(absl::StatusCode::kResourceExhausted, ::testing::_));
  // Other sources are not affected.
  NewJoinToken other =
      *ca_->authority()->CreateJoinToken(ca_->LocalOperator(), "cluster1", std::chrono::hours(1));
  EXPECT_THAT(ca_->authority()->Enroll(other.token, GoodCsr(), "198.51.100.1"), IsOk());
  // Time refills the bucket, and the real token still works afterwards.
  clock_.Advance(limits.refill_every);
  ASSERT_OK_AND_ASSIGN(IssuedIdentity id,
                       ca_->authority()->Enroll(real.token, GoodCsr(), attacker));
  EXPECT_EQ(id.identity, "spiffe://meshtrust/cluster/cluster2");
}

TEST(EnrollLimiterTest, BoundsItsMemoryAndKeepsTheLatestSources) {
  EnrollLimits limits;
  limits.max_sources = 100;
  EnrollLimiter limiter(limits);
  TimePoint start = std::chrono::system_clock::now();
  TimePoint now = start;
  for (int i = 0; i < 10000; ++i) {
    now = start + std::chrono::milliseconds(i);
    limiter.RecordGuess(absl::StrCat("198.51.100.", i), now);
  }
  EXPECT_EQ(limiter.TrackedSources(), 100u);
  // The latest source kept its count: burst - 1 more guesses empty it.
  for (int i = 1; i < limits.burst; ++i) limiter.RecordGuess("198.51.100.9999", now);
  bool first = false;
  EXPECT_THAT(limiter.Check("198.51.100.9999", now, &first),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("try again in 10s")));
  EXPECT_TRUE(first);
  EXPECT_THAT(limiter.Check("198.51.100.9999", now, &first),
              StatusIs(absl::StatusCode::kResourceExhausted, ::testing::_));
  EXPECT_FALSE(first);
  EXPECT_THAT(limiter.Check("198.51.100.9999", now + limits.refill_every, &first), IsOk());
}

}  // namespace
}  // namespace meshtrust::ca
