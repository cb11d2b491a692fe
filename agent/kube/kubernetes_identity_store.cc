#include "agent/kube/kubernetes_identity_store.h"

#include "absl/strings/str_cat.h"

namespace meshtrust::agent {
namespace {
constexpr char kCert[] = "tls.crt";
constexpr char kKey[] = "tls.key";
constexpr char kControlCa[] = "ca.crt";
constexpr char kIdentity[] = "identity";
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
  absl::Status status = secrets_.Write(ns_, s);
  if (status.ok()) {
    // The next save must be conditional on what we just wrote.
    absl::StatusOr<std::optional<KubeSecret>> reread = secrets_.Get(ns_, name_);
    if (reread.ok() && reread->has_value()) version_ = (*reread)->resource_version;
  }
  return status;
}

}  // namespace meshtrust::agent
