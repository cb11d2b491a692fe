#include "agent/kube/kubernetes_identity_store.h"

#include "absl/strings/str_cat.h"

namespace meshtrust::agent {
namespace {
constexpr char kCert[] = "tls.crt";
constexpr char kKey[] = "tls.key";
constexpr char kControlCa[] = "ca.crt";
constexpr char kIdentity[] = "identity";
constexpr char kTrustedRoots[] = "trusted-roots.pem";
}  // namespace

absl::StatusOr<std::optional<client::Identity>> KubernetesIdentityStore::Load() {
  absl::StatusOr<std::optional<KubeSecret>> secret = secrets_.Get(ns_, name_);
  if (!secret.ok()) return secret.status();
  if (!secret->has_value()) return std::nullopt;
  KubeSecret& s = **secret;
  version_ = s.resource_version;
  for (const char* key : {kCert, kKey, kControlCa, kIdentity}) {
    if (s.data.find(key) == s.data.end()) {
      return absl::DataLossError(absl::StrCat(
          Describe(), " lacks key ", key, "; delete it and enroll again with a new join token"));
    }
  }
  client::Identity id;
  id.certificate_pem = std::string(s.data[kCert].UnsafeSecretString());
  id.key_pem = std::move(s.data[kKey]);
  id.control_ca_pem = std::string(s.data[kControlCa].UnsafeSecretString());
  id.identity = std::string(s.data[kIdentity].UnsafeSecretString());
  return id;
}

absl::Status KubernetesIdentityStore::Save(const client::Identity& identity) {
  KubeSecret s;
  s.name = name_;
  s.resource_version = version_;
  s.labels["app.kubernetes.io/managed-by"] = "meshtrust";
  s.data.emplace(kCert, SecretBytes::CopyOf(identity.certificate_pem));
  s.data.emplace(kKey, SecretBytes::CopyOf(identity.key_pem.UnsafeSecretString()));
  s.data.emplace(kControlCa, SecretBytes::CopyOf(identity.control_ca_pem));
  s.data.emplace(kIdentity, SecretBytes::CopyOf(identity.identity));
  // The Secret's other keys (the trusted roots) are not the identity's to
  // drop.
  absl::StatusOr<std::optional<KubeSecret>> existing = secrets_.Get(ns_, name_);
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) {
    for (auto& [key, value] : (*existing)->data) s.data.try_emplace(key, std::move(value));
  }
  absl::Status status = secrets_.Write(ns_, s);
  if (status.ok()) {
    // The next save must be conditional on what we just wrote.
    absl::StatusOr<std::optional<KubeSecret>> reread = secrets_.Get(ns_, name_);
    if (reread.ok() && reread->has_value()) version_ = (*reread)->resource_version;
  }
  return status;
}

absl::StatusOr<std::optional<std::string>> KubernetesIdentityStore::LoadTrustedRoots() {
  absl::StatusOr<std::optional<KubeSecret>> secret = secrets_.Get(ns_, name_);
  if (!secret.ok()) return secret.status();
  if (!secret->has_value()) return std::nullopt;
  auto it = (*secret)->data.find(kTrustedRoots);
  if (it == (*secret)->data.end()) return std::nullopt;
  return std::string(it->second.UnsafeSecretString());
}

absl::Status KubernetesIdentityStore::SaveTrustedRoots(const std::string& roots_pem) {
  absl::StatusOr<std::optional<KubeSecret>> secret = secrets_.Get(ns_, name_);
  if (!secret.ok()) return secret.status();
  if (!secret->has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat(Describe(),
                     " does not exist; the agent keeps its trusted roots next to its "
                     "identity, so it must enroll first"));
  }
  KubeSecret& s = **secret;
  s.data.insert_or_assign(kTrustedRoots, SecretBytes::CopyOf(roots_pem));
  // Conditional on the version just read: a concurrent change is a conflict.
  absl::Status status = secrets_.Write(ns_, s);
  if (status.ok()) {
    absl::StatusOr<std::optional<KubeSecret>> reread = secrets_.Get(ns_, name_);
    if (reread.ok() && reread->has_value()) version_ = (*reread)->resource_version;
  }
  return status;
}

}  // namespace meshtrust::agent
