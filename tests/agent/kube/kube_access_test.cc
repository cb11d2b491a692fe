// Checking, before anything is spent, that the agent may write what it will
// write: against the Kubernetes API emulator, whose access reviews and dry
// runs answer as kube-apiserver's do.
#include "agent/kube/kube_access.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "tests/kube_emulator/kube_emulator.h"
#include "tests/testing/status_matchers.h"

namespace meshtrust::agent {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::KubeEmulator;
using ::meshtrust::testing::KubeRule;
using ::meshtrust::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

class KubeAccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = KubeEmulator::Start();
    ASSERT_THAT(e, IsOk());
    kube_ = *std::move(e);
    // As deploy/agent/rbac grants it.
    kube_->AddToken("agent", {"system:serviceaccount:meshtrust-system:meshtrust-agent",
                              {KubeRule{"get,update", "secrets", "istio-system", "cacerts"},
                               KubeRule{"create", "secrets", "istio-system", "*"}}});
    // The mistake operators make: create limited by name, which never matches.
    kube_->AddToken(
        "named-create",
        {"named-create", {KubeRule{"get,update,create", "secrets", "istio-system", "cacerts"}}});
    kube_->AddToken("reader", {"reader", {KubeRule{"get", "secrets", "istio-system", "cacerts"}}});
  }
  std::unique_ptr<KubeClient> Client(const std::string& token) {
    KubeConfig config;
    config.server = kube_->server_url();
    config.ca_pem = kube_->ca_pem();
    config.token = token;
    return *KubeClient::Create(std::move(config), std::chrono::seconds(5));
  }
  // Writes (anything but GET and access reviews) that reached the server.
  int Writes() {
    int n = 0;
    for (const std::string& r : kube_->requests()) {
      n += !absl::StartsWith(r, "GET ") && !absl::StrContains(r, "selfsubjectaccessreviews");
    }
    return n;
  }

  std::unique_ptr<KubeEmulator> kube_;
};

TEST_F(KubeAccessTest, AnswersFromTheServersRbacRules) {
  auto agent = Client("agent");
  auto allowed = [&](const KubeAccess& access) {
    absl::StatusOr<bool> answer = ReviewAccess(agent.get(), access);
    EXPECT_THAT(answer, IsOk());
    return answer.value_or(false);
  };
  EXPECT_TRUE(allowed({"update", "", "secrets", "istio-system", "cacerts"}));
  EXPECT_FALSE(allowed({"update", "", "secrets", "istio-system", "other"}));
  EXPECT_TRUE(allowed({"create", "", "secrets", "istio-system", ""}));
  EXPECT_FALSE(allowed({"create", "", "secrets", "kube-system", ""}));
}

TEST_F(KubeAccessTest, AWritableSecretPassesAndNothingIsStored) {
  std::vector<std::string> writes;
  kube_->SetFault([&writes](const HttpRequest& r) -> std::optional<HttpResponse> {
    if (absl::EndsWith(r.path, "/secrets")) writes.push_back(r.method + " ?" + r.query);
    return std::nullopt;
  });
  auto agent = Client("agent");
  EXPECT_THAT(CheckSecretWritable(agent.get(), "istio-system", "cacerts"), IsOk());
  kube_->SetFault(nullptr);
  EXPECT_FALSE(kube_->Get("secrets", "istio-system", "cacerts").has_value());
  // The create reached the server, as a dry run.
  EXPECT_THAT(writes, ::testing::ElementsAre("POST ?fieldManager=meshtrust-agent&dryRun=All"));
}

TEST_F(KubeAccessTest, NamesEveryMissingPermissionWithWhatToGrant) {
  auto reader = Client("reader");
  absl::Status s = CheckSecretWritable(reader.get(), "istio-system", "cacerts");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kPermissionDenied,
                          AllOf(HasSubstr("create secrets, update secrets \"cacerts\""),
                                HasSubstr("verb \"update\" on resource \"secrets\" named "
                                          "\"cacerts\" in namespace istio-system"),
                                HasSubstr("verb \"create\" on resource \"secrets\" in namespace "
                                          "istio-system in a rule without resourceNames"))));
  EXPECT_EQ(Writes(), 0);

  // create limited by name is refused by Kubernetes, and the advice says why.
  auto named = Client("named-create");
  EXPECT_THAT(CheckSecretWritable(named.get(), "istio-system", "cacerts"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("create secrets in namespace istio-system"),
                             HasSubstr("create cannot be limited by name"),
                             Not(HasSubstr("update secrets")))));
}

TEST_F(KubeAccessTest, NamesAMissingNamespaceAndCreatesNothing) {
  kube_->DeleteNamespace("istio-system");
  auto agent = Client("agent");
  EXPECT_THAT(CheckSecretWritable(agent.get(), "istio-system", "cacerts"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("namespace istio-system does not exist, so Secret "
                                 "istio-system/cacerts cannot be written: create it (kubectl "
                                 "create namespace istio-system)")));
  kube_->CreateNamespace("istio-system");
  EXPECT_THAT(CheckSecretWritable(agent.get(), "istio-system", "cacerts"), IsOk());
  EXPECT_FALSE(kube_->Get("secrets", "istio-system", "cacerts").has_value());
}

TEST_F(KubeAccessTest, AnAdmissionRefusalOfTheDryRunIsNamed) {
  kube_->SetFault([](const HttpRequest& r) -> std::optional<HttpResponse> {
    if (r.method != "POST" || !absl::StrContains(r.query, "dryRun=All")) return std::nullopt;
    return HttpResponse{400, "application/json",
                        R"({"kind":"Status","apiVersion":"v1","status":"Failure","code":400,)"
                        R"("reason":"BadRequest","message":"admission webhook \"policy.example\")"
                        R"( denied the request: secrets need an owner label"})"};
  });
  auto agent = Client("agent");
  EXPECT_THAT(CheckSecretWritable(agent.get(), "istio-system", "cacerts"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("a dry run of creating Secret istio-system/cacerts was "
                                       "refused"),
                             HasSubstr("secrets need an owner label"))));
}

TEST_F(KubeAccessTest, PatchingIstiodIsChecked) {
  auto agent = Client("agent");
  EXPECT_THAT(CheckDeploymentPatchable(agent.get(), "istio-system", "istiod"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("verb \"patch\" on resource \"deployments.apps\" named "
                                 "\"istiod\" in namespace istio-system")));
  kube_->AddToken("restarter",
                  {"restarter", {KubeRule{"patch", "deployments", "istio-system", "istiod"}}});
  auto restarter = Client("restarter");
  EXPECT_THAT(CheckDeploymentPatchable(restarter.get(), "istio-system", "istiod"), IsOk());
}

TEST(RbacAdviceTest, CreateIsNeverAdvisedByName) {
  std::string advice = RbacAdvice({"create", "", "secrets", "meshtrust-system", ""});
  EXPECT_THAT(advice, HasSubstr("verb \"create\" on resource \"secrets\" in namespace "
                                "meshtrust-system in a rule without resourceNames"));
  EXPECT_THAT(advice, Not(HasSubstr("named")));
  // Even when the caller knows the name the object will have.
  KubeResponse forbidden{403, R"({"kind":"Status","message":"forbidden"})"};
  EXPECT_THAT(
      KubeError(forbidden, "create", "secrets", "meshtrust-system", "meshtrust-agent-identity"),
      StatusIs(absl::StatusCode::kPermissionDenied,
               AllOf(HasSubstr("without resourceNames"),
                     Not(HasSubstr("named \"meshtrust-agent-identity\"")))));
}

}  // namespace
}  // namespace meshtrust::agent
