// Secrets over the Kubernetes API: the few operations the agent needs, with
// data kept as decoded bytes and errors translated by KubeError.
#ifndef MESHTRUST_AGENT_KUBE_KUBE_SECRETS_H_
#define MESHTRUST_AGENT_KUBE_KUBE_SECRETS_H_

#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "agent/kube/kube_client.h"
#include "base/secret_bytes.h"

namespace meshtrust::agent {

struct KubeSecret {
  std::string name;
  std::string resource_version;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  // Decoded values. Secret values are wiped when the map is destroyed.
  std::map<std::string, SecretBytes> data;
};

// Decodes a Secret object as the API server returns it (JSON, data values in
// base64). kDataLoss naming `ns`/`name` when the JSON is malformed, a value is
// not a string or not valid base64.
absl::StatusOr<KubeSecret> ParseSecret(absl::string_view body, absl::string_view ns,
                                       absl::string_view name);

class KubeSecrets {
 public:
  explicit KubeSecrets(KubeClient* client) : client_(client) {}
  // nullopt when the Secret does not exist.
  absl::StatusOr<std::optional<KubeSecret>> Get(const std::string& ns, const std::string& name);
  // Creates (empty resource_version) or replaces conditionally on
  // resource_version. kAborted on a conflict or when it already exists.
  absl::Status Write(const std::string& ns, const KubeSecret& secret);
  KubeClient* client() const { return client_; }

 private:
  KubeClient* client_;
};

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_KUBE_KUBE_SECRETS_H_
