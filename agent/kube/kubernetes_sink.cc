#include "agent/kube/kubernetes_sink.h"

#include "absl/strings/str_cat.h"
#include "agent/kube/kube_access.h"

namespace meshtrust::agent {

std::string KubernetesSink::Describe() const { return absl::StrCat("Secret ", ns_, "/", name_); }

absl::Status KubernetesSink::CheckWritable() {
  return CheckSecretWritable(secrets_.client(), ns_, name_);
}

absl::StatusOr<std::optional<InstalledCaCerts>> KubernetesSink::Read() {
  absl::StatusOr<std::optional<KubeSecret>> secret = secrets_.Get(ns_, name_);
  if (!secret.ok()) return secret.status();
  if (!secret->has_value()) return std::nullopt;
  KubeSecret& s = **secret;
  InstalledCaCerts out;
  out.version = s.resource_version;
  auto label = s.labels.find(kManagedByLabel);
  out.managed = label != s.labels.end() && label->second == kManagedByValue;
  auto text = [&s](const char* key) {
    auto it = s.data.find(key);
    return it == s.data.end() ? std::string() : std::string(it->second.UnsafeSecretString());
  };
  out.files.ca_cert_pem = text(kCaCertFile);
  out.files.cert_chain_pem = text(kCertChainFile);
  out.files.root_cert_pem = text(kRootCertFile);
  out.files.ca_crl_pem = text(kCaCrlFile);
  auto key = s.data.find(kCaKeyFile);
  if (key != s.data.end()) out.files.ca_key_pem = std::move(key->second);
  out.complete = !out.files.ca_cert_pem.empty() && !out.files.ca_key_pem.empty() &&
                 !out.files.cert_chain_pem.empty() && !out.files.root_cert_pem.empty();
  out.files.serial = s.annotations[kSerialAnnotation];
  out.files.not_after = s.annotations[kNotAfterAnnotation];
  out.files.bundle_sha256 = s.annotations[kBundleAnnotation];
  out.files.crl_set_sha256 = s.annotations[kCrlSetAnnotation];
  return out;
}

absl::Status KubernetesSink::Write(const CaCerts& certs, const std::string& expected_version) {
  KubeSecret s;
  s.name = name_;
  s.resource_version = expected_version;
  s.labels[kManagedByLabel] = kManagedByValue;
  s.annotations[kSerialAnnotation] = certs.serial;
  s.annotations[kNotAfterAnnotation] = certs.not_after;
  s.annotations[kBundleAnnotation] = certs.bundle_sha256;
  if (!certs.crl_set_sha256.empty()) s.annotations[kCrlSetAnnotation] = certs.crl_set_sha256;
  s.data.emplace(kCaCertFile, SecretBytes::CopyOf(certs.ca_cert_pem));
  s.data.emplace(kCaKeyFile, SecretBytes::CopyOf(certs.ca_key_pem.UnsafeSecretString()));
  s.data.emplace(kCertChainFile, SecretBytes::CopyOf(certs.cert_chain_pem));
  s.data.emplace(kRootCertFile, SecretBytes::CopyOf(certs.root_cert_pem));
  if (!certs.ca_crl_pem.empty()) s.data.emplace(kCaCrlFile, SecretBytes::CopyOf(certs.ca_crl_pem));
  return secrets_.Write(ns_, s);
}

}  // namespace meshtrust::agent
