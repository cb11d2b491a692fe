// The agent's identity lifecycle with fakes for the outside world: a fake
// control CA behind a fake Enroller and CaConnection, an in-memory
// IdentityStore and a FakeClock. First enrollment, restarts without
// re-enrolling, renewal at two thirds of the identity's life, and every
// certificate checked before it is stored.
#include "agent/core/identity_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pki/certificate.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "tests/testing/status_matchers.h"

namespace meshtrust::agent {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kIdentity[] = "spiffe://meshtrust/cluster/cluster1";
constexpr char kToken[] = "mtj1.join-token";

// A control CA made in the test: issues client identities for a CSR's key.
class FakeControlCa {
 public:
  explicit FakeControlCa(TimePoint now) {
    key_ = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
    pki::CertificateTemplate t;
    t.subject = {{"O", "meshtrust"}, {"CN", "control CA"}};
    t.not_before = now - std::chrono::hours(1);
    t.not_after = now + std::chrono::hours(24 * 365);
    t.is_ca = true;
    t.path_len = 0;
    t.key_usage = pki::kKeyCertSign | pki::kCrlSign;
    cert_ = *pki::IssueCertificate(t, key_.get(), nullptr, key_.get());
  }
  std::string pem() const { return pki::CertificatePem(cert_.get()); }
  std::string pin() const { return *pki::SpkiSha256Pin(pki::PublicKeyOf(cert_.get())); }

  // A certificate for the CSR's key (or `other_key`), valid [now, now + ttl).
  absl::StatusOr<std::string> Issue(const std::string& csr_der, TimePoint now,
                                    std::chrono::seconds ttl, const std::string& identity,
                                    EVP_PKEY* other_key = nullptr) {
    absl::StatusOr<ossl::UniquePtr<X509_REQ>> csr = pki::ParseCsr(csr_der);
    if (!csr.ok()) return csr.status();
    pki::CertificateTemplate t;
    t.subject = {{"O", "meshtrust"}, {"CN", identity}};
    t.not_before = now;
    t.not_after = now + ttl;
    t.key_usage = pki::kDigitalSignature;
    t.extended_key_usage = {pki::ExtendedKeyUsage::kClientAuth};
    t.uris = {identity};
    EVP_PKEY* subject = other_key != nullptr ? other_key : pki::PublicKeyOf(csr->get());
    absl::StatusOr<ossl::UniquePtr<X509>> cert =
        pki::IssueCertificate(t, subject, cert_.get(), key_.get());
    if (!cert.ok()) return cert.status();
    return pki::CertificatePem(cert->get());
  }

 private:
  ossl::UniquePtr<EVP_PKEY> key_;
  ossl::UniquePtr<X509> cert_;
};

// What the fake CA does with the next request.
enum class Answer { kGood, kOtherKey, kOtherCa, kOtherIdentity, kRefuse };

class FakeEnroller : public Enroller {
 public:
  FakeEnroller(FakeControlCa* ca, FakeControlCa* other_ca, const Clock* clock)
      : ca_(ca), other_ca_(other_ca), clock_(clock) {}
  absl::StatusOr<EnrolledIdentity> Enroll(const std::string& pin, const std::string& token,
                                          const std::string& csr_der,
                                          const std::string& expected_identity) override {
    ++calls;
    last_pin = pin;
    last_token = token;
    last_expected = expected_identity;
    if (answer == Answer::kRefuse) {
      return absl::PermissionDeniedError("enrollment refused: join token is not valid");
    }
    FakeControlCa* issuer = answer == Answer::kOtherCa ? other_ca_ : ca_;
    ossl::UniquePtr<EVP_PKEY> other;
    if (answer == Answer::kOtherKey) other = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
    absl::StatusOr<std::string> cert =
        issuer->Issue(csr_der, clock_->Now(), ttl, kIdentity, other.get());
    if (!cert.ok()) return cert.status();
    return EnrolledIdentity{
        answer == Answer::kOtherIdentity ? "spiffe://meshtrust/cluster/cluster2" : kIdentity, *cert,
        control_ca_pem_override.empty() ? ca_->pem() : control_ca_pem_override};
  }

  Answer answer = Answer::kGood;
  std::chrono::seconds ttl = std::chrono::hours(3);
  std::string control_ca_pem_override;
  int calls = 0;
  std::string last_pin, last_token, last_expected;

 private:
  FakeControlCa* ca_;
  FakeControlCa* other_ca_;
  const Clock* clock_;
};

// Only RenewIdentity is used by the identity manager.
class FakeCaConnection : public CaConnection {
 public:
  FakeCaConnection(FakeControlCa* ca, FakeControlCa* other_ca, const Clock* clock)
      : ca_(ca), other_ca_(other_ca), clock_(clock) {}
  absl::StatusOr<std::string> RenewIdentity(const std::string& csr_der) override {
    ++calls;
    if (answer == Answer::kRefuse) return absl::UnavailableError("the CA is unreachable");
    FakeControlCa* issuer = answer == Answer::kOtherCa ? other_ca_ : ca_;
    ossl::UniquePtr<EVP_PKEY> other;
    if (answer == Answer::kOtherKey) other = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
    std::string identity =
        answer == Answer::kOtherIdentity ? "spiffe://meshtrust/cluster/cluster2" : kIdentity;
    return issuer->Issue(csr_der, clock_->Now(), std::chrono::hours(3), identity, other.get());
  }
  absl::StatusOr<SignedIntermediate> SignIntermediate(const std::string&, const std::string&,
                                                      std::chrono::seconds) override {
    return absl::UnimplementedError("not used");
  }
  // The first call made with a renewed identity.
  absl::StatusOr<TrustBundleInfo> GetTrustBundle() override {
    ++bundle_calls;
    if (!bundle_error.ok()) return bundle_error;
    return TrustBundleInfo{};
  }
  absl::StatusOr<CrlSetInfo> GetCrls() override { return absl::UnimplementedError("not used"); }
  absl::Status Ack(const std::string&, const std::string&, const std::string&,
                   const std::string&) override {
    return absl::UnimplementedError("not used");
  }
  absl::Status Watch(const std::string&, const std::function<void(CaEvent)>&) override {
    return absl::UnimplementedError("not used");
  }
  void CancelWatch() override {}

  Answer answer = Answer::kGood;
  int calls = 0;
  absl::Status bundle_error;
  int bundle_calls = 0;

 private:
  FakeControlCa* ca_;
  FakeControlCa* other_ca_;
  const Clock* clock_;
};

class InMemoryIdentityStore : public IdentityStore {
 public:
  absl::StatusOr<std::optional<client::Identity>> Load() override {
    if (!stored.has_value()) return std::nullopt;
    return Copy(*stored);
  }
  absl::Status Save(const client::Identity& identity) override {
    if (!save_error.ok()) return save_error;
    ++saves;
    stored = Copy(identity);
    return absl::OkStatus();
  }
  absl::Status CheckWritable() override { return writable; }
  std::string Describe() const override { return "memory"; }
  absl::StatusOr<std::optional<ca::AuditCheckpoint>> LoadCheckpoint() override {
    return checkpoint;
  }
  absl::Status SaveCheckpoint(const ca::AuditCheckpoint& c) override {
    checkpoint = c;
    return absl::OkStatus();
  }

  static client::Identity Copy(const client::Identity& id) {
    return client::Identity{id.identity, id.certificate_pem,
                            SecretBytes::CopyOf(id.key_pem.UnsafeSecretString()), id.control_ca_pem,
                            id.audit_public_key};
  }

  std::optional<client::Identity> stored;
  std::optional<ca::AuditCheckpoint> checkpoint;
  absl::Status save_error;
  absl::Status writable;  // What CheckWritable answers.
  int saves = 0;
};

bool KeyMatchesCertificate(const client::Identity& id) {
  auto key = pki::PrivateKeyFromPem(id.key_pem);
  auto cert = pki::ParseCertificatePem(id.certificate_pem);
  return key.ok() && cert.ok() && pki::SamePublicKey(key->get(), pki::PublicKeyOf(cert->get()));
}

class IdentityManagerTest : public ::testing::Test {
 protected:
  IdentityManagerTest()
      // Whole seconds, as certificates hold them.
      : clock_(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now())),
        ca_(clock_.Now()),
        other_ca_(clock_.Now()),
        enroller_(&ca_, &other_ca_, &clock_),
        connection_(&ca_, &other_ca_, &clock_),
        manager_(&store_, &enroller_, &clock_, Options()) {}

  IdentityManagerOptions Options() {
    IdentityManagerOptions o;
    o.cluster = "cluster1";
    o.pin = ca_.pin();
    return o;
  }
  absl::StatusOr<client::Identity> LoadOrEnroll(std::string token = kToken) {
    return manager_.LoadOrEnroll([this, token]() -> absl::StatusOr<std::string> {
      ++token_reads_;
      return token;
    });
  }
  // Enrolls once, as a first start would.
  client::Identity Enrolled() {
    absl::StatusOr<client::Identity> id = LoadOrEnroll();
    EXPECT_THAT(id, IsOk());
    return id.ok() ? *std::move(id) : client::Identity{};
  }

  // Renews over connection_; the renewed identity's first call goes to a
  // new FakeCaConnection that answers with renewed_call_error, and sees
  // what the store held at that moment.
  absl::StatusOr<client::Identity> Renew(const client::Identity& current) {
    return manager_.Renew(current, &connection_, [this](const client::Identity& id) {
      connected_with_.push_back(id.certificate_pem);
      stored_when_connected_.push_back(store_.stored ? store_.stored->certificate_pem : "");
      auto c = std::make_unique<FakeCaConnection>(&ca_, &other_ca_, &clock_);
      c->bundle_error = renewed_call_error_;
      return c;
    });
  }

  FakeClock clock_;
  FakeControlCa ca_;
  FakeControlCa other_ca_;  // Not the control CA this agent trusts.
  FakeEnroller enroller_;
  FakeCaConnection connection_;
  absl::Status renewed_call_error_;
  std::vector<std::string> connected_with_, stored_when_connected_;
  InMemoryIdentityStore store_;
  IdentityManager manager_;
  int token_reads_ = 0;
};

// Enrolling spends the join token: nothing that could make the save fail
// afterwards may be found only then.
TEST_F(IdentityManagerTest, DoesNotEnrollWhileWhereItWritesIsNotWritable) {
  store_.writable = absl::PermissionDeniedError("RBAC does not let the agent create secrets");
  EXPECT_THAT(LoadOrEnroll(),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("not enrolling (the join token was not used): RBAC does not let "
                                 "the agent create secrets")));
  EXPECT_EQ(enroller_.calls, 0);
  store_.writable = absl::OkStatus();

  // The caller's own check (where the intermediate will go) comes first too.
  int checks = 0;
  auto missing_namespace = [&checks] {
    ++checks;
    return absl::NotFoundError("namespace istio-system does not exist");
  };
  EXPECT_THAT(manager_.LoadOrEnroll([] { return std::string(kToken); }, missing_namespace),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("not enrolling (the join token was not used): namespace "
                                 "istio-system does not exist")));
  EXPECT_EQ(checks, 1);
  EXPECT_EQ(enroller_.calls, 0);
  EXPECT_FALSE(store_.stored.has_value());

  // Fixed, the same token enrolls; a stored identity is not checked again.
  ASSERT_THAT(manager_.LoadOrEnroll([] { return std::string(kToken); },
                                    [&checks] {
                                      ++checks;
                                      return absl::OkStatus();
                                    }),
              IsOk());
  EXPECT_EQ(enroller_.calls, 1);
  EXPECT_EQ(checks, 2);
  ASSERT_THAT(manager_.LoadOrEnroll([] { return std::string(kToken); }, missing_namespace), IsOk());
  EXPECT_EQ(checks, 2);
}

TEST_F(IdentityManagerTest, FirstStartEnrollsWithTheTokenAndSavesTheIdentity) {
  ASSERT_OK_AND_ASSIGN(client::Identity id, LoadOrEnroll());
  EXPECT_EQ(enroller_.calls, 1);
  EXPECT_EQ(enroller_.last_token, kToken);
  EXPECT_EQ(enroller_.last_pin, ca_.pin());
  EXPECT_EQ(enroller_.last_expected, kIdentity);
  EXPECT_EQ(id.identity, kIdentity);
  EXPECT_EQ(id.control_ca_pem, ca_.pem());
  EXPECT_TRUE(KeyMatchesCertificate(id));
  ASSERT_TRUE(store_.stored.has_value());
  EXPECT_EQ(store_.stored->certificate_pem, id.certificate_pem);
  EXPECT_TRUE(store_.stored->key_pem.Equals(id.key_pem));
}

TEST_F(IdentityManagerTest, AStoredIdentityIsUsedWithoutEnrollingOrReadingTheToken) {
  client::Identity first = Enrolled();
  ASSERT_EQ(enroller_.calls, 1);
  token_reads_ = 0;
  // A restart: a new manager over the same store.
  IdentityManager restarted(&store_, &enroller_, &clock_, Options());
  ASSERT_OK_AND_ASSIGN(client::Identity loaded,
                       restarted.LoadOrEnroll([this]() -> absl::StatusOr<std::string> {
                         ++token_reads_;
                         return std::string(kToken);
                       }));
  EXPECT_EQ(enroller_.calls, 1);
  EXPECT_EQ(token_reads_, 0);
  EXPECT_EQ(loaded.certificate_pem, first.certificate_pem);
  EXPECT_EQ(store_.saves, 1);
}

TEST_F(IdentityManagerTest, WithoutAStoredIdentityOrATokenSaysHowToEnroll) {
  EXPECT_THAT(LoadOrEnroll(""),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no stored identity in memory and no join token: give "
                                 "--token-file (or MESHTRUST_JOIN_TOKEN) and --pin to enroll")));
  IdentityManagerOptions no_pin = Options();
  no_pin.pin.clear();
  IdentityManager manager(&store_, &enroller_, &clock_, no_pin);
  EXPECT_THAT(manager.LoadOrEnroll([] { return absl::StatusOr<std::string>(kToken); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--pin is required")));
  EXPECT_EQ(enroller_.calls, 0);
}

TEST_F(IdentityManagerTest, ARefusedEnrollmentSavesNothing) {
  enroller_.answer = Answer::kRefuse;
  EXPECT_THAT(LoadOrEnroll(),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("join token is not valid")));
  EXPECT_FALSE(store_.stored.has_value());
}

TEST_F(IdentityManagerTest, AStoredIdentityOfAnotherClusterOrExpiredIsAnError) {
  Enrolled();
  IdentityManagerOptions other = Options();
  other.cluster = "cluster2";
  IdentityManager for_cluster2(&store_, &enroller_, &clock_, other);
  EXPECT_THAT(for_cluster2.LoadOrEnroll([] { return absl::StatusOr<std::string>(""); }),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("check --cluster")));
  clock_.Advance(std::chrono::hours(3));
  EXPECT_THAT(LoadOrEnroll(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("expired at")));
  EXPECT_EQ(enroller_.calls, 1);
}

TEST_F(IdentityManagerTest, RenewalIsDueTwoThirdsIntoTheIdentitysLife) {
  client::Identity id = Enrolled();  // Valid for three hours from now.
  TimePoint issued = clock_.Now();
  EXPECT_EQ(IdentityManager::NotAfter(id) - issued, std::chrono::hours(3));
  EXPECT_EQ(IdentityManager::RenewAt(id) - issued, std::chrono::hours(2));
  EXPECT_FALSE(manager_.RenewalDue(id));
  EXPECT_EQ(manager_.NextRenewal(id), IdentityManager::RenewAt(id));
  clock_.Advance(std::chrono::hours(2) - std::chrono::seconds(1));
  EXPECT_FALSE(manager_.RenewalDue(id));
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_TRUE(manager_.RenewalDue(id));
  // Past that point, a running agent still waits half of what is left.
  clock_.Advance(std::chrono::minutes(20));
  EXPECT_EQ(manager_.NextRenewal(id), clock_.Now() + std::chrono::minutes(20));
}

TEST_F(IdentityManagerTest, RenewalUsesANewKeyAndSavesIt) {
  client::Identity id = Enrolled();
  clock_.Advance(std::chrono::hours(2));
  ASSERT_OK_AND_ASSIGN(client::Identity renewed, Renew(id));
  EXPECT_EQ(connection_.calls, 1);
  EXPECT_EQ(renewed.identity, kIdentity);
  EXPECT_EQ(renewed.control_ca_pem, id.control_ca_pem);
  EXPECT_NE(renewed.certificate_pem, id.certificate_pem);
  EXPECT_FALSE(renewed.key_pem.Equals(id.key_pem));
  EXPECT_TRUE(KeyMatchesCertificate(renewed));
  EXPECT_FALSE(manager_.RenewalDue(renewed));
  ASSERT_TRUE(store_.stored.has_value());
  EXPECT_EQ(store_.stored->certificate_pem, renewed.certificate_pem);
  EXPECT_EQ(store_.saves, 2);
}

TEST_F(IdentityManagerTest, TheRenewedIdentityIsStoredBeforeItsFirstUse) {
  client::Identity id = Enrolled();
  clock_.Advance(std::chrono::hours(2));
  ASSERT_OK_AND_ASSIGN(client::Identity renewed, Renew(id));
  // One connection with the renewed identity, made once it was stored: the
  // CA supersedes the current identity at that call, so a renewed identity
  // lost after it would lock the agent out.
  ASSERT_EQ(connected_with_.size(), 1u);
  EXPECT_EQ(connected_with_[0], renewed.certificate_pem);
  EXPECT_EQ(stored_when_connected_[0], renewed.certificate_pem);
  EXPECT_EQ(store_.stored->certificate_pem, renewed.certificate_pem);
}

TEST_F(IdentityManagerTest, ARenewedIdentityThatFailsItsFirstCallIsNotKept) {
  client::Identity id = Enrolled();
  clock_.Advance(std::chrono::hours(2));
  renewed_call_error_ = absl::UnauthenticatedError("client certificate 1a2b is not known");
  EXPECT_THAT(Renew(id),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("the renewed identity was not kept: a first call with it "
                                 "failed, so the current identity stays in use: client "
                                 "certificate 1a2b is not known")));
  EXPECT_EQ(connection_.calls, 1);
  EXPECT_EQ(connected_with_.size(), 1u);
  EXPECT_EQ(store_.saves, 3);  // Enrolled, renewed, and the current one again.
  EXPECT_EQ(store_.stored->certificate_pem, id.certificate_pem);
  EXPECT_TRUE(store_.stored->key_pem.Equals(id.key_pem));
}

TEST_F(IdentityManagerTest, RenewalChecksTheHeldControlCaAgainstThePin) {
  client::Identity id = Enrolled();
  clock_.Advance(std::chrono::hours(2));
  client::Identity tampered = InMemoryIdentityStore::Copy(id);
  tampered.control_ca_pem = other_ca_.pem();
  connection_.answer = Answer::kOtherCa;
  EXPECT_THAT(Renew(tampered), StatusIs(absl::StatusCode::kDataLoss,
                                        HasSubstr("the control CA has pin " + other_ca_.pin() +
                                                  ", not " + ca_.pin())));
  EXPECT_EQ(connection_.calls, 0);
  EXPECT_TRUE(connected_with_.empty());
  EXPECT_EQ(store_.stored->certificate_pem, id.certificate_pem);
}

TEST_F(IdentityManagerTest, AFailedRenewalKeepsTheStoredIdentity) {
  client::Identity id = Enrolled();
  clock_.Advance(std::chrono::hours(2));
  connection_.answer = Answer::kRefuse;
  EXPECT_THAT(Renew(id), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("unreachable")));
  EXPECT_EQ(store_.saves, 1);
  EXPECT_EQ(store_.stored->certificate_pem, id.certificate_pem);
  EXPECT_TRUE(store_.stored->key_pem.Equals(id.key_pem));
}

TEST_F(IdentityManagerTest, ARenewedCertificateIsCheckedBeforeItIsSaved) {
  client::Identity id = Enrolled();
  for (auto [answer, why] : std::vector<std::pair<Answer, std::string>>{
           {Answer::kOtherKey, "it is not for the key this agent generated"},
           {Answer::kOtherCa, "it does not chain to the control CA"},
           {Answer::kOtherIdentity, "it does not name spiffe://meshtrust/cluster/cluster1"},
       }) {
    SCOPED_TRACE(why);
    connection_.answer = answer;
    EXPECT_THAT(Renew(id),
                StatusIs(absl::StatusCode::kDataLoss,
                         HasSubstr("the CA's identity certificate was not stored: " + why)));
    EXPECT_TRUE(connected_with_.empty());  // Never used.
    EXPECT_EQ(store_.saves, 1);
    EXPECT_EQ(store_.stored->certificate_pem, id.certificate_pem);
  }
}

TEST_F(IdentityManagerTest, AnEnrolledCertificateIsCheckedBeforeItIsSaved) {
  for (auto [answer, why] : std::vector<std::pair<Answer, std::string>>{
           {Answer::kOtherKey, "it is not for the key this agent generated"},
           {Answer::kOtherCa, "it does not chain to the control CA"},
       }) {
    SCOPED_TRACE(why);
    enroller_.answer = answer;
    EXPECT_THAT(LoadOrEnroll(),
                StatusIs(absl::StatusCode::kDataLoss,
                         HasSubstr("the CA's identity certificate was not stored: " + why)));
    EXPECT_FALSE(store_.stored.has_value());
  }
  enroller_.answer = Answer::kOtherIdentity;
  EXPECT_THAT(LoadOrEnroll(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                       HasSubstr("it belongs to another cluster")));
  EXPECT_FALSE(store_.stored.has_value());
}

TEST_F(IdentityManagerTest, AControlCaOtherThanThePinnedOneIsRefused) {
  enroller_.answer = Answer::kOtherCa;
  enroller_.control_ca_pem_override = other_ca_.pem();
  EXPECT_THAT(LoadOrEnroll(), StatusIs(absl::StatusCode::kDataLoss,
                                       HasSubstr("the control CA has pin " + other_ca_.pin() +
                                                 ", not " + ca_.pin())));
  EXPECT_FALSE(store_.stored.has_value());
}

TEST_F(IdentityManagerTest, AStoreFailureIsReported) {
  store_.save_error = absl::PermissionDeniedError("cannot write the identity Secret");
  EXPECT_THAT(LoadOrEnroll(), StatusIs(absl::StatusCode::kPermissionDenied,
                                       HasSubstr("cannot write the identity Secret")));
  store_.save_error = absl::OkStatus();
  client::Identity id = Enrolled();
  store_.save_error = absl::UnavailableError("the API server is away");
  EXPECT_THAT(Renew(id),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("the API server is away")));
  EXPECT_EQ(store_.stored->certificate_pem, id.certificate_pem);
}

}  // namespace
}  // namespace meshtrust::agent
