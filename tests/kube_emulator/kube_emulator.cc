#include "tests/kube_emulator/kube_emulator.h"

#include <sodium.h>

#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/files.h"
#include "net/tls.h"
#include "pki/certificate.h"
#include "pki/key.h"

namespace meshtrust::testing {
namespace {

using json = nlohmann::json;

struct ResourceInfo {
  const char* kind;
  const char* group_version;
};

const std::map<std::string, ResourceInfo>& Resources() {
  static const auto* kResources = new std::map<std::string, ResourceInfo>{
      {"secrets", {"Secret", "v1"}},
      {"configmaps", {"ConfigMap", "v1"}},
      {"deployments", {"Deployment", "apps/v1"}},
  };
  return *kResources;
}

HttpResponse Json(int status, const json& body) {
  return {status, "application/json", body.dump()};
}

HttpResponse StatusResponse(int code, const std::string& reason, const std::string& message,
                            const std::string& name = "", const std::string& kind = "") {
  json s = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
            {"status", "Failure"}, {"message", message}, {"reason", reason},
            {"code", code}};
  if (!name.empty() || !kind.empty()) s["details"] = {{"name", name}, {"kind", kind}};
  return Json(code, s);
}

bool IsDnsSubdomain(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  }
  return name.front() != '-' && name.back() != '-' && name.front() != '.' && name.back() != '.';
}

bool IsBase64(const std::string& s) {
  std::string out(s.size(), '\0');
  size_t len = 0;
  const char* end = nullptr;
  return sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), s.data(),
                           s.size(), nullptr, &len, &end, sodium_base64_VARIANT_ORIGINAL) == 0 &&
         end == s.data() + s.size();
}

std::string Base64(const std::string& s) {
  std::string out(sodium_base64_encoded_len(s.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(s.data()),
                    s.size(), sodium_base64_VARIANT_ORIGINAL);
  out.pop_back();
  return out;
}

// RFC 7386 JSON merge patch (also used for strategic merge patches, which
// agree with it for the maps meshtrust patches).
void MergePatch(json* target, const json& patch) {
  if (!patch.is_object()) {
    *target = patch;
    return;
  }
  if (!target->is_object()) *target = json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (it.value().is_null()) {
      target->erase(it.key());
    } else {
      MergePatch(&(*target)[it.key()], it.value());
    }
  }
}

bool Allowed(const KubeUser& user, const std::string& verb, const std::string& resource,
             const std::string& ns, const std::string& name) {
  for (const KubeRule& r : user.rules) {
    bool verb_ok = r.verbs == "*";
    for (absl::string_view v : absl::StrSplit(r.verbs, ',')) verb_ok = verb_ok || v == verb;
    if (verb_ok && (r.resource == "*" || r.resource == resource) && (r.ns == "*" || r.ns == ns) &&
        (r.name == "*" || r.name == name)) {
      return true;
    }
  }
  return false;
}

std::string Now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

absl::StatusOr<std::unique_ptr<KubeEmulator>> KubeEmulator::Start(int port) {
  std::unique_ptr<KubeEmulator> e(new KubeEmulator());
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> ca_key =
      pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  if (!ca_key.ok()) return ca_key.status();
  auto now = std::chrono::system_clock::now();
  pki::CertificateTemplate ca;
  ca.subject = {{"CN", "kube-emulator-ca"}};
  ca.not_before = now - std::chrono::hours(1);
  ca.not_after = now + std::chrono::hours(24 * 30);
  ca.is_ca = true;
  ca.key_usage = pki::kKeyCertSign | pki::kCrlSign;
  absl::StatusOr<ossl::UniquePtr<X509>> ca_cert =
      pki::IssueCertificate(ca, ca_key->get(), nullptr, ca_key->get());
  if (!ca_cert.ok()) return ca_cert.status();
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> key = pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  if (!key.ok()) return key.status();
  pki::CertificateTemplate leaf;
  leaf.subject = {{"CN", "kube-apiserver"}};
  leaf.not_before = ca.not_before;
  leaf.not_after = ca.not_after;
  leaf.key_usage = pki::kDigitalSignature;
  leaf.extended_key_usage = {pki::ExtendedKeyUsage::kServerAuth};
  leaf.dns_names = {"localhost", "kubernetes.default.svc"};
  leaf.ip_addresses = {"127.0.0.1"};
  absl::StatusOr<ossl::UniquePtr<X509>> cert =
      pki::IssueCertificate(leaf, key->get(), ca_cert->get(), ca_key->get());
  if (!cert.ok()) return cert.status();
  e->ca_pem_ = pki::CertificatePem(ca_cert->get());
  KubeEmulator* self = e.get();
  absl::StatusOr<ossl::UniquePtr<SSL_CTX>> ctx =
      net::NewTlsServerContext(pki::CertificatePem(cert->get()) + e->ca_pem_, key->get());
  if (!ctx.ok()) return ctx.status();
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::StartTls(absl::StrCat("127.0.0.1:", port), *std::move(ctx),
                           [self](const HttpRequest& req) { return self->Handle(req); });
  if (!server.ok()) return server.status();
  e->server_ = *std::move(server);
  return e;
}

KubeEmulator::~KubeEmulator() {
  if (server_ != nullptr) server_->Stop();
}

std::string KubeEmulator::server_url() const {
  return absl::StrCat("https://127.0.0.1:", server_->port());
}

void KubeEmulator::AddToken(const std::string& token, KubeUser user) {
  absl::MutexLock lock(&mu_);
  tokens_[token] = std::move(user);
}

absl::Status KubeEmulator::WriteKubeconfig(const std::string& path,
                                           const std::string& token) const {
  std::string yaml = absl::StrCat(
      "apiVersion: v1\nkind: Config\ncurrent-context: emulator\nclusters:\n- name: emulator\n"
      "  cluster:\n    server: ",
      server_url(), "\n    certificate-authority-data: ", Base64(ca_pem_),
      "\ncontexts:\n- name: emulator\n  context:\n    cluster: emulator\n    user: emulator\n"
      "users:\n- name: emulator\n  user:\n    token: ",
      token, "\n");
  return WriteFileAtomically(path, yaml, 0600);
}

void KubeEmulator::Put(const std::string& resource, const std::string& ns, json object) {
  absl::MutexLock lock(&mu_);
  object["metadata"]["namespace"] = ns;
  object["metadata"]["resourceVersion"] = std::to_string(++resource_version_);
  if (!object["metadata"].contains("uid"))
    object["metadata"]["uid"] = absl::StrCat("uid-", resource_version_);
  if (!object["metadata"].contains("creationTimestamp"))
    object["metadata"]["creationTimestamp"] = Now();
  std::string name = object["metadata"]["name"];
  objects_[resource][ns + "/" + name] = std::move(object);
}

std::optional<json> KubeEmulator::Get(const std::string& resource, const std::string& ns,
                                      const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto r = objects_.find(resource);
  if (r == objects_.end()) return std::nullopt;
  auto o = r->second.find(ns + "/" + name);
  if (o == r->second.end()) return std::nullopt;
  return o->second;
}

void KubeEmulator::SetFault(Fault fault) {
  absl::MutexLock lock(&mu_);
  fault_ = std::move(fault);
}

std::vector<std::string> KubeEmulator::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

HttpResponse KubeEmulator::Handle(const HttpRequest& req) {
  Fault fault;
  {
    absl::MutexLock lock(&mu_);
    requests_.push_back(req.method + " " + req.path);
    fault = fault_;
  }
  if (fault) {
    if (std::optional<HttpResponse> injected = fault(req)) return *injected;
  }
  // Authentication.
  std::string auth = req.Header("authorization");
  KubeUser user;
  {
    absl::MutexLock lock(&mu_);
    auto it = absl::StartsWith(auth, "Bearer ") ? tokens_.find(auth.substr(7)) : tokens_.end();
    if (it == tokens_.end()) return StatusResponse(401, "Unauthorized", "Unauthorized");
    user = it->second;
  }
  // Discovery.
  if (req.method == "GET" && req.path == "/version") {
    return Json(200, {{"major", "1"},
                      {"minor", "30"},
                      {"gitVersion", "v1.30.0-meshtrust-emulator"},
                      {"platform", "linux/amd64"}});
  }
  if (req.method == "GET" && req.path == "/api") {
    return Json(200, {{"kind", "APIVersions"},
                      {"versions", {"v1"}},
                      {"serverAddressByClientCIDRs",
                       {{{"clientCIDR", "0.0.0.0/0"},
                         {"serverAddress", absl::StrCat("127.0.0.1:", server_->port())}}}}});
  }
  if (req.method == "GET" && req.path == "/apis") {
    json apps = {{"name", "apps"},
                 {"versions", {{{"groupVersion", "apps/v1"}, {"version", "v1"}}}},
                 {"preferredVersion", {{"groupVersion", "apps/v1"}, {"version", "v1"}}}};
    return Json(200, {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", {apps}}});
  }
  auto resource_entry = [](const char* name, const char* kind, bool namespaced) {
    return json{{"name", name},
                {"singularName", ""},
                {"namespaced", namespaced},
                {"kind", kind},
                {"verbs", {"create", "delete", "get", "list", "patch", "update"}}};
  };
  if (req.method == "GET" && req.path == "/api/v1") {
    return Json(200, {{"kind", "APIResourceList"},
                      {"groupVersion", "v1"},
                      {"resources",
                       {resource_entry("secrets", "Secret", true),
                        resource_entry("configmaps", "ConfigMap", true),
                        resource_entry("namespaces", "Namespace", false)}}});
  }
  if (req.method == "GET" && req.path == "/apis/apps/v1") {
    return Json(200, {{"kind", "APIResourceList"},
                      {"apiVersion", "v1"},
                      {"groupVersion", "apps/v1"},
                      {"resources", {resource_entry("deployments", "Deployment", true)}}});
  }
  // Objects: /api/v1/namespaces/NS/RES[/NAME] and /apis/apps/v1/namespaces/NS/RES[/NAME].
  std::vector<std::string> parts = absl::StrSplit(req.path, '/', absl::SkipEmpty());
  std::string gv;
  size_t i = 0;
  if (parts.size() >= 2 && parts[0] == "api" && parts[1] == "v1") {
    gv = "v1";
    i = 2;
  } else if (parts.size() >= 3 && parts[0] == "apis" && parts[1] == "apps" && parts[2] == "v1") {
    gv = "apps/v1";
    i = 3;
  }
  if (!gv.empty() && parts.size() >= i + 2 && parts[i] == "namespaces") {
    std::string ns = parts[i + 1];
    if (parts.size() == i + 2) {
      if (!Allowed(user, "get", "namespaces", "", ns)) {
        return StatusResponse(
            403, "Forbidden",
            absl::StrCat(
                "namespaces \"", ns, "\" is forbidden: User \"", user.name,
                "\" cannot get resource \"namespaces\" in API group \"\" at the cluster scope"),
            ns, "namespaces");
      }
      return Json(200, {{"kind", "Namespace"},
                        {"apiVersion", "v1"},
                        {"metadata", {{"name", ns}}},
                        {"status", {{"phase", "Active"}}}});
    }
    if (parts.size() == i + 3 || parts.size() == i + 4) {
      std::string resource = parts[i + 2];
      std::string name = parts.size() == i + 4 ? parts[i + 3] : "";
      auto info = Resources().find(resource);
      if (info != Resources().end() && info->second.group_version == gv) {
        return HandleObject(req, user, gv, ns, resource, name);
      }
    }
  }
  return StatusResponse(404, "NotFound", "the server could not find the requested resource");
}

HttpResponse KubeEmulator::HandleObject(const HttpRequest& req, const KubeUser& user,
                                        const std::string& gv, const std::string& ns,
                                        const std::string& resource, const std::string& name) {
  const ResourceInfo& info = Resources().at(resource);
  std::string verb;
  if (req.method == "GET") verb = name.empty() ? "list" : "get";
  if (req.method == "POST" && name.empty()) verb = "create";
  if (req.method == "PUT" && !name.empty()) verb = "update";
  if (req.method == "PATCH" && !name.empty()) verb = "patch";
  if (req.method == "DELETE" && !name.empty()) verb = "delete";
  if (verb.empty())
    return StatusResponse(405, "MethodNotAllowed",
                          "the server does not allow this method on the requested resource");

  json body;
  if (verb == "create" || verb == "update" || verb == "patch") {
    body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object()) {
      return StatusResponse(400, "BadRequest", "the request body is not a JSON object");
    }
  }
  std::string target = name.empty() && verb == "create" && body.contains("metadata") &&
                               body["metadata"].contains("name") &&
                               body["metadata"]["name"].is_string()
                           ? body["metadata"]["name"].get<std::string>()
                           : name;
  if (!Allowed(user, verb, resource, ns, verb == "create" || verb == "list" ? "" : target)) {
    return StatusResponse(
        403, "Forbidden",
        absl::StrCat(resource, target.empty() ? "" : " \"" + target + "\"",
                     " is forbidden: User \"", user.name, "\" cannot ", verb, " resource \"",
                     resource, "\" in API group \"", gv == "v1" ? "" : "apps",
                     "\" in the namespace \"", ns, "\""),
        target, resource);
  }

  absl::MutexLock lock(&mu_);
  auto& store = objects_[resource];
  std::string key = ns + "/" + target;
  auto not_found = [&] {
    return StatusResponse(404, "NotFound", absl::StrCat(resource, " \"", target, "\" not found"),
                          target, resource);
  };
  auto validate = [&](json& obj) -> std::optional<HttpResponse> {
    std::string obj_name = obj["metadata"].value("name", "");
    if (!IsDnsSubdomain(obj_name)) {
      return StatusResponse(
          422, "Invalid",
          absl::StrCat(info.kind, " \"", obj_name, "\" is invalid: metadata.name: Invalid value"),
          obj_name, resource);
    }
    if (resource == "secrets") {
      if (obj.contains("stringData") && obj["stringData"].is_object()) {
        for (auto& [k, v] : obj["stringData"].items())
          obj["data"][k] = Base64(v.get<std::string>());
        obj.erase("stringData");
      }
      if (obj.contains("data")) {
        if (!obj["data"].is_object()) {
          return StatusResponse(
              422, "Invalid",
              absl::StrCat("Secret \"", obj_name, "\" is invalid: data: must be a map"), obj_name,
              resource);
        }
        for (auto& [k, v] : obj["data"].items()) {
          if (!v.is_string() || !IsBase64(v.get<std::string>())) {
            return StatusResponse(422, "Invalid",
                                  absl::StrCat("Secret \"", obj_name, "\" is invalid: data[", k,
                                               "]: Invalid value: illegal base64 data"),
                                  obj_name, resource);
          }
        }
      }
      if (!obj.contains("type")) obj["type"] = "Opaque";
    }
    return std::nullopt;
  };
  auto stamp = [&](json& obj, const json* previous) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    obj["kind"] = info.kind;
    obj["apiVersion"] = info.group_version;
    obj["metadata"]["namespace"] = ns;
    obj["metadata"]["resourceVersion"] = std::to_string(++resource_version_);
    if (previous != nullptr) {
      // value() rather than const operator[], which is undefined for a missing key.
      obj["metadata"]["uid"] = previous->at("metadata").value("uid", "");
      obj["metadata"]["creationTimestamp"] =
          previous->at("metadata").value("creationTimestamp", Now());
    } else {
      obj["metadata"]["uid"] = absl::StrCat("uid-", resource_version_);
      obj["metadata"]["creationTimestamp"] = Now();
    }
  };

  if (verb == "list") {
    json items = json::array();
    for (auto& [k, v] : store) {
      if (absl::StartsWith(k, ns + "/")) items.push_back(v);
    }
    return Json(200, {{"kind", absl::StrCat(info.kind, "List")},
                      {"apiVersion", info.group_version},
                      {"metadata", {{"resourceVersion", std::to_string(resource_version_)}}},
                      {"items", items}});
  }
  auto existing = store.find(key);
  if (verb == "get") {
    if (existing == store.end()) return not_found();
    return Json(200, existing->second);
  }
  if (verb == "delete") {
    if (existing == store.end()) return not_found();
    json gone = existing->second;
    store.erase(existing);
    return Json(200, {{"kind", "Status"},
                      {"apiVersion", "v1"},
                      {"metadata", json::object()},
                      {"status", "Success"},
                      {"details",
                       {{"name", target}, {"kind", resource}, {"uid", gone["metadata"]["uid"]}}}});
  }
  if (!body.contains("metadata") || !body["metadata"].is_object())
    body["metadata"] = json::object();
  if (verb == "create") {
    if (auto invalid = validate(body)) return *invalid;
    if (existing != store.end()) {
      return StatusResponse(409, "AlreadyExists",
                            absl::StrCat(resource, " \"", target, "\" already exists"), target,
                            resource);
    }
    body["metadata"].erase("resourceVersion");
    stamp(body, nullptr);
    store[key] = body;
    return Json(201, body);
  }
  if (existing == store.end()) return not_found();
  json updated;
  if (verb == "update") {
    if (body["metadata"].value("name", "") != target) {
      return StatusResponse(400, "BadRequest",
                            "the name of the object does not match the name on the URL");
    }
    std::string rv = body["metadata"].value("resourceVersion", "");
    if (!rv.empty() && rv != existing->second["metadata"]["resourceVersion"]) {
      return StatusResponse(
          409, "Conflict",
          absl::StrCat("Operation cannot be fulfilled on ", resource, " \"", target,
                       "\": the object has been modified; please apply your changes "
                       "to the latest version and try again"),
          target, resource);
    }
    updated = body;
  } else {
    std::string type = req.Header("content-type");
    if (!absl::StartsWith(type, "application/merge-patch+json") &&
        !absl::StartsWith(type, "application/strategic-merge-patch+json")) {
      return StatusResponse(415, "UnsupportedMediaType",
                            absl::StrCat("the emulator does not support patch type ", type));
    }
    updated = existing->second;
    MergePatch(&updated, body);
  }
  if (auto invalid = validate(updated)) return *invalid;
  json previous = existing->second;
  stamp(updated, &previous);
  existing->second = updated;
  return Json(200, updated);
}

}  // namespace meshtrust::testing
