#include "agent/kube/kube_client.h"

#include <curl/curl.h>
#include <sodium.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/files.h"
#include "base/secret_buffer.h"
#include "base/version.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace meshtrust::agent {
namespace {

constexpr size_t kMaxResponseBytes = 4 * 1024 * 1024;

void EnsureCurl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

absl::StatusOr<std::string> DecodeBase64Field(const std::string& value, absl::string_view field) {
  std::string out(value.size(), '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), value.data(),
                        value.size(), " \r\n\t", &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != value.data() + value.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kubeconfig field ", field, " is not valid base64"));
  }
  out.resize(len);
  return out;
}

// A response body may echo a Secret's keys (the API server answers a PUT or
// POST with the object written): it grows in a buffer that wipes what it
// gives up, sized from Content-Length when the server sends one.
struct Body {
  SecretBuffer data;
  bool too_large = false;
};

size_t WriteBody(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* body = static_cast<Body*>(userdata);
  size_t n = size * nmemb;
  if (body->data.size() + n > kMaxResponseBytes) {
    body->too_large = true;
    return 0;  // Makes curl fail the transfer.
  }
  body->data.Append(absl::string_view(ptr, n));
  return n;
}

size_t ReadHeader(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* body = static_cast<Body*>(userdata);
  size_t n = size * nmemb;
  absl::string_view line(ptr, n);
  constexpr absl::string_view kLength = "content-length:";
  size_t length = 0;
  if (line.size() > kLength.size() &&
      absl::EqualsIgnoreCase(line.substr(0, kLength.size()), kLength) &&
      absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(kLength.size())), &length)) {
    body->data.Reserve(std::min(length, kMaxResponseBytes));
  }
  return n;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// Looks up `name` in a kubeconfig list such as `clusters`.
// A missing entry is nullopt: a default YAML::Node would count as defined.
std::optional<YAML::Node> FindNamed(const YAML::Node& list, const std::string& name,
                                    const char* inner) {
  if (!list || !list.IsSequence()) return std::nullopt;
  for (const auto& item : list) {
    if (item.IsMap() && item["name"] && item["name"].as<std::string>() == name && item[inner] &&
        item[inner].IsMap()) {
      return item[inner];
    }
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<KubeConfig> LoadKubeconfig(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path, 1 << 20);
  if (!text.ok()) return text.status();
  return ParseKubeconfig(*text, path);
}

absl::StatusOr<KubeConfig> ParseKubeconfig(absl::string_view text, absl::string_view path) {
  KubeConfig config;
  try {
    YAML::Node root = YAML::Load(std::string(text));
    if (!root.IsMap())
      return absl::InvalidArgumentError(
          absl::StrCat(path, " is not a kubeconfig (not a YAML map)"));
    std::string context_name =
        root["current-context"] ? root["current-context"].as<std::string>() : "";
    if (context_name.empty())
      return absl::InvalidArgumentError(absl::StrCat(path, " has no current-context"));
    std::optional<YAML::Node> context_entry = FindNamed(root["contexts"], context_name, "context");
    if (!context_entry)
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": context \"", context_name, "\" is not defined"));
    const YAML::Node& context = *context_entry;
    std::string cluster_name = context["cluster"] ? context["cluster"].as<std::string>() : "";
    std::string user_name = context["user"] ? context["user"].as<std::string>() : "";
    std::optional<YAML::Node> cluster_entry = FindNamed(root["clusters"], cluster_name, "cluster");
    if (!cluster_entry || !(*cluster_entry)["server"]) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": cluster \"", cluster_name, "\" has no server"));
    }
    const YAML::Node& cluster = *cluster_entry;
    config.server = cluster["server"].as<std::string>();
    if (!absl::StartsWith(config.server, "https://")) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": server ", config.server,
                       " is not https; meshtrust only talks TLS to the API server"));
    }
    if (cluster["certificate-authority-data"]) {
      absl::StatusOr<std::string> ca = DecodeBase64Field(
          cluster["certificate-authority-data"].as<std::string>(), "certificate-authority-data");
      if (!ca.ok()) return ca.status();
      config.ca_pem = *ca;
    } else if (cluster["certificate-authority"]) {
      absl::StatusOr<std::string> ca =
          ReadFile(cluster["certificate-authority"].as<std::string>(), 1 << 20);
      if (!ca.ok()) return ca.status();
      config.ca_pem = *ca;
    }
    if (std::optional<YAML::Node> user_entry = FindNamed(root["users"], user_name, "user")) {
      const YAML::Node& user = *user_entry;
      if (user["token"]) config.token = user["token"].as<std::string>();
      if (user["tokenFile"]) config.token_file = user["tokenFile"].as<std::string>();
      if (user["client-certificate-data"]) {
        absl::StatusOr<std::string> c = DecodeBase64Field(
            user["client-certificate-data"].as<std::string>(), "client-certificate-data");
        if (!c.ok()) return c.status();
        config.client_cert_pem = *c;
      } else if (user["client-certificate"]) {
        absl::StatusOr<std::string> c =
            ReadFile(user["client-certificate"].as<std::string>(), 1 << 20);
        if (!c.ok()) return c.status();
        config.client_cert_pem = *c;
      }
      if (user["client-key-data"]) {
        absl::StatusOr<std::string> k =
            DecodeBase64Field(user["client-key-data"].as<std::string>(), "client-key-data");
        if (!k.ok()) return k.status();
        config.client_key_pem = SecretBytes::CopyOf(absl::string_view(*k));
        sodium_memzero(k->data(), k->size());
      } else if (user["client-key"]) {
        absl::StatusOr<SecretBytes> k = ReadSecretFile(user["client-key"].as<std::string>());
        if (!k.ok()) return k.status();
        config.client_key_pem = *std::move(k);
      }
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not valid YAML: ", e.what()));
  }
  if (config.token.empty() && config.token_file.empty() && config.client_cert_pem.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": the current user has no token, tokenFile or client certificate"));
  }
  return config;
}

absl::StatusOr<KubeConfig> InClusterConfig(const std::string& sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr) {
    return absl::FailedPreconditionError(
        "not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset); give --kubeconfig");
  }
  KubeConfig config;
  std::string h = host;
  config.server =
      absl::StrCat("https://", h.find(':') != std::string::npos ? "[" + h + "]" : h, ":", port);
  absl::StatusOr<std::string> ca = ReadFile(sa_dir + "/ca.crt", 1 << 20);
  if (!ca.ok()) return ca.status();
  config.ca_pem = *ca;
  config.token_file = sa_dir + "/token";
  if (!PathExists(config.token_file)) {
    return absl::FailedPreconditionError(
        absl::StrCat("service account token ", config.token_file, " is missing"));
  }
  return config;
}

absl::StatusOr<std::unique_ptr<KubeClient>> KubeClient::Create(KubeConfig config,
                                                               std::chrono::milliseconds timeout) {
  EnsureCurl();
  if (config.server.empty())
    return absl::InvalidArgumentError("Kubernetes API server address is empty");
  while (!config.server.empty() && config.server.back() == '/') config.server.pop_back();
  return std::unique_ptr<KubeClient>(new KubeClient(std::move(config), timeout));
}

void KubeResponse::WipeBody() { sodium_memzero(body.data(), body.size()); }

KubeResponse& KubeResponse::operator=(const KubeResponse& other) {
  if (this == &other) return *this;
  WipeBody();
  status = other.status;
  body = other.body;
  return *this;
}

KubeResponse& KubeResponse::operator=(KubeResponse&& other) noexcept {
  if (this == &other) return *this;
  WipeBody();
  status = other.status;
  body = std::move(other.body);
  return *this;
}

KubeClient::~KubeClient() = default;

absl::StatusOr<KubeResponse> KubeClient::Request(absl::string_view method, const std::string& path,
                                                 const std::string& body,
                                                 absl::string_view content_type) {
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (curl == nullptr) return absl::InternalError("cannot initialise libcurl");
  std::string url = config_.server + path;
  std::string method_str(method);
  Body response;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method_str.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, ReadHeader);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &response);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));  // NOLINT
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(timeout_.count()));  // NOLINT
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  // Audit logs and API priority and fairness see who is calling.
  std::string user_agent = absl::StrCat(kFieldManager, "/", kVersion);
  curl_easy_setopt(curl.get(), CURLOPT_USERAGENT, user_agent.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(curl.get(), CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_SSL_VERIFYHOST, 2L);
  curl_blob ca_blob{const_cast<char*>(config_.ca_pem.data()), config_.ca_pem.size(),
                    CURL_BLOB_COPY};
  if (!config_.ca_pem.empty()) curl_easy_setopt(curl.get(), CURLOPT_CAINFO_BLOB, &ca_blob);
  curl_blob cert_blob{const_cast<char*>(config_.client_cert_pem.data()),
                      config_.client_cert_pem.size(), CURL_BLOB_COPY};
  curl_blob key_blob{const_cast<uint8_t*>(config_.client_key_pem.UnsafeSecretView().data()),
                     config_.client_key_pem.size(), CURL_BLOB_NOCOPY};
  if (!config_.client_cert_pem.empty()) {
    curl_easy_setopt(curl.get(), CURLOPT_SSLCERT_BLOB, &cert_blob);
    curl_easy_setopt(curl.get(), CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(curl.get(), CURLOPT_SSLKEY_BLOB, &key_blob);
    curl_easy_setopt(curl.get(), CURLOPT_SSLKEYTYPE, "PEM");
  }
  std::string token = config_.token;
  if (!config_.token_file.empty()) {
    // Re-read on every request: projected service account tokens rotate.
    absl::StatusOr<std::string> t = ReadFile(config_.token_file, 64 * 1024);
    if (!t.ok())
      return absl::UnavailableError(
          absl::StrCat("cannot read the service account token: ", t.status().message()));
    token = std::string(absl::StripAsciiWhitespace(*t));
  }
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  auto add_header = [&headers](const std::string& h) {
    headers.reset(curl_slist_append(headers.release(), h.c_str()));
  };
  add_header("Accept: application/json");
  std::string auth;
  if (!token.empty()) {
    auth = absl::StrCat("Authorization: Bearer ", token);
    add_header(auth);
    sodium_memzero(auth.data(), auth.size());
  }
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    add_header(absl::StrCat("Content-Type: ", content_type));
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));  // NOLINT
  }
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
  CURLcode rc = curl_easy_perform(curl.get());
  sodium_memzero(token.data(), token.size());
  if (response.too_large) {
    return absl::ResourceExhaustedError(absl::StrCat("the Kubernetes API response to ", method, " ",
                                                     path, " exceeded ", kMaxResponseBytes,
                                                     " bytes"));
  }
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    // The server was reached or not, but did not finish in time: a slow or
    // overloaded API server (or a network that drops packets), not a refusal.
    return absl::DeadlineExceededError(absl::StrCat(
        "the Kubernetes API at ", config_.server, " did not answer ", method, " ", path,
        ": timed out after ", static_cast<double>(timeout_.count()) / 1000.0, " s (--timeout)"));
  }
  if (rc != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat("cannot reach the Kubernetes API at ",
                                               config_.server, ": ",
                                               error[0] != '\0' ? error : curl_easy_strerror(rc)));
  }
  KubeResponse out;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &out.status);
  // One allocation of the final size; KubeResponse wipes it when destroyed.
  absl::string_view received = response.data.UnsafeSecretString();
  out.body.assign(received.data(), received.size());
  return out;
}

std::string WriteQuery(bool dry_run) {
  return absl::StrCat("?fieldManager=", kFieldManager, dry_run ? "&dryRun=All" : "");
}

std::string RbacAdvice(const KubeAccess& access) {
  std::string resource =
      access.group.empty() ? access.resource : absl::StrCat(access.resource, ".", access.group);
  if (access.verb == "create") {
    return absl::StrCat("grant the agent's service account the verb \"create\" on resource \"",
                        resource, "\" in namespace ", access.ns,
                        " in a rule without resourceNames (Kubernetes authorizes a create "
                        "before the object has a name, so create cannot be limited by name)");
  }
  return absl::StrCat("grant the agent's service account the verb \"", access.verb,
                      "\" on resource \"", resource, "\"",
                      access.name.empty() ? "" : absl::StrCat(" named \"", access.name, "\""),
                      " in namespace ", access.ns);
}

absl::Status KubeError(const KubeResponse& response, absl::string_view verb,
                       absl::string_view resource, absl::string_view ns, absl::string_view name) {
  std::string server_message;
  nlohmann::json j = nlohmann::json::parse(response.body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("message") && j["message"].is_string()) {
    server_message = j["message"].get<std::string>();
  }
  std::string what = absl::StrCat(verb, " ", resource, " \"", name, "\" in namespace ", ns);
  std::string tail =
      server_message.empty() ? "" : absl::StrCat(" (API server: ", server_message, ")");
  switch (response.status) {
    case 401:
      return absl::UnauthenticatedError(
          absl::StrCat("the Kubernetes API rejected our credentials (401) for ", what,
                       "; the token is invalid or expired", tail));
    case 403: {
      KubeAccess access{std::string(verb), resource == "deployments" ? "apps" : "",
                        std::string(resource), std::string(ns),
                        verb == "create" ? "" : std::string(name)};
      return absl::PermissionDeniedError(
          absl::StrCat("RBAC forbids ", what, " (403): ", RbacAdvice(access), tail));
    }
    case 404:
      return absl::NotFoundError(absl::StrCat(what, " does not exist", tail));
    case 409:
      return absl::AbortedError(absl::StrCat("conflict on ", what, tail));
    case 400:
    case 422:
      return absl::InvalidArgumentError(absl::StrCat("the Kubernetes API refused ", what,
                                                     " as invalid (", response.status, ")", tail));
    default:
      if (response.status >= 500) {
        return absl::UnavailableError(
            absl::StrCat("the Kubernetes API failed ", what, " (", response.status, ")", tail));
      }
      return absl::UnknownError(
          absl::StrCat("unexpected HTTP ", response.status, " for ", what, tail));
  }
}

}  // namespace meshtrust::agent
