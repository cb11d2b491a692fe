// The emulator's fidelity, proven with the real kubectl and with raw REST
// calls whose answers match the Kubernetes API's.
#include "tests/kube_emulator/kube_emulator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/kube/kube_client.h"
#include "nlohmann/json.hpp"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace meshtrust::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

class KubeEmulatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = KubeEmulator::Start();
    ASSERT_THAT(e, IsOk());
    emulator_ = *std::move(e);
    emulator_->AddToken("admin", {"kubernetes-admin", {KubeRule{}}});
    emulator_->AddToken("reader", {"system:serviceaccount:istio-system:reader",
                                   {KubeRule{"get", "secrets", "istio-system", "cacerts"}}});
    ASSERT_THAT(emulator_->WriteKubeconfig(dir_.Sub("kubeconfig"), "admin"), IsOk());
    agent::KubeConfig config;
    config.server = emulator_->server_url();
    config.ca_pem = emulator_->ca_pem();
    config.token = "admin";
    client_ = *agent::KubeClient::Create(std::move(config), std::chrono::seconds(5));
  }
  CommandResult Kubectl(const std::string& args) {
    return RunCommand("kubectl --kubeconfig " + dir_.Sub("kubeconfig") + " " + args);
  }
  agent::KubeResponse Call(const std::string& method, const std::string& path,
                           const std::string& body = "",
                           const std::string& type = "application/json") {
    auto r = client_->Request(method, path, body, type);
    EXPECT_THAT(r, IsOk());
    return r.ok() ? *r : agent::KubeResponse{};
  }

  TempDir dir_;
  std::unique_ptr<KubeEmulator> emulator_;
  std::unique_ptr<agent::KubeClient> client_;
};

TEST_F(KubeEmulatorTest, KubectlCreatesGetsAndDeletesASecret) {
  auto created =
      Kubectl("-n istio-system create secret generic demo --from-literal=ca-cert.pem=hello");
  ASSERT_EQ(created.exit_code, 0) << created.output;
  EXPECT_THAT(created.output, HasSubstr("secret/demo created"));

  auto got = Kubectl("-n istio-system get secret demo -o json");
  ASSERT_EQ(got.exit_code, 0) << got.output;
  json j = json::parse(got.output);
  EXPECT_EQ(j["kind"], "Secret");
  EXPECT_EQ(j["metadata"]["name"], "demo");
  EXPECT_EQ(j["metadata"]["namespace"], "istio-system");
  EXPECT_EQ(j["data"]["ca-cert.pem"], "aGVsbG8=");
  EXPECT_FALSE(j["metadata"]["resourceVersion"].get<std::string>().empty());

  auto listed = Kubectl("-n istio-system get secrets");
  EXPECT_THAT(listed.output, HasSubstr("demo"));

  auto deleted = Kubectl("-n istio-system delete secret demo");
  ASSERT_EQ(deleted.exit_code, 0) << deleted.output;
  EXPECT_THAT(deleted.output, HasSubstr("secret \"demo\" deleted"));
  auto gone = Kubectl("-n istio-system get secret demo -o json");
  EXPECT_NE(gone.exit_code, 0);
  EXPECT_THAT(gone.output, HasSubstr("NotFound"));
}

TEST_F(KubeEmulatorTest, KubectlSeesDiscoveryAndConfigMaps) {
  auto version = Kubectl("version -o json");
  EXPECT_THAT(version.output, HasSubstr("v1.30.0-meshtrust-emulator"));
  auto cm = Kubectl("-n istio-system create configmap istio-ca-crl --from-literal=ca-crl.pem=x");
  ASSERT_EQ(cm.exit_code, 0) << cm.output;
  auto got =
      Kubectl("-n istio-system get configmap istio-ca-crl -o 'jsonpath={.data.ca-crl\\.pem}'");
  EXPECT_EQ(got.output, "x");
}

TEST_F(KubeEmulatorTest, ResourceVersionConflictsAndValidation) {
  std::string path = "/api/v1/namespaces/istio-system/secrets";
  auto created = Call("POST", path, R"({"metadata":{"name":"cacerts"},"data":{"a":"YQ=="}})");
  ASSERT_EQ(created.status, 201);
  std::string rv = json::parse(created.body)["metadata"]["resourceVersion"];
  EXPECT_EQ(Call("POST", path, R"({"metadata":{"name":"cacerts"}})").status, 409);

  std::string update = json{
      {"metadata", {{"name", "cacerts"}, {"resourceVersion", rv}}},
      {"data",
       {{"a", "Yg=="}}}}.dump();
  EXPECT_EQ(Call("PUT", path + "/cacerts", update).status, 200);
  auto stale = Call("PUT", path + "/cacerts", update);
  EXPECT_EQ(stale.status, 409);
  EXPECT_THAT(stale.body, HasSubstr("the object has been modified"));

  EXPECT_EQ(Call("GET", path + "/missing").status, 404);
  auto bad64 = Call("POST", path, R"({"metadata":{"name":"bad"},"data":{"a":"not base64!"}})");
  EXPECT_EQ(bad64.status, 422);
  EXPECT_THAT(bad64.body, HasSubstr("illegal base64"));
  EXPECT_EQ(Call("POST", path, R"({"metadata":{"name":"Bad_Name"}})").status, 422);
  EXPECT_EQ(Call("POST", path, "not json").status, 400);

  auto patched = Call("PATCH", path + "/cacerts", R"({"metadata":{"labels":{"x":"y"}}})",
                      "application/merge-patch+json");
  ASSERT_EQ(patched.status, 200);
  EXPECT_EQ(json::parse(patched.body)["metadata"]["labels"]["x"], "y");
  EXPECT_EQ(json::parse(patched.body)["data"]["a"], "Yg==");
}

TEST_F(KubeEmulatorTest, AuthenticationAndRbac) {
  agent::KubeConfig config;
  config.server = emulator_->server_url();
  config.ca_pem = emulator_->ca_pem();
  config.token = "wrong";
  std::string server = config.server, ca = config.ca_pem;
  auto anon = *agent::KubeClient::Create(std::move(config), std::chrono::seconds(5));
  auto r = *anon->Request("GET", "/api/v1/namespaces/istio-system/secrets/cacerts");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(json::parse(r.body)["kind"], "Status");

  agent::KubeConfig reader_config;
  reader_config.server = server;
  reader_config.ca_pem = ca;
  reader_config.token = "reader";
  auto reader = *agent::KubeClient::Create(std::move(reader_config), std::chrono::seconds(5));
  EXPECT_EQ(reader->Request("GET", "/api/v1/namespaces/istio-system/secrets/cacerts")->status, 404);
  auto denied = *reader->Request("GET", "/api/v1/namespaces/istio-system/secrets/other");
  EXPECT_EQ(denied.status, 403);
  EXPECT_THAT(denied.body, HasSubstr("cannot get resource \\\"secrets\\\" in API group \\\"\\\" in "
                                     "the namespace \\\"istio-system\\\""));
}

TEST_F(KubeEmulatorTest, DeploymentsCanBePatched) {
  emulator_->Put("deployments", "istio-system", json::parse(R"({
      "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "istiod"},
      "spec": {"template": {"metadata": {"annotations": {}}}}})"));
  auto patched = Call(
      "PATCH", "/apis/apps/v1/namespaces/istio-system/deployments/istiod",
      R"({"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"now"}}}}})",
      "application/strategic-merge-patch+json");
  ASSERT_EQ(patched.status, 200);
  auto d = emulator_->Get("deployments", "istio-system", "istiod");
  EXPECT_EQ(
      (*d)["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
      "now");
  auto kubectl = Kubectl("-n istio-system rollout restart deployment/istiod");
  EXPECT_EQ(kubectl.exit_code, 0) << kubectl.output;
}

}  // namespace
}  // namespace meshtrust::testing
