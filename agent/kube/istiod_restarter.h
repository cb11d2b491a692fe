// Restarts istiod the way `kubectl rollout restart` does: a strategic-merge
// patch of the Deployment's pod-template annotation. Needed for Istio without
// hot reload of cacerts, and for the first install when istiod started
// without a cacerts Secret.
#ifndef MESHTRUST_AGENT_KUBE_ISTIOD_RESTARTER_H_
#define MESHTRUST_AGENT_KUBE_ISTIOD_RESTARTER_H_

#include <string>

#include "absl/status/status.h"
#include "agent/kube/kube_client.h"
#include "base/clock.h"

namespace meshtrust::agent {

absl::Status RestartDeployment(KubeClient* client, const std::string& ns, const std::string& name,
                               TimePoint now);

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_KUBE_ISTIOD_RESTARTER_H_
