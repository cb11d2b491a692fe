// The agent's identity in a Secret in its own namespace, with the mesh roots
// it trusts under the key trusted-roots.pem of the same Secret.
#ifndef MESHTRUST_AGENT_KUBE_KUBERNETES_IDENTITY_STORE_H_
#define MESHTRUST_AGENT_KUBE_KUBERNETES_IDENTITY_STORE_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/core/identity_store.h"
#include "agent/core/root_trust.h"
#include "agent/kube/kube_secrets.h"
#include "ca/audit/audit_checkpoint.h"

namespace meshtrust::agent {

class KubernetesIdentityStore final : public IdentityStore, public TrustedRootsStore {
 public:
  KubernetesIdentityStore(KubeClient* client, std::string ns, std::string name)
      : secrets_(client), ns_(std::move(ns)), name_(std::move(name)) {}
  absl::StatusOr<std::optional<client::Identity>> Load() override;
  absl::Status Save(const client::Identity& identity) override;
  absl::Status CheckWritable() override;
  std::string Describe() const override { return "Secret " + ns_ + "/" + name_; }
  absl::StatusOr<std::optional<std::string>> LoadTrustedRoots() override;
  absl::Status SaveTrustedRoots(const std::string& roots_pem) override;
  // In the same Secret, key audit-checkpoint.
  absl::StatusOr<std::optional<ca::AuditCheckpoint>> LoadCheckpoint() override;
  absl::Status SaveCheckpoint(const ca::AuditCheckpoint& checkpoint) override;

 private:
  // One key of the Secret beside the identity: nullopt when absent.
  absl::StatusOr<std::optional<std::string>> ReadKey(const char* key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Replaces one key, keeping the rest; `what` names it in the error when
  // there is no identity yet.
  absl::Status WriteKey(const char* key, const std::string& value, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  KubeSecrets secrets_;
  std::string ns_, name_;
  // One read-modify-write of the Secret at a time: the audit checkpoint is
  // saved from the Watch thread, the trusted roots from the reconcile loop.
  absl::Mutex mu_;
  std::string version_ ABSL_GUARDED_BY(mu_);  // resourceVersion last seen.
};

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_KUBE_KUBERNETES_IDENTITY_STORE_H_
