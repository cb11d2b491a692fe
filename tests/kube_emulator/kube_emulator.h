// KubeEmulator: a test API server that speaks the real Kubernetes REST API
// for what meshtrust touches, over TLS with bearer tokens: namespaced
// Secrets and ConfigMaps (GET/LIST/POST/PUT/PATCH/DELETE with
// resourceVersion and 409 conflicts, 404, 422), Deployments (GET/PATCH), and
// the discovery endpoints kubectl needs. RBAC is a list of rules per token.
//
// As strict as kube-apiserver where a client could trip, each refusal a
// real Status object with kube-apiserver's code, reason and message: the
// 1 MiB limit on a Secret's data; label, annotation and data key and value
// rules (422 Invalid); a body whose kind, apiVersion or namespace disagree
// with the URL, or a resourceVersion on create (400); an update or patch
// with a stale resourceVersion (409); a media type the endpoint does not
// take (415). dryRun=All validates and answers without storing anything;
// fieldManager is recorded in metadata.managedFields. JSON patch, JSON merge
// patch and strategic merge patch are applied as three different things.
// Namespaces exist or not: a write (dry run included) into a missing one is
// 404 `namespaces "x" not found`, as kube-apiserver's NamespaceLifecycle
// admission answers after authorization; kubectl can create and delete
// them. SelfSubjectAccessReviews are answered from the same RBAC rules that
// authorize requests, and every authenticated user may create one (as the
// system:basic-user ClusterRole allows).
// Put() is the test's back door and checks nothing (it creates the
// namespace it names).
#ifndef MESHTRUST_TESTS_KUBE_EMULATOR_KUBE_EMULATOR_H_
#define MESHTRUST_TESTS_KUBE_EMULATOR_KUBE_EMULATOR_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "tests/testing/tls_http_server.h"

namespace meshtrust::testing {

// One RBAC rule; "*" matches anything. `verbs` is a comma-separated list of
// get, list, create, update, patch, delete.
struct KubeRule {
  std::string verbs = "*";
  std::string resource = "*";  // secrets, configmaps, deployments, namespaces
  std::string ns = "*";
  std::string name = "*";
};

struct KubeUser {
  std::string name;  // e.g. system:serviceaccount:istio-system:meshtrust-agent
  std::vector<KubeRule> rules;
};

class KubeEmulator {
 public:
  static absl::StatusOr<std::unique_ptr<KubeEmulator>> Start(int port = 0);
  ~KubeEmulator();

  std::string server_url() const;
  const std::string& ca_pem() const { return ca_pem_; }

  void AddToken(const std::string& token, KubeUser user) ABSL_LOCKS_EXCLUDED(mu_);
  // Writes a kubeconfig for `token` (certificate-authority-data inline).
  absl::Status WriteKubeconfig(const std::string& path, const std::string& token) const;

  // The namespaces a new emulator has: a cluster with Istio and meshtrust's
  // namespaces already made.
  static const std::vector<std::string>& DefaultNamespaces();
  // Back doors: a namespace appears, or disappears with everything in it.
  void CreateNamespace(const std::string& ns) ABSL_LOCKS_EXCLUDED(mu_);
  void DeleteNamespace(const std::string& ns) ABSL_LOCKS_EXCLUDED(mu_);

  // Direct access for tests: resource is "secrets", "configmaps", "deployments".
  void Put(const std::string& resource, const std::string& ns, nlohmann::json object)
      ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<nlohmann::json> Get(const std::string& resource, const std::string& ns,
                                    const std::string& name) const ABSL_LOCKS_EXCLUDED(mu_);

  // A hook that may answer a request instead of the emulator (fault injection).
  using Fault = std::function<std::optional<HttpResponse>(const HttpRequest&)>;
  void SetFault(Fault fault) ABSL_LOCKS_EXCLUDED(mu_);

  // Every request seen, as "METHOD path".
  std::vector<std::string> requests() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  KubeEmulator() = default;
  HttpResponse Handle(const HttpRequest& req) ABSL_LOCKS_EXCLUDED(mu_);
  HttpResponse HandleNamespace(const HttpRequest& req, const KubeUser& user,
                               const std::string& name) ABSL_LOCKS_EXCLUDED(mu_);
  HttpResponse HandleAccessReview(const HttpRequest& req, const KubeUser& user);
  HttpResponse HandleObject(const HttpRequest& req, const KubeUser& user,
                            const std::string& group_version, const std::string& ns,
                            const std::string& resource, const std::string& name)
      ABSL_LOCKS_EXCLUDED(mu_);

  std::unique_ptr<TlsHttpServer> server_;
  std::string ca_pem_;
  mutable absl::Mutex mu_;
  std::map<std::string, KubeUser> tokens_ ABSL_GUARDED_BY(mu_);
  // resource -> "ns/name" -> object
  std::map<std::string, std::map<std::string, nlohmann::json>> objects_ ABSL_GUARDED_BY(mu_);
  // name -> creationTimestamp
  std::map<std::string, std::string> namespaces_ ABSL_GUARDED_BY(mu_);
  uint64_t resource_version_ ABSL_GUARDED_BY(mu_) = 1000;
  Fault fault_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> requests_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meshtrust::testing

#endif  // MESHTRUST_TESTS_KUBE_EMULATOR_KUBE_EMULATOR_H_
