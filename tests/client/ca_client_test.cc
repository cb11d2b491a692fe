// What meshtrustctl and the agent share for reaching the CA: enrollment from
// a pin and a join token, channels that verify the CA against the control CA,
// and the translation of gRPC statuses. Against the real CA over mTLS.
#include "client/ca_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "meshtrust/v1/meshtrust.grpc.pb.h"
#include "pki/certificate.h"
#include "pki/key.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::client {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::testing::HasSubstr;

class CaClientTest : public ::testing::Test {
 protected:
  void SetUp() override { ca_ = testing::TestCa::Create(); }
  std::unique_ptr<testing::TestCa> ca_;
};

TEST_F(CaClientTest, EnrollsWithAPinAndKeepsTheKeyLocal) {
  std::string token = ca_->AddCluster("cluster1");
  ASSERT_OK_AND_ASSIGN(Identity id,
                       Enroll(ca_->address(), ca_->pin(), token, pki::KeyAlgorithm::kEcdsaP384));
  EXPECT_EQ(id.identity, "spiffe://meshtrust/cluster/cluster1");
  auto cert = *pki::ParseCertificatePem(id.certificate_pem);
  ASSERT_OK_AND_ASSIGN(auto key, pki::PrivateKeyFromPem(id.key_pem));
  EXPECT_TRUE(pki::SamePublicKey(pki::PublicKeyOf(cert.get()), key.get()));
  EXPECT_EQ(*pki::ClassifyKey(key.get()), pki::KeyAlgorithm::kEcdsaP384);
  // The control CA it pinned is the one that issued the identity.
  auto control = *pki::ParseCertificatePem(id.control_ca_pem);
  EXPECT_EQ(X509_check_issued(control.get(), cert.get()), X509_V_OK);

  // The identity works on a channel verified against that control CA.
  auto stub = v1::TrustAuthority::NewStub(CreateChannel(ca_->address(), id.control_ca_pem, &id));
  v1::GetTrustBundleRequest req;
  v1::TrustBundle resp;
  EXPECT_TRUE(stub->GetTrustBundle(NewContext().get(), req, &resp).ok());
  EXPECT_FALSE(resp.roots_pem().empty());
}

TEST_F(CaClientTest, AJoinTokenEnrollsOnce) {
  std::string token = ca_->AddCluster("cluster1");
  ASSERT_THAT(Enroll(ca_->address(), ca_->pin(), token, pki::KeyAlgorithm::kEcdsaP256), IsOk());
  absl::StatusOr<Identity> again =
      Enroll(ca_->address(), ca_->pin(), token, pki::KeyAlgorithm::kEcdsaP256);
  ASSERT_FALSE(again.ok());
  EXPECT_THAT(again.status().message(), HasSubstr("enrollment refused: "));
}

TEST_F(CaClientTest, AWrongPinStopsBeforeTheTokenIsSent) {
  std::string token = ca_->AddCluster("cluster1");
  std::string wrong_pin(ca_->pin().size(), '0');
  ASSERT_NE(wrong_pin, ca_->pin());
  absl::StatusOr<Identity> refused =
      Enroll(ca_->address(), wrong_pin, token, pki::KeyAlgorithm::kEcdsaP256);
  EXPECT_FALSE(refused.ok());
  // The token was never presented, so it still enrolls.
  EXPECT_THAT(Enroll(ca_->address(), ca_->pin(), token, pki::KeyAlgorithm::kEcdsaP256), IsOk());
}

TEST_F(CaClientTest, AnExpectedIdentityThatDiffersKeepsTheTokenUnspent) {
  std::string token = ca_->AddCluster("cluster1");
  absl::StatusOr<Identity> refused =
      Enroll(ca_->address(), ca_->pin(), token, pki::KeyAlgorithm::kEcdsaP256, kDefaultCallTimeout,
             "spiffe://meshtrust/cluster/cluster2");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("enrollment refused: "));
  ASSERT_OK_AND_ASSIGN(Identity id,
                       Enroll(ca_->address(), ca_->pin(), token, pki::KeyAlgorithm::kEcdsaP256,
                              kDefaultCallTimeout, "spiffe://meshtrust/cluster/cluster1"));
  EXPECT_EQ(id.identity, "spiffe://meshtrust/cluster/cluster1");
}

TEST_F(CaClientTest, AChannelRefusesAServerItsControlCaDidNotIssue) {
  std::string token = ca_->AddCluster("cluster1");
  ASSERT_OK_AND_ASSIGN(Identity id,
                       Enroll(ca_->address(), ca_->pin(), token, pki::KeyAlgorithm::kEcdsaP256));
  auto other_key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  pki::CertificateTemplate t;
  t.subject = {{"CN", "some other control CA"}};
  t.not_before = std::chrono::system_clock::now() - std::chrono::hours(1);
  t.not_after = std::chrono::system_clock::now() + std::chrono::hours(1);
  t.is_ca = true;
  t.key_usage = pki::kKeyCertSign;
  auto other = *pki::IssueCertificate(t, other_key.get(), nullptr, other_key.get());
  auto stub = v1::TrustAuthority::NewStub(
      CreateChannel(ca_->address(), pki::CertificatePem(other.get()), &id));
  v1::GetTrustBundleRequest req;
  v1::TrustBundle resp;
  grpc::Status s = stub->GetTrustBundle(NewContext(std::chrono::seconds(30)).get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST(FromGrpcStatusTest, KeepsCodeAndMessage) {
  EXPECT_THAT(FromGrpcStatus(grpc::Status::OK), IsOk());
  EXPECT_THAT(FromGrpcStatus(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "cluster disabled")),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("cluster disabled")));
  EXPECT_THAT(FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down")),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("down")));
}

TEST(NewRequestIdTest, SixteenHexDigitsFreshEachTime) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string id = NewRequestId();
    EXPECT_EQ(id.size(), 16u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 100u);
}

}  // namespace
}  // namespace meshtrust::client
