#include "agent/kube/kubernetes_identity_store.h"

#include "absl/strings/str_cat.h"
#include "agent/kube/kube_access.h"
#include "base/hex.h"

namespace meshtrust::agent {
namespace {
constexpr char kCert[] = "tls.crt";
constexpr char kKey[] = "tls.key";
constexpr char kControlCa[] = "ca.crt";
constexpr char kIdentity[] = "identity";
constexpr char kTrustedRoots[] = "trusted-roots.pem";
// Absent from identities enrolled before the CA delivered it.
constexpr char kAuditKey[] = "audit-public-key";
constexpr char kCheckpoint[] = "audit-checkpoint";
}  // namespace

absl::Status KubernetesIdentityStore::CheckWritable() {
  return CheckSecretWritable(secrets_.client(), ns_, name_);
}

absl::StatusOr<std::optional<client::Identity>> KubernetesIdentityStore::Load() {
  absl::MutexLock lock(&mu_);
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
  if (auto it = s.data.find(kAuditKey); it != s.data.end()) {
    absl::StatusOr<std::string> key = HexDecode(it->second.UnsafeSecretString());
    if (!key.ok() || key->size() != 32) {
      return absl::DataLossError(absl::StrCat(Describe(), " key ", kAuditKey,
                                              " is not a 32-byte key in hex; delete it and "
                                              "enroll again with a new join token"));
    }
    id.audit_public_key = *std::move(key);
  }
  return id;
}

absl::Status KubernetesIdentityStore::Save(const client::Identity& identity) {
  absl::MutexLock lock(&mu_);
  KubeSecret s;
  s.name = name_;
  s.resource_version = version_;
  s.labels["app.kubernetes.io/managed-by"] = "meshtrust";
  s.data.emplace(kCert, SecretBytes::CopyOf(identity.certificate_pem));
  s.data.emplace(kKey, SecretBytes::CopyOf(identity.key_pem.UnsafeSecretString()));
  s.data.emplace(kControlCa, SecretBytes::CopyOf(identity.control_ca_pem));
  s.data.emplace(kIdentity, SecretBytes::CopyOf(identity.identity));
  if (!identity.audit_public_key.empty()) {
    s.data.emplace(kAuditKey, SecretBytes::CopyOf(HexEncode(identity.audit_public_key)));
  }
  // The Secret's other keys (the trusted roots, the audit checkpoint) are
  // not the identity's to drop.
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

absl::StatusOr<std::optional<std::string>> KubernetesIdentityStore::ReadKey(const char* key) {
  absl::StatusOr<std::optional<KubeSecret>> secret = secrets_.Get(ns_, name_);
  if (!secret.ok()) return secret.status();
  if (!secret->has_value()) return std::nullopt;
  auto it = (*secret)->data.find(key);
  if (it == (*secret)->data.end()) return std::nullopt;
  return std::string(it->second.UnsafeSecretString());
}

absl::Status KubernetesIdentityStore::WriteKey(const char* key, const std::string& value,
                                               absl::string_view what) {
  // Only this key changes; the identity and the rest are written back as
  // they are stored.
  absl::StatusOr<std::optional<KubeSecret>> secret = secrets_.Get(ns_, name_);
  if (!secret.ok()) return secret.status();
  if (!secret->has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat(Describe(), " does not exist; the agent keeps ", what,
                     " next to its identity, so it must enroll first"));
  }
  KubeSecret& s = **secret;
  s.data.insert_or_assign(key, SecretBytes::CopyOf(value));
  // Conditional on the version just read: a concurrent change is a conflict.
  absl::Status status = secrets_.Write(ns_, s);
  if (status.ok()) {
    absl::StatusOr<std::optional<KubeSecret>> reread = secrets_.Get(ns_, name_);
    if (reread.ok() && reread->has_value()) version_ = (*reread)->resource_version;
  }
  return status;
}

absl::StatusOr<std::optional<std::string>> KubernetesIdentityStore::LoadTrustedRoots() {
  absl::MutexLock lock(&mu_);
  return ReadKey(kTrustedRoots);
}

absl::Status KubernetesIdentityStore::SaveTrustedRoots(const std::string& roots_pem) {
  absl::MutexLock lock(&mu_);
  return WriteKey(kTrustedRoots, roots_pem, "its trusted roots");
}

absl::StatusOr<std::optional<ca::AuditCheckpoint>> KubernetesIdentityStore::LoadCheckpoint() {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::optional<std::string>> json = ReadKey(kCheckpoint);
  if (!json.ok()) return json.status();
  if (!json->has_value()) return std::nullopt;
  absl::StatusOr<ca::AuditCheckpoint> checkpoint =
      ca::ParseCheckpointJson(**json, absl::StrCat(Describe(), " key ", kCheckpoint));
  if (!checkpoint.ok()) {
    return absl::DataLossError(absl::StrCat(checkpoint.status().message(),
                                            "; restore it from a backup (deleting the key "
                                            "forgets what this agent has seen)"));
  }
  return *std::move(checkpoint);
}

absl::Status KubernetesIdentityStore::SaveCheckpoint(const ca::AuditCheckpoint& checkpoint) {
  absl::MutexLock lock(&mu_);
  return WriteKey(kCheckpoint, ca::CheckpointJson(checkpoint), "the audit checkpoint it saw");
}

}  // namespace meshtrust::agent
