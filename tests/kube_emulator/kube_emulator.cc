#include "tests/kube_emulator/kube_emulator.h"

#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

// Validation as kube-apiserver applies it (k8s.io/apimachinery's
// pkg/util/validation): the same rules, limits and message texts, so an
// agent that passes here passes there.
std::string RegexError(const std::string& what, const std::string& fmt,
                       const std::vector<std::string>& examples) {
  std::string out = what + " (e.g. ";
  for (size_t i = 0; i < examples.size(); ++i) {
    out += (i == 0 ? "'" : ",  or '") + examples[i] + "'";
  }
  return out + ", regex used for validation is '" + fmt + "')";
}

const char kDns1123SubdomainFmt[] =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const char kQualifiedNameFmt[] = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const char kLabelValueFmt[] = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const char kConfigKeyFmt[] = "[-._a-zA-Z0-9]+";
const char kQualifiedNameMsg[] =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character";
constexpr size_t kMaxSecretBytes = 1 << 20;         // Sum of the decoded data values.
constexpr size_t kMaxAnnotationBytes = 256 * 1024;  // Keys and values together.

bool Matches(const std::string& value, const char* fmt) {
  return std::regex_match(value, std::regex(fmt));
}

std::vector<std::string> Dns1123SubdomainErrors(const std::string& value) {
  std::vector<std::string> errs;
  if (value.size() > 253) errs.push_back("must be no more than 253 characters");
  if (!Matches(value, kDns1123SubdomainFmt)) {
    errs.push_back(RegexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
        "or '.', and must start and end with an alphanumeric character",
        kDns1123SubdomainFmt, {"example.com"}));
  }
  return errs;
}

// Label and annotation keys: [prefix/]name.
std::vector<std::string> QualifiedNameErrors(const std::string& value) {
  std::vector<std::string> parts = absl::StrSplit(value, '/');
  std::vector<std::string> errs;
  std::string name;
  if (parts.size() == 1) {
    name = parts[0];
  } else if (parts.size() == 2) {
    name = parts[1];
    if (parts[0].empty()) {
      errs.push_back("prefix part must be non-empty");
    } else {
      for (const std::string& e : Dns1123SubdomainErrors(parts[0]))
        errs.push_back("prefix part " + e);
    }
  } else {
    return {"a qualified name " +
            RegexError(kQualifiedNameMsg, kQualifiedNameFmt, {"MyName", "my.name", "123-abc"}) +
            " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"};
  }
  if (name.empty()) {
    errs.push_back("name part must be non-empty");
  } else if (name.size() > 63) {
    errs.push_back("name part must be no more than 63 characters");
  }
  if (!Matches(name, kQualifiedNameFmt)) {
    errs.push_back("name part " + RegexError(kQualifiedNameMsg, kQualifiedNameFmt,
                                             {"MyName", "my.name", "123-abc"}));
  }
  return errs;
}

std::vector<std::string> LabelValueErrors(const std::string& value) {
  std::vector<std::string> errs;
  if (value.size() > 63) errs.push_back("must be no more than 63 characters");
  if (!Matches(value, kLabelValueFmt)) {
    errs.push_back(RegexError(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
        "or '.', and must start and end with an alphanumeric character",
        kLabelValueFmt, {"MyValue", "my_value", "12345"}));
  }
  return errs;
}

// Secret and ConfigMap data keys.
std::vector<std::string> ConfigKeyErrors(const std::string& value) {
  std::vector<std::string> errs;
  if (value.size() > 253) errs.push_back("must be no more than 253 characters");
  if (!Matches(value, kConfigKeyFmt)) {
    errs.push_back(
        RegexError("a valid config key must consist of alphanumeric characters, '-', "
                   "'_' or '.'",
                   kConfigKeyFmt, {"key.name", "KEY_NAME", "key-name"}));
  }
  if (value == ".") {
    errs.push_back("must not be '.'");
  } else if (value == "..") {
    errs.push_back("must not be '..'");
  } else if (absl::StartsWith(value, "..")) {
    errs.push_back("must not start with '..'");
  }
  return errs;
}

// One field error as the API server words it.
struct FieldError {
  std::string reason;  // FieldValueInvalid, FieldValueTooLong, FieldValueRequired
  std::string field;
  std::string detail;  // After the field: "Invalid value: \"x\": ..." etc.
};

FieldError Invalid(const std::string& field, const std::string& value, const std::string& why) {
  return {"FieldValueInvalid", field,
          absl::StrCat("Invalid value: ", json(value).dump(), ": ", why)};
}

FieldError TooLong(const std::string& field, size_t max) {
  return {"FieldValueTooLong", field, absl::StrCat("Too long: must have at most ", max, " bytes")};
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

// RFC 7386 JSON merge patch: objects merge, null deletes, anything else
// (lists included) replaces.
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

// A strategic merge patch differs from a merge patch where the Go types say
// so: lists of objects with a "name" merge key (containers, volumes, env,
// ports...) merge element by element, and the "$patch" directive replaces
// or deletes a map or a list element. Lists of scalars replace, as in the
// real server for the fields meshtrust touches.
void StrategicMergePatch(json* target, const json& patch) {
  if (!patch.is_object()) {
    *target = patch;
    return;
  }
  if (patch.contains("$patch") && patch["$patch"] == "replace") {
    *target = patch;
    target->erase("$patch");
    return;
  }
  if (!target->is_object()) *target = json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const json& value = it.value();
    if (absl::StartsWith(it.key(), "$")) continue;  // $retainKeys, $setElementOrder/...
    if (value.is_null()) {
      target->erase(it.key());
      continue;
    }
    json& current = (*target)[it.key()];
    bool keyed_list = value.is_array() && current.is_array() && !value.empty();
    for (const json& e : value) keyed_list = keyed_list && e.is_object() && e.contains("name");
    if (keyed_list) {
      for (const json& e : value) {
        auto same = std::find_if(current.begin(), current.end(), [&](const json& c) {
          return c.is_object() && c.value("name", json()) == e["name"];
        });
        if (e.value("$patch", "") == "delete") {
          if (same != current.end()) current.erase(same);
        } else if (same != current.end()) {
          StrategicMergePatch(&*same, e);
        } else {
          current.push_back(e);
        }
      }
    } else if (value.is_object() && value.value("$patch", "") == "delete") {
      target->erase(it.key());
    } else {
      StrategicMergePatch(&current, value);
    }
  }
}

std::map<std::string, std::string> ParseQuery(const std::string& query) {
  std::map<std::string, std::string> out;
  for (absl::string_view kv : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<std::string, std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    out[p.first] = p.second;
  }
  return out;
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
  for (const std::string& ns : DefaultNamespaces()) e->CreateNamespace(ns);
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
  absl::StatusOr<std::unique_ptr<TlsHttpServer>> server =
      TlsHttpServer::Start(absl::StrCat("127.0.0.1:", port), *std::move(ctx),
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

const std::vector<std::string>& KubeEmulator::DefaultNamespaces() {
  static const auto* kNamespaces =
      new std::vector<std::string>{"default",         "kube-system",  "kube-public",
                                   "kube-node-lease", "istio-system", "meshtrust-system"};
  return *kNamespaces;
}

void KubeEmulator::CreateNamespace(const std::string& ns) {
  absl::MutexLock lock(&mu_);
  namespaces_.try_emplace(ns, Now());
}

void KubeEmulator::DeleteNamespace(const std::string& ns) {
  absl::MutexLock lock(&mu_);
  namespaces_.erase(ns);
  for (auto& [resource, objects] : objects_) {
    for (auto it = objects.begin(); it != objects.end();) {
      it = absl::StartsWith(it->first, ns + "/") ? objects.erase(it) : std::next(it);
    }
  }
}

void KubeEmulator::Put(const std::string& resource, const std::string& ns, json object) {
  absl::MutexLock lock(&mu_);
  namespaces_.try_emplace(ns, Now());
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
    json authorization = {
        {"name", "authorization.k8s.io"},
        {"versions", {{{"groupVersion", "authorization.k8s.io/v1"}, {"version", "v1"}}}},
        {"preferredVersion", {{"groupVersion", "authorization.k8s.io/v1"}, {"version", "v1"}}}};
    return Json(
        200, {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", {apps, authorization}}});
  }
  if (req.method == "GET" && req.path == "/apis/authorization.k8s.io/v1") {
    return Json(200, {{"kind", "APIResourceList"},
                      {"apiVersion", "v1"},
                      {"groupVersion", "authorization.k8s.io/v1"},
                      {"resources",
                       {{{"name", "selfsubjectaccessreviews"},
                         {"singularName", ""},
                         {"namespaced", false},
                         {"kind", "SelfSubjectAccessReview"},
                         {"verbs", {"create"}}}}}});
  }
  if (req.path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") {
    return HandleAccessReview(req, user);
  }
  if (req.path == "/api/v1/namespaces") return HandleNamespace(req, user, "");
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
    if (parts.size() == i + 2 && gv == "v1") return HandleNamespace(req, user, ns);
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

HttpResponse KubeEmulator::HandleNamespace(const HttpRequest& req, const KubeUser& user,
                                           const std::string& name) {
  std::string verb;
  if (req.method == "GET") verb = name.empty() ? "list" : "get";
  if (req.method == "POST" && name.empty()) verb = "create";
  if (req.method == "DELETE" && !name.empty()) verb = "delete";
  if (verb.empty()) {
    return StatusResponse(405, "MethodNotAllowed",
                          "the server does not allow this method on the requested resource");
  }
  json body;
  std::string target = name;
  if (verb == "create") {
    body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object())
      return StatusResponse(400, "BadRequest", "the request body is not a JSON object");
    if (body.contains("metadata") && body["metadata"].is_object() &&
        body["metadata"].value("name", json()).is_string()) {
      target = body["metadata"]["name"];
    }
  }
  if (!Allowed(user, verb, "namespaces", "", verb == "create" || verb == "list" ? "" : target)) {
    return StatusResponse(
        403, "Forbidden",
        absl::StrCat("namespaces", verb == "create" || target.empty() ? "" : " \"" + target + "\"",
                     " is forbidden: User \"", user.name, "\" cannot ", verb,
                     " resource \"namespaces\" in API group \"\" at the cluster scope"),
        target, "namespaces");
  }
  bool dry_run = ParseQuery(req.query).count("dryRun") > 0;
  absl::MutexLock lock(&mu_);
  auto object = [](const std::string& ns, const std::string& created, const char* phase) {
    return json{{"kind", "Namespace"},
                {"apiVersion", "v1"},
                {"metadata",
                 {{"name", ns},
                  {"uid", "uid-ns-" + ns},
                  {"creationTimestamp", created},
                  {"labels", {{"kubernetes.io/metadata.name", ns}}}}},
                {"spec", {{"finalizers", {"kubernetes"}}}},
                {"status", {{"phase", phase}}}};
  };
  if (verb == "list") {
    json items = json::array();
    for (const auto& [ns, created] : namespaces_) items.push_back(object(ns, created, "Active"));
    return Json(200, {{"kind", "NamespaceList"},
                      {"apiVersion", "v1"},
                      {"metadata", {{"resourceVersion", std::to_string(resource_version_)}}},
                      {"items", items}});
  }
  auto existing = namespaces_.find(target);
  if (verb == "create") {
    std::vector<std::string> errs;
    if (target.size() > 63) errs.push_back("must be no more than 63 characters");
    if (!Matches(target, "[a-z0-9]([-a-z0-9]*[a-z0-9])?")) {
      errs.push_back(
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
          "'-', and must start and end with an alphanumeric character");
    }
    if (!errs.empty()) {
      return StatusResponse(
          422, "Invalid",
          absl::StrCat("Namespace \"", target, "\" is invalid: metadata.name: ", "Invalid value: ",
                       json(target).dump(), ": ", absl::StrJoin(errs, ", ")),
          target, "Namespace");
    }
    if (existing != namespaces_.end()) {
      return StatusResponse(409, "AlreadyExists",
                            absl::StrCat("namespaces \"", target, "\" already exists"), target,
                            "namespaces");
    }
    std::string created = Now();
    if (!dry_run) namespaces_.emplace(target, created);
    return Json(201, object(target, created, "Active"));
  }
  if (existing == namespaces_.end()) {
    return StatusResponse(404, "NotFound", absl::StrCat("namespaces \"", target, "\" not found"),
                          target, "namespaces");
  }
  if (verb == "get") return Json(200, object(target, existing->second, "Active"));
  // Deleted at once with what it holds (the real server finalizes first).
  json gone = object(target, existing->second, "Terminating");
  if (!dry_run) {
    namespaces_.erase(existing);
    for (auto& [resource, objects] : objects_) {
      for (auto it = objects.begin(); it != objects.end();) {
        it = absl::StartsWith(it->first, target + "/") ? objects.erase(it) : std::next(it);
      }
    }
  }
  return Json(200, gone);
}

HttpResponse KubeEmulator::HandleAccessReview(const HttpRequest& req, const KubeUser& user) {
  if (req.method != "POST") {
    return StatusResponse(405, "MethodNotAllowed",
                          "the server does not allow this method on the requested resource");
  }
  json review = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (review.is_discarded() || !review.is_object())
    return StatusResponse(400, "BadRequest", "the request body is not a JSON object");
  if (review.value("apiVersion", json("authorization.k8s.io/v1")) != "authorization.k8s.io/v1" ||
      review.value("kind", json("SelfSubjectAccessReview")) != "SelfSubjectAccessReview") {
    return StatusResponse(400, "BadRequest",
                          "the body is not an authorization.k8s.io/v1 SelfSubjectAccessReview");
  }
  const json spec = review.value("spec", json::object());
  const json attributes = spec.is_object() ? spec.value("resourceAttributes", json()) : json();
  bool has_other = spec.is_object() && spec.contains("nonResourceAttributes");
  if ((attributes.is_null() || !attributes.is_object()) == !has_other) {
    return StatusResponse(
        422, "Invalid",
        "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec: Invalid value: "
        "exactly one of nonResourceAttributes or resourceAttributes must be specified");
  }
  bool allowed = false;
  if (attributes.is_object()) {
    allowed = Allowed(user, attributes.value("verb", ""), attributes.value("resource", ""),
                      attributes.value("namespace", ""), attributes.value("name", ""));
  }
  review["apiVersion"] = "authorization.k8s.io/v1";
  review["kind"] = "SelfSubjectAccessReview";
  if (!review.contains("metadata") || !review["metadata"].is_object())
    review["metadata"] = json::object();
  review["metadata"]["creationTimestamp"] = nullptr;
  review["status"] = {{"allowed", allowed}};
  if (allowed) {
    review["status"]["reason"] =
        absl::StrCat("RBAC: allowed by the rules of User \"", user.name, "\"");
  }
  return Json(201, review);
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
  bool writes = verb == "create" || verb == "update" || verb == "patch";

  std::map<std::string, std::string> query = ParseQuery(req.query);
  bool dry_run = false;
  if (auto d = query.find("dryRun"); d != query.end()) {
    if (d->second != "All") {
      return StatusResponse(400, "BadRequest",
                            absl::StrCat("dryRun: Unsupported value: \"", d->second,
                                         "\": supported values: \"All\""));
    }
    dry_run = true;
  }
  std::string field_manager = query.count("fieldManager") ? query["fieldManager"] : "";
  if (field_manager.size() > 128) {
    return StatusResponse(400, "BadRequest", "fieldManager: Too long: must have at most 128 bytes");
  }
  if (field_manager.empty()) {
    // The server's default: the client's name from its User-Agent.
    std::string agent = req.Header("user-agent");
    field_manager = agent.substr(0, agent.find('/'));
    if (field_manager.empty()) field_manager = "unknown";
  }

  // The body's media type, as the server's decoders and patchers accept it.
  std::string type = req.Header("content-type");
  type = type.substr(0, type.find(';'));
  if ((verb == "create" || verb == "update") && type != "application/json") {
    return StatusResponse(415, "UnsupportedMediaType",
                          absl::StrCat("the body of the request was in an unknown format - "
                                       "accepted media types include: application/json, "
                                       "application/yaml, application/vnd.kubernetes.protobuf"));
  }
  if (verb == "patch" && type != "application/json-patch+json" &&
      type != "application/merge-patch+json" && type != "application/strategic-merge-patch+json") {
    return StatusResponse(415, "UnsupportedMediaType",
                          absl::StrCat("the body of the request was in an unknown format - "
                                       "accepted media types include: "
                                       "application/json-patch+json, "
                                       "application/merge-patch+json, "
                                       "application/strategic-merge-patch+json"));
  }

  json body;
  if (writes) {
    body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    bool json_patch = verb == "patch" && type == "application/json-patch+json";
    if (body.is_discarded() || (json_patch ? !body.is_array() : !body.is_object())) {
      return StatusResponse(400, "BadRequest",
                            json_patch ? "the request body is not a JSON patch (an array)"
                                       : "the request body is not a JSON object");
    }
  }
  std::string target = name.empty() && verb == "create" && body.contains("metadata") &&
                               body["metadata"].is_object() && body["metadata"].contains("name") &&
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

  // NamespaceLifecycle admission: nothing is written (nor dry-run) into a
  // namespace that does not exist.
  if (writes) {
    absl::MutexLock lock(&mu_);
    if (namespaces_.count(ns) == 0) {
      return StatusResponse(404, "NotFound", absl::StrCat("namespaces \"", ns, "\" not found"), ns,
                            "namespaces");
    }
  }

  // What a full object in the body must say about itself.
  auto check_identity = [&](const json& obj) -> std::optional<HttpResponse> {
    std::string api_version = obj.value("apiVersion", std::string(info.group_version));
    std::string kind = obj.value("kind", std::string(info.kind));
    if (!obj.value("apiVersion", json("")).is_string() || !obj.value("kind", json("")).is_string())
      return StatusResponse(400, "BadRequest", "apiVersion and kind must be strings");
    if (api_version != info.group_version) {
      return StatusResponse(
          400, "BadRequest",
          absl::StrCat("the API version in the data (", api_version,
                       ") does not match the expected API version (", info.group_version, ")"));
    }
    if (kind != info.kind) {
      return StatusResponse(
          400, "BadRequest",
          absl::StrCat(kind, " in version \"", api_version, "\" cannot be handled as a ", info.kind,
                       ": converting (", kind, ") to (", info.kind, "): unknown conversion"));
    }
    if (obj.contains("metadata") && obj["metadata"].is_object() &&
        obj["metadata"].contains("namespace") && obj["metadata"]["namespace"] != json("") &&
        obj["metadata"]["namespace"] != json(ns)) {
      return StatusResponse(400, "BadRequest",
                            "the namespace of the provided object does not match the namespace "
                            "sent on the request");
    }
    return std::nullopt;
  };
  if (verb == "create" || verb == "update") {
    if (auto bad = check_identity(body)) return *bad;
  }

  absl::MutexLock lock(&mu_);
  auto& store = objects_[resource];
  std::string key = ns + "/" + target;
  auto not_found = [&] {
    return StatusResponse(404, "NotFound", absl::StrCat(resource, " \"", target, "\" not found"),
                          target, resource);
  };
  auto conflict = [&] {
    return StatusResponse(409, "Conflict",
                          absl::StrCat("Operation cannot be fulfilled on ", resource, " \"", target,
                                       "\": the object has been modified; please apply your "
                                       "changes to the latest version and try again"),
                          target, resource);
  };
  auto validate = [&](json& obj) -> std::optional<HttpResponse> {
    std::string obj_name = obj["metadata"].value("name", "");
    std::vector<FieldError> errs;
    if (obj_name.empty()) {
      errs.push_back({"FieldValueRequired", "metadata.name",
                      "Required value: name or generateName is required"});
    } else {
      for (const std::string& e : Dns1123SubdomainErrors(obj_name))
        errs.push_back(Invalid("metadata.name", obj_name, e));
    }
    const json& meta = obj["metadata"];
    if (meta.contains("labels")) {
      if (!meta["labels"].is_object())
        return StatusResponse(400, "BadRequest", "labels: not a map");
      for (auto& [k, v] : meta["labels"].items()) {
        for (const std::string& e : QualifiedNameErrors(k))
          errs.push_back(Invalid("metadata.labels", k, e));
        std::string value = v.is_string() ? v.get<std::string>() : v.dump();
        for (const std::string& e : LabelValueErrors(value))
          errs.push_back(Invalid(absl::StrCat("metadata.labels[", k, "]"), value, e));
      }
    }
    if (meta.contains("annotations")) {
      if (!meta["annotations"].is_object())
        return StatusResponse(400, "BadRequest", "annotations: not a map");
      size_t total = 0;
      for (auto& [k, v] : meta["annotations"].items()) {
        std::string lower = absl::AsciiStrToLower(k);
        for (const std::string& e : QualifiedNameErrors(lower))
          errs.push_back(Invalid("metadata.annotations", k, e));
        total += k.size() + (v.is_string() ? v.get<std::string>().size() : 0);
      }
      if (total > kMaxAnnotationBytes)
        errs.push_back(TooLong("metadata.annotations", kMaxAnnotationBytes));
    }
    if (resource == "secrets" || resource == "configmaps") {
      if (resource == "secrets" && obj.contains("stringData") && obj["stringData"].is_object()) {
        for (auto& [k, v] : obj["stringData"].items())
          obj["data"][k] = Base64(v.is_string() ? v.get<std::string>() : v.dump());
        obj.erase("stringData");
      }
      if (obj.contains("data") && !obj["data"].is_object()) {
        return StatusResponse(400, "BadRequest",
                              absl::StrCat(info.kind, " \"", obj_name, "\": data must be a map"));
      }
      size_t total = 0;
      if (obj.contains("data")) {
        for (auto& [k, v] : obj["data"].items()) {
          for (const std::string& e : ConfigKeyErrors(k))
            errs.push_back(Invalid(absl::StrCat("data[", k, "]"), k, e));
          std::string text = v.is_string() ? v.get<std::string>() : "";
          if (resource == "secrets") {
            if (!v.is_string() || !IsBase64(text)) {
              errs.push_back(Invalid(absl::StrCat("data[", k, "]"), "<secret contents redacted>",
                                     "illegal base64 data"));
              continue;
            }
            size_t pad = text.size() - text.find_last_not_of('=') - 1;
            total += text.size() / 4 * 3 - (text.empty() ? 0 : pad);
          } else {
            total += text.size() + k.size();
          }
        }
      }
      if (total > kMaxSecretBytes) errs.push_back(TooLong("data", kMaxSecretBytes));
      if (resource == "secrets" && !obj.contains("type")) obj["type"] = "Opaque";
    }
    if (errs.empty()) return std::nullopt;
    std::string message = absl::StrCat(info.kind, " \"", obj_name, "\" is invalid: ");
    json causes = json::array();
    std::vector<std::string> parts;
    for (const FieldError& e : errs) {
      parts.push_back(absl::StrCat(e.field, ": ", e.detail));
      causes.push_back({{"reason", e.reason}, {"message", e.detail}, {"field", e.field}});
    }
    message += parts.size() == 1 ? parts[0] : absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
    json status = {{"kind", "Status"},
                   {"apiVersion", "v1"},
                   {"metadata", json::object()},
                   {"status", "Failure"},
                   {"message", message},
                   {"reason", "Invalid"},
                   {"code", 422},
                   {"details",
                    {{"name", obj_name},
                     {"group", info.group_version == std::string("v1") ? "" : "apps"},
                     {"kind", info.kind},
                     {"causes", causes}}}};
    return Json(422, status);
  };
  // Server-set fields; a dry run computes them without taking a version.
  auto stamp = [&](json& obj, const json* previous) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    obj["kind"] = info.kind;
    obj["apiVersion"] = info.group_version;
    obj["metadata"]["namespace"] = ns;
    std::string rv =
        dry_run ? (previous != nullptr ? previous->at("metadata").value("resourceVersion", "") : "")
                : std::to_string(++resource_version_);
    if (rv.empty()) {
      obj["metadata"].erase("resourceVersion");
    } else {
      obj["metadata"]["resourceVersion"] = rv;
    }
    if (previous != nullptr) {
      // value() rather than const operator[], which is undefined for a missing key.
      obj["metadata"]["uid"] = previous->at("metadata").value("uid", "");
      obj["metadata"]["creationTimestamp"] =
          previous->at("metadata").value("creationTimestamp", Now());
    } else {
      obj["metadata"]["uid"] = absl::StrCat("uid-", rv.empty() ? "dry-run" : rv);
      obj["metadata"]["creationTimestamp"] = Now();
    }
    // managedFields: one entry per manager and operation, as the server
    // keeps them (the field set itself is not modelled).
    json managed = previous != nullptr
                       ? previous->at("metadata").value("managedFields", json::array())
                       : json::array();
    json entry = {{"manager", field_manager},         {"operation", "Update"},
                  {"apiVersion", info.group_version}, {"time", Now()},
                  {"fieldsType", "FieldsV1"},         {"fieldsV1", json::object()}};
    bool replaced = false;
    for (json& m : managed) {
      if (m.value("manager", "") == field_manager && m.value("operation", "") == "Update") {
        m = entry;
        replaced = true;
      }
    }
    if (!replaced) managed.push_back(entry);
    obj["metadata"]["managedFields"] = managed;
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
    if (!dry_run) store.erase(existing);
    return Json(200, {{"kind", "Status"},
                      {"apiVersion", "v1"},
                      {"metadata", json::object()},
                      {"status", "Success"},
                      {"details",
                       {{"name", target}, {"kind", resource}, {"uid", gone["metadata"]["uid"]}}}});
  }
  if (body.is_object() && (!body.contains("metadata") || !body["metadata"].is_object()))
    body["metadata"] = json::object();
  if (verb == "create") {
    if (body["metadata"].contains("resourceVersion") &&
        body["metadata"]["resourceVersion"] != json("")) {
      return StatusResponse(400, "BadRequest",
                            "resourceVersion should not be set on objects to be created");
    }
    body["metadata"].erase("managedFields");
    if (auto invalid = validate(body)) return *invalid;
    if (existing != store.end()) {
      return StatusResponse(409, "AlreadyExists",
                            absl::StrCat(resource, " \"", target, "\" already exists"), target,
                            resource);
    }
    stamp(body, nullptr);
    if (!dry_run) store[key] = body;
    return Json(201, body);
  }
  if (existing == store.end()) return not_found();
  json updated;
  const json& current_rv = existing->second["metadata"]["resourceVersion"];
  if (verb == "update") {
    if (body["metadata"].value("name", "") != target) {
      return StatusResponse(400, "BadRequest",
                            "the name of the object does not match the name on the URL");
    }
    // Without a resourceVersion an update is unconditional (allowed for
    // Secrets and ConfigMaps); with one it must be the current version.
    std::string rv = body["metadata"].value("resourceVersion", "");
    if (!rv.empty() && rv != current_rv) return conflict();
    updated = body;
    updated["metadata"]["managedFields"] =
        existing->second["metadata"].value("managedFields", json::array());
  } else {
    updated = existing->second;
    if (type == "application/json-patch+json") {
      try {
        updated = updated.patch(body);
      } catch (const json::exception& e) {
        return StatusResponse(422, "Invalid", absl::StrCat("the JSON patch failed: ", e.what()));
      }
    } else if (type == "application/strategic-merge-patch+json") {
      StrategicMergePatch(&updated, body);
    } else {
      MergePatch(&updated, body);
    }
    // A patch may carry a precondition of its own.
    if (updated["metadata"].value("resourceVersion", json()) != current_rv &&
        updated["metadata"].contains("resourceVersion") &&
        updated["metadata"]["resourceVersion"] != json("")) {
      return conflict();
    }
    if (updated.value("kind", json(info.kind)) != json(info.kind) ||
        updated.value("apiVersion", json(info.group_version)) != json(info.group_version) ||
        updated["metadata"].value("name", json(target)) != json(target) ||
        updated["metadata"].value("namespace", json(ns)) != json(ns)) {
      return StatusResponse(400, "BadRequest",
                            "a patch may not change the object's kind, apiVersion, name or "
                            "namespace");
    }
  }
  if (auto invalid = validate(updated)) return *invalid;
  json previous = existing->second;
  stamp(updated, &previous);
  if (!dry_run) existing->second = updated;
  return Json(200, updated);
}

}  // namespace meshtrust::testing
