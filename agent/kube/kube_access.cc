#include "agent/kube/kube_access.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/kube/kube_secrets.h"
#include "base/logging.h"
#include "nlohmann/json.hpp"

namespace meshtrust::agent {
namespace {

using json = nlohmann::json;

std::string Describe(const KubeAccess& a) {
  return absl::StrCat(a.verb, " ", a.resource, a.name.empty() ? "" : " \"" + a.name + "\"");
}

// The "message" and "details.kind" of a Status object; empty when absent.
std::pair<std::string, std::string> StatusFields(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return {};
  std::string message = j.value("message", json("")).is_string() ? j.value("message", "") : "";
  std::string kind;
  if (j.contains("details") && j["details"].is_object() && j["details"].contains("kind") &&
      j["details"]["kind"].is_string()) {
    kind = j["details"]["kind"];
  }
  return {message, kind};
}

// Reviews every access in `wanted`; kPermissionDenied naming all the refused
// ones. An API server that will not answer reviews is not a refusal: the
// writes themselves (and the dry run) still find what is missing.
absl::Status ReviewAll(KubeClient* client, const std::vector<KubeAccess>& wanted,
                       absl::string_view what) {
  std::vector<std::string> refused, advice;
  for (const KubeAccess& access : wanted) {
    absl::StatusOr<bool> allowed = ReviewAccess(client, access);
    if (absl::IsNotFound(allowed.status()) || absl::IsPermissionDenied(allowed.status())) {
      spdlog::warn("cannot check the agent's permissions for {} in advance: {}", what,
                   allowed.status().message());
      return absl::OkStatus();
    }
    if (!allowed.ok()) return allowed.status();
    if (!*allowed) {
      refused.push_back(Describe(access));
      advice.push_back(RbacAdvice(access));
    }
  }
  if (refused.empty()) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("RBAC does not let the agent ", absl::StrJoin(refused, ", "), " in namespace ",
                   wanted.front().ns, ", which it needs for ", what,
                   " (asked with a SelfSubjectAccessReview): ", absl::StrJoin(advice, "; ")));
}

}  // namespace

absl::StatusOr<bool> ReviewAccess(KubeClient* client, const KubeAccess& access) {
  json review = {{"apiVersion", "authorization.k8s.io/v1"},
                 {"kind", "SelfSubjectAccessReview"},
                 {"spec",
                  {{"resourceAttributes",
                    {{"namespace", access.ns},
                     {"verb", access.verb},
                     {"group", access.group},
                     {"resource", access.resource},
                     {"name", access.name}}}}}};
  absl::StatusOr<KubeResponse> resp = client->Request(
      "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review.dump());
  if (!resp.ok()) return resp.status();
  if (resp->status != 200 && resp->status != 201) {
    absl::Status error =
        KubeError(*resp, "create", "selfsubjectaccessreviews", access.ns, Describe(access));
    if (resp->status == 404) {
      return absl::NotFoundError(absl::StrCat(
          "the API server does not serve SelfSubjectAccessReviews (", error.message(), ")"));
    }
    return error;
  }
  json answer = json::parse(resp->body, nullptr, /*allow_exceptions=*/false);
  if (answer.is_discarded() || !answer.is_object() || !answer.contains("status") ||
      !answer["status"].is_object() || !answer["status"].contains("allowed") ||
      !answer["status"]["allowed"].is_boolean()) {
    return absl::DataLossError("the API server answered a SelfSubjectAccessReview without status");
  }
  return answer["status"]["allowed"].get<bool>();
}

absl::Status CheckSecretWritable(KubeClient* client, const std::string& ns,
                                 const std::string& name) {
  std::string what = absl::StrCat("Secret ", ns, "/", name);
  if (absl::Status s = ReviewAll(
          client,
          {KubeAccess{"get", "", "secrets", ns, name}, KubeAccess{"create", "", "secrets", ns, ""},
           KubeAccess{"update", "", "secrets", ns, name}},
          what);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::optional<KubeSecret>> existing = KubeSecrets(client).Get(ns, name);
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) return absl::OkStatus();  // So is its namespace.
  // Created by the real write later: ask the API server to create it now as
  // a dry run, through admission, storing nothing.
  json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"type", "Opaque"},
                 {"metadata",
                  {{"name", name},
                   {"namespace", ns},
                   {"labels", {{"app.kubernetes.io/managed-by", "meshtrust"}}}}}};
  absl::StatusOr<KubeResponse> resp = client->Request(
      "POST", absl::StrCat("/api/v1/namespaces/", ns, "/secrets", WriteQuery(true)), secret.dump());
  if (!resp.ok()) return resp.status();
  if (resp->status == 200 || resp->status == 201) return absl::OkStatus();
  auto [message, kind] = StatusFields(resp->body);
  if (resp->status == 404 && (kind == "namespaces" || absl::StrContains(message, "namespace"))) {
    return absl::NotFoundError(absl::StrCat("namespace ", ns, " does not exist, so ", what,
                                            " cannot be written: create it (kubectl create "
                                            "namespace ",
                                            ns, ") or name another one"));
  }
  if (resp->status == 409) return absl::OkStatus();  // Created in between: it can be.
  // A webhook with side effects refuses every dry run; the real write may
  // still pass, so this is not a reason to stop.
  if (resp->status == 400 && absl::StrContains(message, "does not support dry run")) {
    spdlog::warn("cannot dry-run creating {}: {}", what, message);
    return absl::OkStatus();
  }
  absl::Status refused = KubeError(*resp, "create", "secrets", ns, name);
  return absl::Status(refused.code(), absl::StrCat("a dry run of creating ", what,
                                                   " was refused, so the real write would be: ",
                                                   refused.message()));
}

absl::Status CheckDeploymentPatchable(KubeClient* client, const std::string& ns,
                                      const std::string& name) {
  return ReviewAll(client, {KubeAccess{"patch", "apps", "deployments", ns, name}},
                   absl::StrCat("restarting Deployment ", ns, "/", name));
}

}  // namespace meshtrust::agent
