// A minimal Kubernetes REST client (libcurl): in-cluster configuration or a
// kubeconfig, bearer tokens (re-read from their file on every request, so a
// rotated projected token is picked up) or client certificates.
#ifndef MESHTRUST_AGENT_KUBE_KUBE_CLIENT_H_
#define MESHTRUST_AGENT_KUBE_KUBE_CLIENT_H_

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/secret_bytes.h"

namespace meshtrust::agent {

struct KubeConfig {
  std::string server;  // https://host:port
  std::string ca_pem;  // Trust for the API server; empty: system roots.
  std::string token;   // Static bearer token, or:
  std::string token_file;
  std::string client_cert_pem;
  SecretBytes client_key_pem;
};

// From a kubeconfig file (current context).
absl::StatusOr<KubeConfig> LoadKubeconfig(const std::string& path);
// The same from the file's text; `path` names it in errors. Files the
// kubeconfig refers to (certificate-authority, client-certificate,
// client-key) are read here.
absl::StatusOr<KubeConfig> ParseKubeconfig(absl::string_view text, absl::string_view path);

// From the pod's service account: KUBERNETES_SERVICE_HOST/PORT and the files
// under `sa_dir` (default /var/run/secrets/kubernetes.io/serviceaccount).
absl::StatusOr<KubeConfig> InClusterConfig(
    const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// The body may hold a Secret's keys (the API server echoes the object
// written, and a GET returns it): it is wiped when the response is
// destroyed. Copy nothing out of it that outlives the response unwiped.
struct KubeResponse {
  KubeResponse() = default;
  KubeResponse(long status, std::string body)  // NOLINT(runtime/int)
      : status(status), body(std::move(body)) {}
  KubeResponse(const KubeResponse&) = default;
  KubeResponse(KubeResponse&&) = default;
  KubeResponse& operator=(const KubeResponse& other);
  KubeResponse& operator=(KubeResponse&& other) noexcept;
  ~KubeResponse() { WipeBody(); }

  long status = 0;  // NOLINT(runtime/int): libcurl's type.
  std::string body;

 private:
  void WipeBody();
};

// Thread safe: each request has its own libcurl handle and reads the
// configuration only (the identity store saves the audit checkpoint from the
// Watch thread while the reconcile loop writes cacerts).
class KubeClient {
 public:
  static absl::StatusOr<std::unique_ptr<KubeClient>> Create(KubeConfig config,
                                                            std::chrono::milliseconds timeout);
  ~KubeClient();

  // kUnavailable when the server cannot be reached, kDeadlineExceeded
  // ("timed out after N s") when it does not answer within the timeout; any
  // HTTP status is returned as a response. Sends User-Agent
  // meshtrust-agent/<version>.
  absl::StatusOr<KubeResponse> Request(absl::string_view method, const std::string& path,
                                       const std::string& body = "",
                                       absl::string_view content_type = "application/json");
  const std::string& server() const { return config_.server; }

 private:
  KubeClient(KubeConfig config, std::chrono::milliseconds timeout)
      : config_(std::move(config)), timeout_(timeout) {}
  KubeConfig config_;
  std::chrono::milliseconds timeout_;
};

// The name the agent gives the API server for its writes (the fieldManager
// in managedFields) and, with its version, as its User-Agent.
inline constexpr char kFieldManager[] = "meshtrust-agent";

// The query every write carries: "?fieldManager=meshtrust-agent", and
// "&dryRun=All" for a write the server checks (authorization, admission,
// validation) but does not store.
std::string WriteQuery(bool dry_run = false);

// One request the agent makes, as RBAC sees it. `name` is empty for
// `create`: the API server authorizes a create before the object's name is
// known, so a Role's resourceNames never match it.
struct KubeAccess {
  std::string verb;
  std::string group;  // "" for the core group, "apps" for Deployments.
  std::string resource;
  std::string ns;
  std::string name;
};

// What to grant for `access`, as an operator writes it in a Role: "grant the
// agent's service account the verb ... on resource ... named ... in namespace
// ...". For `create` it names no resource and says why a rule with
// resourceNames cannot allow it.
std::string RbacAdvice(const KubeAccess& access);

// The error a non-2xx response means, for `verb` on `resource` `name` in
// `ns`: 401 kUnauthenticated, 403 kPermissionDenied naming the missing RBAC
// verb and resource with RbacAdvice, 404 kNotFound, 409 kAborted, 422 kInvalidArgument,
// 5xx kUnavailable. The API server's own message is included.
absl::Status KubeError(const KubeResponse& response, absl::string_view verb,
                       absl::string_view resource, absl::string_view ns, absl::string_view name);

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_KUBE_KUBE_CLIENT_H_
