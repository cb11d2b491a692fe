#include "agent/core/root_trust.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "absl/strings/ascii.h"
#include "pki/certificate.h"
#include "pki/key.h"
#include "tests/testing/status_matchers.h"

namespace meshtrust::agent {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::testing::HasSubstr;

constexpr absl::StatusCode kDenied = absl::StatusCode::kPermissionDenied;

class InMemoryTrustedRoots : public TrustedRootsStore {
 public:
  absl::StatusOr<std::optional<std::string>> LoadTrustedRoots() override { return kept; }
  absl::Status SaveTrustedRoots(const std::string& roots_pem) override {
    kept = roots_pem;
    ++saves;
    return absl::OkStatus();
  }
  std::optional<std::string> kept;
  int saves = 0;
};

// A self-signed mesh root and its key, as meshtrust-ca makes them.
struct Root {
  ossl::UniquePtr<EVP_PKEY> key;
  ossl::UniquePtr<X509> cert;
  pki::CertificateTemplate tmpl;
  std::string Pem() const { return pki::CertificatePem(cert.get()); }
  std::string Sha() const { return pki::CertificateSha256Hex(cert.get()); }
};

pki::CertificateTemplate RootTemplate(const std::string& cn, TimePoint now) {
  pki::CertificateTemplate t;
  t.subject = {{"O", "meshtrust"}, {"CN", cn}};
  t.not_before = now - std::chrono::minutes(5);
  t.not_after = now + std::chrono::hours(24 * 365);
  t.is_ca = true;
  t.path_len = 1;
  t.key_usage = pki::kKeyCertSign | pki::kCrlSign;
  return t;
}

Root MakeRoot(const std::string& cn, TimePoint now) {
  Root r;
  r.key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  r.tmpl = RootTemplate(cn, now);
  r.cert = *pki::IssueCertificate(r.tmpl, r.key.get(), nullptr, r.key.get());
  return r;
}

// A cross-certificate for `root` by `endorser`, valid until `not_after`.
std::string Endorse(const Root& root, const Root& endorser, TimePoint now,
                    std::optional<TimePoint> not_after = std::nullopt) {
  pki::CertificateTemplate t = root.tmpl;
  t.not_before = now - std::chrono::minutes(5);
  if (not_after.has_value()) t.not_after = *not_after;
  return pki::CertificatePem(
      pki::IssueCertificate(t, root.key.get(), endorser.cert.get(), endorser.key.get())->get());
}

class RootTrustTest : public ::testing::Test {
 protected:
  TimePoint now_ = std::chrono::system_clock::now();
  SystemClock clock_;
  Root a_ = MakeRoot("mesh root CA 1", now_);
  Root b_ = MakeRoot("mesh root CA 2", now_);
  Root rogue_ = MakeRoot("rogue root", now_);
  InMemoryTrustedRoots store_;

  RootTrust Pinned(const Root& root) { return RootTrust(&store_, {root.Sha()}, &clock_); }
};

TEST_F(RootTrustTest, ParsesFingerprintsInTheirUsualForms) {
  std::string hex = a_.Sha();
  EXPECT_THAT(ParseRootFingerprint("sha256:" + hex), IsOk());
  EXPECT_EQ(*ParseRootFingerprint("SHA256:" + absl::AsciiStrToUpper(hex)), hex);
  std::string colons;
  for (size_t i = 0; i < hex.size(); i += 2) colons += (i ? ":" : "") + hex.substr(i, 2);
  EXPECT_EQ(*ParseRootFingerprint(colons), hex);
  for (const char* bad : {"", "sha256:", "sha256:abc", "md5:00", "sha256:zz"}) {
    EXPECT_THAT(ParseRootFingerprint(bad),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("is not sha256:<64 hex digits> (meshtrust-ca init prints it)")))
        << bad;
  }
}

TEST_F(RootTrustTest, AcceptsABundleHoldingThePinnedRootAndKeepsItOnceInstalled) {
  RootTrust trust = Pinned(a_);
  ASSERT_OK_AND_ASSIGN(std::string roots, trust.Check({a_.Pem(), a_.Pem(), ""}, "", ""));
  EXPECT_EQ(roots, a_.Pem());
  EXPECT_EQ(store_.saves, 0);  // Nothing is kept before it is installed.
  ASSERT_THAT(trust.Commit(roots), IsOk());
  EXPECT_EQ(store_.kept, a_.Pem());
  ASSERT_THAT(trust.Commit(roots), IsOk());
  EXPECT_EQ(store_.saves, 1);  // Unchanged: not written again.
}

TEST_F(RootTrustTest, RefusesACaWhoseBundleLacksThePinnedRoot) {
  RootTrust trust = Pinned(a_);
  EXPECT_THAT(trust.Check({rogue_.Pem(), rogue_.Pem(), ""}, "", ""),
              StatusIs(kDenied, HasSubstr("refused the CA's trust bundle: it does not contain the "
                                          "pinned mesh root sha256:" +
                                          a_.Sha() + "; nothing was installed")));
  EXPECT_EQ(trust.refusals(), 1);
  EXPECT_FALSE(store_.kept.has_value());
}

TEST_F(RootTrustTest, WithNothingPinnedOrKeptItAsksForAFingerprint) {
  RootTrust trust(&store_, {}, &clock_);
  EXPECT_THAT(trust.Check({a_.Pem(), a_.Pem(), ""}, "", ""),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no mesh root is pinned: give --root-fingerprint sha256:<hex>")));
  EXPECT_EQ(trust.refusals(), 0);
}

TEST_F(RootTrustTest, AnAgentThatInstalledBeforeKeepingRootsStartsFromTheInstalledOnes) {
  RootTrust trust(&store_, {}, &clock_);
  EXPECT_THAT(trust.Check({a_.Pem(), a_.Pem(), ""}, a_.Pem(), a_.Pem()), IsOk());
  EXPECT_THAT(trust.Check({a_.Pem() + rogue_.Pem(), a_.Pem(), ""}, a_.Pem(), a_.Pem()),
              StatusIs(kDenied, HasSubstr("it adds root")));
}

TEST_F(RootTrustTest, AnInstalledSetOutranksPinsThatARotationRetired) {
  // Pinned to A at init; A was retired since, and the installed set (written
  // by this agent) holds B only: an upgrade, or a recreated identity Secret.
  RootTrust trust = Pinned(a_);
  EXPECT_THAT(trust.Check({b_.Pem(), b_.Pem(), ""}, b_.Pem(), b_.Pem()), IsOk());
  EXPECT_THAT(trust.Check({b_.Pem() + rogue_.Pem(), b_.Pem(), ""}, b_.Pem(), b_.Pem()),
              StatusIs(kDenied, HasSubstr("it adds root")));
}

TEST_F(RootTrustTest, RefusesARootAppendedWithoutAnEndorsement) {
  store_.kept = a_.Pem();
  RootTrust trust = Pinned(a_);
  EXPECT_THAT(
      trust.Check({a_.Pem() + rogue_.Pem(), a_.Pem(), ""}, a_.Pem(), a_.Pem()),
      StatusIs(kDenied, HasSubstr("refused the CA's trust bundle: it adds root \"CN=rogue root,"
                                  "O=meshtrust\" (sha256:" +
                                  rogue_.Sha() +
                                  "), which no trusted root endorsed; nothing was installed")));
  EXPECT_EQ(trust.refusals(), 1);
  EXPECT_EQ(store_.kept, a_.Pem());
}

TEST_F(RootTrustTest, RefusesEndorsementsFromKeysItDoesNotTrust) {
  store_.kept = a_.Pem();
  RootTrust trust = Pinned(a_);
  // The rogue root endorsing itself, and a look-alike of root A (same name,
  // another key) endorsing it: neither is signed by a key the agent trusts.
  Root look_alike = MakeRoot("mesh root CA 1", now_);
  for (const std::string& endorsement :
       {Endorse(rogue_, rogue_, now_), Endorse(rogue_, look_alike, now_)}) {
    EXPECT_THAT(trust.Check({a_.Pem() + rogue_.Pem(), a_.Pem(), endorsement}, a_.Pem(), a_.Pem()),
                StatusIs(kDenied, HasSubstr("which no trusted root endorsed")));
  }
  // A's genuine endorsement of another key under the rogue root's name.
  Root other = MakeRoot("rogue root", now_);
  EXPECT_THAT(trust.Check({a_.Pem() + rogue_.Pem(), a_.Pem(), Endorse(other, a_, now_)}, a_.Pem(),
                          a_.Pem()),
              StatusIs(kDenied, HasSubstr("which no trusted root endorsed")));
  EXPECT_EQ(trust.refusals(), 3);
}

TEST_F(RootTrustTest, AcceptsARootEndorsedByATrustedRootAndChainsOfThem) {
  store_.kept = a_.Pem();
  RootTrust trust = Pinned(a_);
  ASSERT_OK_AND_ASSIGN(
      std::string roots,
      trust.Check({a_.Pem() + b_.Pem(), a_.Pem(), Endorse(b_, a_, now_)}, a_.Pem(), a_.Pem()));
  EXPECT_EQ(roots, a_.Pem() + b_.Pem());
  // C endorsed by B, B by A: an agent that slept through a rotation catches up.
  Root c = MakeRoot("mesh root CA 3", now_);
  EXPECT_THAT(
      trust.Check({b_.Pem() + c.Pem(), c.Pem(), Endorse(c, b_, now_) + Endorse(b_, a_, now_)}, "",
                  ""),
      IsOk());
  EXPECT_EQ(trust.refusals(), 0);
}

TEST_F(RootTrustTest, AnExpiredEndorsementEndorsesNothing) {
  store_.kept = a_.Pem();
  RootTrust trust = Pinned(a_);
  pki::CertificateTemplate t = b_.tmpl;
  t.not_before = now_ - std::chrono::hours(48);
  t.not_after = now_ - std::chrono::hours(1);
  std::string expired = pki::CertificatePem(
      pki::IssueCertificate(t, b_.key.get(), a_.cert.get(), a_.key.get())->get());
  EXPECT_THAT(trust.Check({a_.Pem() + b_.Pem(), a_.Pem(), expired}, a_.Pem(), a_.Pem()),
              StatusIs(kDenied, HasSubstr("which no trusted root endorsed")));
}

TEST_F(RootTrustTest, RefusesASigningRootOutsideTheBundle) {
  store_.kept = a_.Pem();
  RootTrust trust = Pinned(a_);
  EXPECT_THAT(trust.Check({a_.Pem(), b_.Pem(), ""}, a_.Pem(), a_.Pem()),
              StatusIs(kDenied, HasSubstr("the root it names as signing, \"CN=mesh root CA 2,"
                                          "O=meshtrust\" (sha256:" +
                                          b_.Sha() + "), is not one of its roots")));
}

TEST_F(RootTrustTest, DropsTheInstalledRootOnlyWhenAnotherTrustedRootSigns) {
  store_.kept = a_.Pem() + b_.Pem();
  RootTrust trust = Pinned(a_);
  // Installed: an intermediate under A. A bundle without A that names no other
  // signing root is not a retirement.
  EXPECT_THAT(
      trust.Check({b_.Pem(), "", Endorse(b_, a_, now_)}, a_.Pem() + b_.Pem(), a_.Pem()),
      StatusIs(kDenied,
               HasSubstr("it drops root \"CN=mesh root CA 1,O=meshtrust\" (sha256:" + a_.Sha() +
                         "), which signs this cluster's installed intermediate, "
                         "outside the retire phase of a root rotation")));
  // The retire phase: B signs, and A leaves.
  EXPECT_THAT(
      trust.Check({b_.Pem(), b_.Pem(), Endorse(b_, a_, now_)}, a_.Pem() + b_.Pem(), a_.Pem()),
      IsOk());
  // Dropping a root that signs nothing installed is the normal end of a
  // rotation for a cluster already on B.
  EXPECT_THAT(trust.Check({b_.Pem(), b_.Pem(), ""}, a_.Pem() + b_.Pem(), b_.Pem()), IsOk());
}

TEST_F(RootTrustTest, UnreadableOffersAreRefusedByName) {
  store_.kept = a_.Pem();
  RootTrust trust = Pinned(a_);
  EXPECT_THAT(trust.Check({"not a PEM", a_.Pem(), ""}, "", ""),
              StatusIs(kDenied, HasSubstr("its roots are unreadable")));
  EXPECT_THAT(trust.Check({"", a_.Pem(), ""}, "", ""),
              StatusIs(kDenied, HasSubstr("it holds no root")));
  EXPECT_THAT(trust.Check({a_.Pem(), a_.Pem(), "garbage"}, "", ""),
              StatusIs(kDenied, HasSubstr("its endorsements are unreadable")));
  store_.kept = "damaged";
  RootTrust reread = Pinned(a_);
  EXPECT_THAT(reread.Check({a_.Pem(), a_.Pem(), ""}, "", ""),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("the trusted mesh roots kept by this agent are unreadable")));
}

}  // namespace
}  // namespace meshtrust::agent
