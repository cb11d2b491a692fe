#include "agent/kube/kube_secrets.h"

#include <sodium.h>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace meshtrust::agent {
namespace {

using json = nlohmann::json;

std::string SecretsPath(const std::string& ns) {
  return absl::StrCat("/api/v1/namespaces/", ns, "/secrets");
}

// Wipes a std::string that held secret material before it is freed.
void Wipe(std::string* s) { sodium_memzero(s->data(), s->size()); }

}  // namespace

absl::StatusOr<KubeSecret> ParseSecret(absl::string_view body, absl::string_view ns,
                                       absl::string_view name) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("metadata") || !j["metadata"].is_object()) {
    return absl::DataLossError(
        absl::StrCat("the Kubernetes API returned malformed JSON for secret ", ns, "/", name));
  }
  // The tree holds the values' base64 (key material for cacerts); wipe it
  // however this function returns.
  absl::Cleanup wipe_tree = [&j] {
    if (!j.contains("data") || !j["data"].is_object()) return;
    for (auto& [k, v] : j["data"].items()) {
      if (v.is_string()) Wipe(v.get_ptr<std::string*>());
    }
  };
  KubeSecret secret;
  secret.name = std::string(name);
  const json& meta = j["metadata"];
  if (meta.contains("resourceVersion") && meta["resourceVersion"].is_string()) {
    secret.resource_version = meta["resourceVersion"];
  }
  for (const char* field : {"labels", "annotations"}) {
    if (!meta.contains(field) || !meta[field].is_object()) continue;
    for (auto& [k, v] : meta[field].items()) {
      if (v.is_string()) (field[0] == 'l' ? secret.labels : secret.annotations)[k] = v;
    }
  }
  if (j.contains("data") && j["data"].is_object()) {
    for (auto& [k, v] : j["data"].items()) {
      if (!v.is_string()) {
        return absl::DataLossError(absl::StrCat("secret ", ns, "/", name, " key \"",
                                                absl::CHexEscape(k), "\" is not a string"));
      }
      const std::string& b64 = *v.get_ptr<const std::string*>();
      SecretBytes decoded(b64.size());
      size_t len = 0;
      const char* end = nullptr;
      // An empty value is an empty key (an empty SecretBytes has no buffer to
      // decode into).
      if (!b64.empty() && (sodium_base642bin(decoded.UnsafeSecretView().data(), decoded.size(),
                                             b64.data(), b64.size(), nullptr, &len, &end,
                                             sodium_base64_VARIANT_ORIGINAL) != 0 ||
                           end != b64.data() + b64.size())) {
        return absl::DataLossError(absl::StrCat("secret ", ns, "/", name, " key \"",
                                                absl::CHexEscape(k), "\" is not valid base64"));
      }
      decoded.Truncate(len);
      secret.data.emplace(k, std::move(decoded));
    }
  }
  return secret;
}

absl::StatusOr<std::optional<KubeSecret>> KubeSecrets::Get(const std::string& ns,
                                                           const std::string& name) {
  absl::StatusOr<KubeResponse> resp =
      client_->Request("GET", absl::StrCat(SecretsPath(ns), "/", name));
  if (!resp.ok()) return resp.status();
  if (resp->status == 404) return std::nullopt;
  if (resp->status != 200) return KubeError(*resp, "get", "secrets", ns, name);
  absl::StatusOr<KubeSecret> secret = ParseSecret(resp->body, ns, name);
  Wipe(&resp->body);
  if (!secret.ok()) return secret.status();
  return *std::move(secret);
}

absl::Status KubeSecrets::Write(const std::string& ns, const KubeSecret& secret) {
  json j;
  j["apiVersion"] = "v1";
  j["kind"] = "Secret";
  j["type"] = "Opaque";
  j["metadata"]["name"] = secret.name;
  j["metadata"]["namespace"] = ns;
  if (!secret.resource_version.empty()) j["metadata"]["resourceVersion"] = secret.resource_version;
  for (const auto& [k, v] : secret.labels) j["metadata"]["labels"][k] = v;
  for (const auto& [k, v] : secret.annotations) j["metadata"]["annotations"][k] = v;
  j["data"] = json::object();
  for (const auto& [k, v] : secret.data) {
    std::string b64(sodium_base64_encoded_len(v.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(b64.data(), b64.size(), v.UnsafeSecretView().data(), v.size(),
                      sodium_base64_VARIANT_ORIGINAL);
    b64.pop_back();
    j["data"][k] = b64;
    Wipe(&b64);
  }
  std::string body = j.dump();
  // The JSON tree held base64 of the key; overwrite it before it is freed.
  for (auto& [k, v] : j["data"].items()) Wipe(v.get_ptr<std::string*>());
  bool create = secret.resource_version.empty();
  // The API server records who wrote which fields (metadata.managedFields);
  // name ourselves rather than leave it to guess from the User-Agent.
  absl::StatusOr<KubeResponse> resp =
      create ? client_->Request("POST", absl::StrCat(SecretsPath(ns), WriteQuery()), body)
             : client_->Request(
                   "PUT", absl::StrCat(SecretsPath(ns), "/", secret.name, WriteQuery()), body);
  Wipe(&body);
  if (!resp.ok()) return resp.status();
  if (resp->status == 200 || resp->status == 201) return absl::OkStatus();
  return KubeError(*resp, create ? "create" : "update", "secrets", ns, secret.name);
}

}  // namespace meshtrust::agent
