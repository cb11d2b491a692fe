#include "agent/kube/kubernetes_identity_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/kube/kube_client.h"
#include "tests/kube_emulator/kube_emulator.h"
#include "tests/testing/status_matchers.h"

namespace meshtrust::agent {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::KubeEmulator;
using ::meshtrust::testing::StatusIs;
using ::testing::HasSubstr;

class KubernetesIdentityStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = KubeEmulator::Start();
    ASSERT_THAT(e, IsOk());
    kube_ = *std::move(e);
    kube_->AddToken("admin", {"admin", {testing::KubeRule{}}});
    KubeConfig config;
    config.server = kube_->server_url();
    config.ca_pem = kube_->ca_pem();
    config.token = "admin";
    client_ = *KubeClient::Create(std::move(config), std::chrono::seconds(5));
  }
  KubernetesIdentityStore Store() {
    return KubernetesIdentityStore(client_.get(), "meshtrust-system", "meshtrust-agent-identity");
  }
  static client::Identity Identity(const std::string& cert) {
    client::Identity id;
    id.identity = "spiffe://meshtrust/cluster/cluster1";
    id.certificate_pem = cert;
    id.key_pem = SecretBytes::CopyOf(absl::string_view("KEY"));
    id.control_ca_pem = "CONTROL CA";
    id.audit_public_key = std::string(32, 'k');
    return id;
  }

  std::unique_ptr<KubeEmulator> kube_;
  std::unique_ptr<KubeClient> client_;
};

TEST_F(KubernetesIdentityStoreTest, TrustedRootsAndTheCheckpointSurviveARenewedIdentity) {
  KubernetesIdentityStore store = Store();
  EXPECT_THAT(store.SaveTrustedRoots("ROOTS"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("must enroll first")));
  ASSERT_THAT(store.Load(), IsOk());
  ASSERT_THAT(store.Save(Identity("CERT 1")), IsOk());
  ASSERT_OK_AND_ASSIGN(std::optional<std::string> none, store.LoadTrustedRoots());
  EXPECT_FALSE(none.has_value());
  ASSERT_THAT(store.SaveTrustedRoots("ROOTS A+B"), IsOk());
  ca::AuditCheckpoint checkpoint{7, std::string(32, 'h'), std::string(64, 's')};
  ASSERT_THAT(store.SaveCheckpoint(checkpoint), IsOk());

  // A renewal rewrites the identity; what is kept beside it stays.
  ASSERT_THAT(store.Save(Identity("CERT 2")), IsOk());
  KubernetesIdentityStore reopened = Store();
  ASSERT_OK_AND_ASSIGN(std::optional<client::Identity> id, reopened.Load());
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->certificate_pem, "CERT 2");
  ASSERT_OK_AND_ASSIGN(std::optional<std::string> roots, reopened.LoadTrustedRoots());
  EXPECT_EQ(roots, "ROOTS A+B");
  ASSERT_OK_AND_ASSIGN(std::optional<ca::AuditCheckpoint> kept, reopened.LoadCheckpoint());
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->sequence, 7u);
  EXPECT_EQ(kept->head_hash, checkpoint.head_hash);
  // And the roots, written last, keep the identity and the checkpoint.
  ASSERT_THAT(reopened.SaveTrustedRoots("ROOTS B"), IsOk());
  ASSERT_OK_AND_ASSIGN(id, Store().Load());
  EXPECT_EQ(id->certificate_pem, "CERT 2");
  ASSERT_OK_AND_ASSIGN(kept, Store().LoadCheckpoint());
  EXPECT_EQ(kept->sequence, 7u);
}

}  // namespace
}  // namespace meshtrust::agent
