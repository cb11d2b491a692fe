// The emulator's fidelity, proven with the real kubectl and with raw REST
// calls whose answers match the Kubernetes API's.
#include "tests/kube_emulator/kube_emulator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sodium.h>

#include "agent/kube/kube_client.h"
#include "base/files.h"
#include "nlohmann/json.hpp"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace meshtrust::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

std::string Base64Of(const std::string& s) {
  std::string out(sodium_base64_encoded_len(s.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(s.data()),
                    s.size(), sodium_base64_VARIANT_ORIGINAL);
  out.pop_back();  // The NUL.
  return out;
}

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

// A refusal as kube-apiserver sends it: a Status object with its code,
// reason and message.
void ExpectStatus(const agent::KubeResponse& r, int code, const std::string& reason,
                  const std::string& message_fragment) {
  EXPECT_EQ(r.status, code) << r.body;
  json j = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_EQ(j["kind"], "Status");
  EXPECT_EQ(j["apiVersion"], "v1");
  EXPECT_EQ(j["status"], "Failure");
  EXPECT_EQ(j["code"], code);
  EXPECT_EQ(j["reason"], reason);
  EXPECT_THAT(j["message"].get<std::string>(), HasSubstr(message_fragment));
}

const char kSecrets[] = "/api/v1/namespaces/istio-system/secrets";

TEST_F(KubeEmulatorTest, SecretDataIsLimitedToOneMebibyte) {
  std::string exactly = Base64Of(std::string(1 << 20, 'x'));
  auto at_limit =
      Call("POST", kSecrets,
           json{{"metadata", {{"name", "at-limit"}}}, {"data", {{"a", exactly}}}}.dump());
  EXPECT_EQ(at_limit.status, 201) << at_limit.body.substr(0, 300);
  // The limit is on the values' total, not on any one of them.
  std::string half = Base64Of(std::string((1 << 19) + 1, 'x'));
  auto over =
      Call("POST", kSecrets,
           json{{"metadata", {{"name", "over"}}}, {"data", {{"a", half}, {"b", half}}}}.dump());
  ExpectStatus(over, 422, "Invalid",
               "Secret \"over\" is invalid: data: Too long: must have at most 1048576 bytes");
  EXPECT_FALSE(emulator_->Get("secrets", "istio-system", "over").has_value());
  EXPECT_EQ(json::parse(over.body)["details"]["causes"][0]["field"], "data");

  // And through kubectl.
  std::string big = dir_.Sub("big");
  ASSERT_THAT(WriteFileAtomically(big, std::string((1 << 20) + 1, 'y'), 0600), IsOk());
  auto kubectl = Kubectl("-n istio-system create secret generic big --from-file=ca-crl.pem=" + big);
  EXPECT_NE(kubectl.exit_code, 0);
  EXPECT_THAT(kubectl.output, HasSubstr("Too long: must have at most 1048576 bytes"));
}

TEST_F(KubeEmulatorTest, BodyMustAgreeWithTheUrl) {
  ExpectStatus(
      Call("POST", kSecrets,
           R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"a","namespace":"default"}})"),
      400, "BadRequest",
      "the namespace of the provided object does not match the namespace sent on the "
      "request");
  ExpectStatus(
      Call("POST", kSecrets, R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}})"),
      400, "BadRequest", "ConfigMap in version \"v1\" cannot be handled as a Secret");
  ExpectStatus(
      Call("POST", kSecrets, R"({"apiVersion":"apps/v1","kind":"Secret","metadata":{"name":"a"}})"),
      400, "BadRequest",
      "the API version in the data (apps/v1) does not match the expected API version (v1)");
  ExpectStatus(Call("POST", kSecrets, R"({"metadata":{"name":"a","resourceVersion":"7"}})"), 400,
               "BadRequest", "resourceVersion should not be set on objects to be created");
  ASSERT_EQ(Call("POST", kSecrets, R"({"metadata":{"name":"a"}})").status, 201);
  ExpectStatus(Call("PUT", std::string(kSecrets) + "/a",
                    R"({"metadata":{"name":"a","namespace":"kube-system"}})"),
               400, "BadRequest", "does not match the namespace sent on the request");
}

TEST_F(KubeEmulatorTest, MediaTypesAreChecked) {
  ExpectStatus(Call("POST", kSecrets, R"({"metadata":{"name":"a"}})", "text/plain"), 415,
               "UnsupportedMediaType", "the body of the request was in an unknown format");
  ASSERT_EQ(
      Call("POST", kSecrets, R"({"metadata":{"name":"a"}})", "application/json; charset=utf-8")
          .status,
      201);
  ExpectStatus(Call("PATCH", std::string(kSecrets) + "/a", R"({"metadata":{}})"), 415,
               "UnsupportedMediaType", "application/strategic-merge-patch+json");
  ExpectStatus(Call("PATCH", std::string(kSecrets) + "/a", "a: b", "application/apply-patch+yaml"),
               415, "UnsupportedMediaType", "unknown format");
}

TEST_F(KubeEmulatorTest, LabelAnnotationAndDataKeysAreValidated) {
  auto post = [&](const json& metadata, const json& data) {
    json body = {{"metadata", metadata}, {"data", data}};
    body["metadata"]["name"] = "v";
    return Call("POST", kSecrets, body.dump());
  };
  ExpectStatus(post({{"labels", {{"bad key", "x"}}}}, json::object()), 422, "Invalid",
               "Secret \"v\" is invalid: metadata.labels: Invalid value: \"bad key\": name part "
               "must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
               "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
               "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
  ExpectStatus(post({{"labels", {{"ok", std::string(64, 'a')}}}}, json::object()), 422, "Invalid",
               "metadata.labels[ok]: Invalid value: \"" + std::string(64, 'a') +
                   "\": must be no more than 63 characters");
  ExpectStatus(post({{"labels", {{"ok", "-x"}}}}, json::object()), 422, "Invalid",
               "a valid label must be an empty string or consist of alphanumeric characters");
  ExpectStatus(post({{"annotations", {{"Bad_Prefix/x", "1"}}}}, json::object()), 422, "Invalid",
               "metadata.annotations: Invalid value: \"Bad_Prefix/x\": prefix part a lowercase "
               "RFC 1123 subdomain must consist of");
  ExpectStatus(post({{"annotations", {{"a/b/c", "1"}}}}, json::object()), 422, "Invalid",
               "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
  ExpectStatus(post({{"annotations", {{"big", std::string(256 * 1024, 'x')}}}}, json::object()),
               422, "Invalid", "metadata.annotations: Too long: must have at most 262144 bytes");
  ExpectStatus(post(json::object(), {{"ca cert.pem", "YQ=="}}), 422, "Invalid",
               "data[ca cert.pem]: Invalid value: \"ca cert.pem\": a valid config key must consist "
               "of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
               "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')");
  ExpectStatus(post(json::object(), {{"..x", "YQ=="}}), 422, "Invalid", "must not start with '..'");
  // Several errors are listed together, each a cause.
  auto two = post({{"labels", {{"a b", "c d"}}}}, json::object());
  ExpectStatus(two, 422, "Invalid", "Secret \"v\" is invalid: [metadata.labels: Invalid value");
  EXPECT_EQ(json::parse(two.body)["details"]["causes"].size(), 2u);
  // What meshtrust itself writes is valid.
  EXPECT_EQ(post({{"labels", {{"app.kubernetes.io/managed-by", "meshtrust"}}},
                  {"annotations", {{"meshtrust.io/serial", "00ff"}}}},
                 {{"ca-cert.pem", "YQ=="}, {"ca_key.PEM", "YQ=="}})
                .status,
            201);
}

TEST_F(KubeEmulatorTest, APatchWithAStaleResourceVersionConflicts) {
  auto created = Call("POST", kSecrets, R"({"metadata":{"name":"p"},"data":{"a":"YQ=="}})");
  ASSERT_EQ(created.status, 201);
  std::string rv = json::parse(created.body)["metadata"]["resourceVersion"];
  std::string path = std::string(kSecrets) + "/p";
  auto fresh = Call("PATCH", path,
                    json{{"metadata", {{"resourceVersion", rv}, {"labels", {{"x", "1"}}}}}}.dump(),
                    "application/merge-patch+json");
  ASSERT_EQ(fresh.status, 200) << fresh.body;
  ExpectStatus(Call("PATCH", path,
                    json{{"metadata", {{"resourceVersion", rv}, {"labels", {{"x", "2"}}}}}}.dump(),
                    "application/merge-patch+json"),
               409, "Conflict", "the object has been modified");
  EXPECT_EQ((*emulator_->Get("secrets", "istio-system", "p"))["metadata"]["labels"]["x"], "1");
}

TEST_F(KubeEmulatorTest, DryRunValidatesAndStoresNothing) {
  auto dry = Call("POST", std::string(kSecrets) + "?dryRun=All",
                  R"({"metadata":{"name":"d"},"data":{"a":"YQ=="}})");
  ASSERT_EQ(dry.status, 201) << dry.body;
  EXPECT_EQ(json::parse(dry.body)["metadata"]["name"], "d");
  EXPECT_FALSE(emulator_->Get("secrets", "istio-system", "d").has_value());
  ExpectStatus(Call("POST", std::string(kSecrets) + "?dryRun=All",
                    R"({"metadata":{"name":"d"},"data":{"a b":"YQ=="}})"),
               422, "Invalid", "a valid config key");
  ExpectStatus(Call("POST", std::string(kSecrets) + "?dryRun=Some", R"({"metadata":{"name":"d"}})"),
               400, "BadRequest", "dryRun: Unsupported value: \"Some\"");

  ASSERT_EQ(Call("POST", kSecrets, R"({"metadata":{"name":"d"},"data":{"a":"YQ=="}})").status, 201);
  json before = *emulator_->Get("secrets", "istio-system", "d");
  auto dry_update = Call("PUT", std::string(kSecrets) + "/d?dryRun=All",
                         R"({"metadata":{"name":"d"},"data":{"a":"Yg=="}})");
  ASSERT_EQ(dry_update.status, 200) << dry_update.body;
  EXPECT_EQ(json::parse(dry_update.body)["data"]["a"], "Yg==");
  EXPECT_EQ(*emulator_->Get("secrets", "istio-system", "d"), before);

  auto kubectl = Kubectl(
      "-n istio-system create secret generic by-kubectl "
      "--from-literal=a=b --dry-run=server -o json");
  ASSERT_EQ(kubectl.exit_code, 0) << kubectl.output;
  EXPECT_FALSE(emulator_->Get("secrets", "istio-system", "by-kubectl").has_value());
}

TEST_F(KubeEmulatorTest, FieldManagersAreRecorded) {
  ASSERT_EQ(Call("POST", std::string(kSecrets) + "?fieldManager=meshtrust-agent",
                 R"({"metadata":{"name":"f"}})")
                .status,
            201);
  auto created = emulator_->Get("secrets", "istio-system", "f");
  ASSERT_EQ((*created)["metadata"]["managedFields"].size(), 1u);
  EXPECT_EQ((*created)["metadata"]["managedFields"][0]["manager"], "meshtrust-agent");
  EXPECT_EQ((*created)["metadata"]["managedFields"][0]["operation"], "Update");
  ASSERT_EQ(Kubectl("-n istio-system label secret f x=y").exit_code, 0);
  auto labelled = emulator_->Get("secrets", "istio-system", "f");
  std::vector<std::string> managers;
  for (const json& m : (*labelled)["metadata"]["managedFields"]) managers.push_back(m["manager"]);
  EXPECT_THAT(managers, ::testing::ElementsAre("meshtrust-agent", "kubectl-label"));
  ExpectStatus(Call("POST", std::string(kSecrets) + "?fieldManager=" + std::string(129, 'm'),
                    R"({"metadata":{"name":"g"}})"),
               400, "BadRequest", "fieldManager: Too long: must have at most 128 bytes");
}

TEST_F(KubeEmulatorTest, StrategicMergePatchMergesListsByNameMergePatchReplacesThem) {
  json deployment = json::parse(R"({
      "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "istiod"},
      "spec": {"template": {"spec": {"containers": [
          {"name": "discovery", "image": "istio/pilot:1.20"},
          {"name": "sidecar", "image": "envoy:1"}]}}}})");
  std::string path = "/apis/apps/v1/namespaces/istio-system/deployments/istiod";
  std::string patch =
      R"({"spec":{"template":{"spec":{"containers":[{"name":"discovery","image":"istio/pilot:1.21"}]}}}})";
  emulator_->Put("deployments", "istio-system", deployment);
  ASSERT_EQ(Call("PATCH", path, patch, "application/strategic-merge-patch+json").status, 200);
  json merged =
      (*emulator_->Get("deployments", "istio-system", "istiod"))["spec"]["template"]["spec"];
  ASSERT_EQ(merged["containers"].size(), 2u);
  EXPECT_EQ(merged["containers"][0]["image"], "istio/pilot:1.21");
  EXPECT_EQ(merged["containers"][1]["name"], "sidecar");

  emulator_->Put("deployments", "istio-system", deployment);
  ASSERT_EQ(Call("PATCH", path, patch, "application/merge-patch+json").status, 200);
  json replaced =
      (*emulator_->Get("deployments", "istio-system", "istiod"))["spec"]["template"]["spec"];
  ASSERT_EQ(replaced["containers"].size(), 1u);
  EXPECT_EQ(replaced["containers"][0],
            json({{"name", "discovery"}, {"image", "istio/pilot:1.21"}}));

  // The delete directive and a JSON patch.
  emulator_->Put("deployments", "istio-system", deployment);
  ASSERT_EQ(
      Call(
          "PATCH", path,
          R"({"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}})",
          "application/strategic-merge-patch+json")
          .status,
      200);
  EXPECT_EQ((*emulator_->Get("deployments", "istio-system",
                             "istiod"))["spec"]["template"]["spec"]["containers"]
                .size(),
            1u);
  ASSERT_EQ(
      Call("PATCH", path,
           R"([{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"x"}])",
           "application/json-patch+json")
          .status,
      200);
  EXPECT_EQ((*emulator_->Get("deployments", "istio-system",
                             "istiod"))["spec"]["template"]["spec"]["containers"][0]["image"],
            "x");
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

TEST_F(KubeEmulatorTest, WritesNeedTheirNamespaceToExist) {
  auto created = Kubectl("create namespace team-a");
  ASSERT_EQ(created.exit_code, 0) << created.output;
  EXPECT_THAT(created.output, HasSubstr("namespace/team-a created"));
  EXPECT_THAT(Kubectl("get namespaces").output, HasSubstr("team-a"));
  EXPECT_THAT(Kubectl("get namespace team-a -o json").output, HasSubstr("\"phase\": \"Active\""));
  ASSERT_EQ(Kubectl("-n team-a create secret generic s --from-literal=a=b").exit_code, 0);
  auto deleted = Kubectl("delete namespace team-a");
  ASSERT_EQ(deleted.exit_code, 0) << deleted.output;
  EXPECT_FALSE(emulator_->Get("secrets", "team-a", "s").has_value());

  std::string path = "/api/v1/namespaces/team-a/secrets";
  // A dry run is admitted like the write, so it is refused too, and
  // authorization still comes first.
  for (const std::string& query : {std::string(), std::string("?dryRun=All")}) {
    ExpectStatus(Call("POST", path + query, R"({"metadata":{"name":"s"}})"), 404, "NotFound",
                 "namespaces \"team-a\" not found");
  }
  auto kubectl = Kubectl("-n team-a create secret generic s --from-literal=a=b");
  EXPECT_NE(kubectl.exit_code, 0);
  EXPECT_THAT(kubectl.output, HasSubstr("namespaces \"team-a\" not found"));
  ExpectStatus(Call("GET", "/api/v1/namespaces/team-a"), 404, "NotFound",
               "namespaces \"team-a\" not found");
  // Reading a Secret there is an ordinary 404 for the Secret.
  ExpectStatus(Call("GET", path + "/s"), 404, "NotFound", "secrets \"s\" not found");
  emulator_->CreateNamespace("team-a");
  EXPECT_EQ(Call("POST", path, R"({"metadata":{"name":"s"}})").status, 201);
}

TEST_F(KubeEmulatorTest, SelfSubjectAccessReviewsAnswerFromTheRbacRules) {
  agent::KubeConfig config;
  config.server = emulator_->server_url();
  config.ca_pem = emulator_->ca_pem();
  config.token = "reader";
  auto reader = *agent::KubeClient::Create(std::move(config), std::chrono::seconds(5));
  auto review = [&](const json& attributes) {
    json body = {{"apiVersion", "authorization.k8s.io/v1"},
                 {"kind", "SelfSubjectAccessReview"},
                 {"spec", {{"resourceAttributes", attributes}}}};
    auto r = reader->Request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                             body.dump());
    EXPECT_THAT(r, IsOk());
    EXPECT_EQ(r->status, 201) << r->body;
    return json::parse(r->body)["status"]["allowed"].get<bool>();
  };
  EXPECT_TRUE(review({{"namespace", "istio-system"},
                      {"verb", "get"},
                      {"resource", "secrets"},
                      {"name", "cacerts"}}));
  EXPECT_FALSE(review({{"namespace", "istio-system"},
                       {"verb", "get"},
                       {"resource", "secrets"},
                       {"name", "other"}}));
  EXPECT_FALSE(review({{"namespace", "istio-system"},
                       {"verb", "update"},
                       {"resource", "secrets"},
                       {"name", "cacerts"}}));
  // Answered, not stored: nothing else changes.
  EXPECT_FALSE(emulator_->Get("secrets", "istio-system", "cacerts").has_value());

  // kubectl asks the same way.
  ASSERT_THAT(emulator_->WriteKubeconfig(dir_.Sub("reader.kubeconfig"), "reader"), IsOk());
  auto can = RunCommand("kubectl --kubeconfig " + dir_.Sub("reader.kubeconfig") +
                        " -n istio-system auth can-i get secrets/cacerts");
  EXPECT_EQ(can.exit_code, 0) << can.output;
  EXPECT_THAT(can.output, HasSubstr("yes"));
  auto cannot = RunCommand("kubectl --kubeconfig " + dir_.Sub("reader.kubeconfig") +
                           " -n istio-system auth can-i create secrets");
  EXPECT_NE(cannot.exit_code, 0);
  EXPECT_THAT(cannot.output, HasSubstr("no"));
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
