// Whether this agent may do, in this cluster, what it is about to do: asked
// before anything that cannot be taken back (enrolling spends the one-time
// join token; every signing is an intermediate issued and audited), so a
// missing namespace or permission is found while it costs nothing.
//
// Two checks, because each sees what the other cannot:
//  * a SelfSubjectAccessReview (authorization.k8s.io/v1) per verb the agent
//    will use, with the name it will use: it answers for `update` on a Secret
//    that does not exist yet (the identity Secret is created, then updated
//    in the same run), and every authenticated user may ask (the
//    system:basic-user ClusterRole);
//  * a `dryRun=All` create of a Secret that does not exist yet: it goes
//    through authentication, authorization and admission as the real write
//    will, and stores nothing, so it finds a missing namespace (admission's
//    NamespaceLifecycle) and a validating webhook that would refuse the
//    Secret, which no access review can.
#ifndef MESHTRUST_AGENT_KUBE_KUBE_ACCESS_H_
#define MESHTRUST_AGENT_KUBE_KUBE_ACCESS_H_

#include <string>

#include "absl/status/statusor.h"
#include "agent/kube/kube_client.h"

namespace meshtrust::agent {

// Asks the API server whether the agent's credentials may make `access`
// (POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews). kNotFound
// when the server does not serve access reviews, kPermissionDenied when it
// does not let this identity ask.
absl::StatusOr<bool> ReviewAccess(KubeClient* client, const KubeAccess& access);

// Checks that the agent may keep Secret `ns`/`name`: get, create and update
// it (as KubeSecrets does), that `ns` exists, and, when the Secret does not
// exist yet, that a create passes admission (dry run). Writes nothing.
// kNotFound naming a missing namespace; kPermissionDenied naming every
// missing permission at once, with what to grant.
absl::Status CheckSecretWritable(KubeClient* client, const std::string& ns,
                                 const std::string& name);

// Checks that the agent may patch Deployment `ns`/`name` (restarting istiod).
absl::Status CheckDeploymentPatchable(KubeClient* client, const std::string& ns,
                                      const std::string& name);

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_KUBE_KUBE_ACCESS_H_
