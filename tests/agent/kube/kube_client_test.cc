#include "agent/kube/kube_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include "agent/kube/kube_secrets.h"
#include "base/files.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace meshtrust::agent {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::meshtrust::testing::TempDir;
using ::testing::HasSubstr;

TEST(KubeconfigTest, ReadsTokenAndInlineCa) {
  TempDir dir;
  ASSERT_THAT(WriteFileAtomically(dir.Sub("ca.pem"), "CA PEM", 0644), IsOk());
  ASSERT_THAT(
      WriteFileAtomically(
          dir.Sub("config"),
          "apiVersion: v1\nkind: Config\ncurrent-context: b\n"
          "clusters:\n- name: one\n  cluster:\n    server: https://a:1\n"
          "- name: two\n  cluster:\n    server: https://b:2\n    certificate-authority: " +
              dir.Sub("ca.pem") +
              "\ncontexts:\n- name: a\n  context: {cluster: one, user: u1}\n"
              "- name: b\n  context: {cluster: two, user: u2}\n"
              "users:\n- name: u1\n  user: {token: t1}\n- name: u2\n  user: {tokenFile: /tok}\n",
          0600),
      IsOk());
  ASSERT_OK_AND_ASSIGN(KubeConfig c, LoadKubeconfig(dir.Sub("config")));
  EXPECT_EQ(c.server, "https://b:2");
  EXPECT_EQ(c.ca_pem, "CA PEM");
  EXPECT_EQ(c.token_file, "/tok");
  EXPECT_TRUE(c.token.empty());
}

TEST(KubeconfigTest, RejectsBrokenFiles) {
  TempDir dir;
  auto load = [&](const std::string& text) {
    EXPECT_THAT(WriteFileAtomically(dir.Sub("c"), text, 0600), IsOk());
    return LoadKubeconfig(dir.Sub("c"));
  };
  EXPECT_THAT(load("[1, 2"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid YAML")));
  EXPECT_THAT(load("- a\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a YAML map")));
  EXPECT_THAT(load("kind: Config\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no current-context")));
  EXPECT_THAT(load("current-context: x\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"x\" is not defined")));
  EXPECT_THAT(load("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                   "clusters:\n- name: c\n  cluster: {server: 'http://plain:80'}\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not https")));
  EXPECT_THAT(load("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                   "clusters:\n- name: c\n  cluster: {server: 'https://a:1', "
                   "certificate-authority-data: '%%%'}\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid base64")));
  EXPECT_THAT(load("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                   "clusters:\n- name: c\n  cluster: {server: 'https://a:1'}\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no token")));
  EXPECT_THAT(LoadKubeconfig(dir.Sub("missing")),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST(InClusterConfigTest, UsesServiceAccountFiles) {
  TempDir dir;
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  EXPECT_THAT(InClusterConfig(dir.path()),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("--kubeconfig")));
  ::setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  ASSERT_THAT(WriteFileAtomically(dir.Sub("ca.crt"), "CA", 0644), IsOk());
  ASSERT_THAT(WriteFileAtomically(dir.Sub("token"), "tok\n", 0600), IsOk());
  ASSERT_OK_AND_ASSIGN(KubeConfig c, InClusterConfig(dir.path()));
  EXPECT_EQ(c.server, "https://10.0.0.1:443");
  EXPECT_EQ(c.token_file, dir.Sub("token"));
  ::setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  EXPECT_EQ(InClusterConfig(dir.path())->server, "https://[fd00::1]:443");
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
}

TEST(KubeErrorTest, NamesWhatRbacIsMissing) {
  KubeResponse forbidden{403, R"({"kind":"Status","message":"secrets \"cacerts\" is forbidden"})"};
  EXPECT_THAT(
      KubeError(forbidden, "update", "secrets", "istio-system", "cacerts"),
      StatusIs(absl::StatusCode::kPermissionDenied,
               HasSubstr("grant the agent's service account the verb \"update\" on resource "
                         "\"secrets\" named \"cacerts\" in namespace istio-system")));
  EXPECT_THAT(KubeError({401, "{}"}, "get", "secrets", "ns", "x"),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("invalid or expired")));
  EXPECT_THAT(KubeError({409, "{}"}, "update", "secrets", "ns", "x"),
              StatusIs(absl::StatusCode::kAborted, ::testing::_));
  EXPECT_THAT(KubeError({503, "<html>"}, "get", "secrets", "ns", "x"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("(503)")));
}

TEST(KubeClientTest, UnreachableServerIsUnavailable) {
  KubeConfig c;
  c.server = "https://127.0.0.1:1";
  c.token = "t";
  auto client = *KubeClient::Create(std::move(c), std::chrono::seconds(2));
  EXPECT_THAT(
      client->Request("GET", "/version"),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot reach the Kubernetes API")));
}

TEST(ParseSecretTest, DecodesValuesIncludingEmptyOnes) {
  ASSERT_OK_AND_ASSIGN(KubeSecret secret,
                       ParseSecret(R"({"metadata":{"name":"cacerts","resourceVersion":"7",)"
                                   R"("labels":{"app.kubernetes.io/managed-by":"meshtrust"}},)"
                                   R"("data":{"ca-cert.pem":"","root-cert.pem":"cm9vdA=="}})",
                                   "istio-system", "cacerts"));
  EXPECT_EQ(secret.resource_version, "7");
  EXPECT_EQ(secret.labels["app.kubernetes.io/managed-by"], "meshtrust");
  ASSERT_EQ(secret.data.count("ca-cert.pem"), 1u);
  EXPECT_EQ(secret.data.at("ca-cert.pem").size(), 0u);
  EXPECT_EQ(secret.data.at("root-cert.pem").UnsafeSecretString(), "root");
}

TEST(ParseSecretTest, BadValuesAreNamedDataLoss) {
  const auto kDataLoss = absl::StatusCode::kDataLoss;
  EXPECT_THAT(ParseSecret(R"({"metadata":{},"data":{"k":"%%%"}})", "ns", "s"),
              StatusIs(kDataLoss, HasSubstr("secret ns/s key \"k\" is not valid base64")));
  EXPECT_THAT(ParseSecret(R"({"metadata":{},"data":{"k":"cm9vdA"}})", "ns", "s"),
              StatusIs(kDataLoss, HasSubstr("is not valid base64")));
  EXPECT_THAT(ParseSecret(R"({"metadata":{},"data":{"k":5}})", "ns", "s"),
              StatusIs(kDataLoss, HasSubstr("key \"k\" is not a string")));
  EXPECT_THAT(ParseSecret(R"({"data":{}})", "ns", "s"),
              StatusIs(kDataLoss, HasSubstr("malformed JSON for secret ns/s")));
}

}  // namespace
}  // namespace meshtrust::agent
