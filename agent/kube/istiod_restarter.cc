#include "agent/kube/istiod_restarter.h"

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/time_format.h"
#include "nlohmann/json.hpp"

namespace meshtrust::agent {

absl::Status RestartDeployment(KubeClient* client, const std::string& ns, const std::string& name,
                               TimePoint now) {
  nlohmann::json patch;
  patch["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] =
      Rfc3339(now);
  absl::StatusOr<KubeResponse> resp = client->Request(
      "PATCH", absl::StrCat("/apis/apps/v1/namespaces/", ns, "/deployments/", name, WriteQuery()),
      patch.dump(), "application/strategic-merge-patch+json");
  if (!resp.ok()) return resp.status();
  if (resp->status != 200) return KubeError(*resp, "patch", "deployments", ns, name);
  spdlog::info("restarted Deployment {}/{} to load the new cacerts", ns, name);
  return absl::OkStatus();
}

}  // namespace meshtrust::agent
