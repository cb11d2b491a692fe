#include "agent/identity_store.h"

#include <sodium.h>

#include "absl/strings/str_cat.h"
#include "base/files.h"
#include "nlohmann/json.hpp"

namespace meshtrust::agent {
namespace {
constexpr char kCert[] = "tls.crt";
constexpr char kKey[] = "tls.key";
constexpr char kControlCa[] = "ca.crt";
constexpr char kIdentity[] = "identity";
constexpr char kIdentityFile[] = "identity.json";
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

absl::StatusOr<std::optional<client::Identity>> FileIdentityStore::Load() {
  std::string path = dir_ + "/" + kIdentityFile;
  if (!PathExists(path)) return std::nullopt;
  if (absl::Status s = CheckPrivatePermissions(path); !s.ok()) return s;
  absl::StatusOr<SecretBytes> file = ReadSecretFile(path);
  if (!file.ok()) return file.status();
  nlohmann::json j = nlohmann::json::parse(file->UnsafeSecretString(), nullptr, false);
  if (!j.is_object() || !j.contains(kKey) || !j[kKey].is_string()) {
    return absl::DataLossError(
        absl::StrCat(path, " is corrupt; delete it and enroll again with a new join token"));
  }
  client::Identity id;
  id.identity = j.value(kIdentity, "");
  id.certificate_pem = j.value(kCert, "");
  id.control_ca_pem = j.value(kControlCa, "");
  std::string* key = j[kKey].get_ptr<std::string*>();
  id.key_pem = SecretBytes::CopyOf(absl::string_view(*key));
  sodium_memzero(key->data(), key->size());
  return id;
}

absl::Status FileIdentityStore::Save(const client::Identity& identity) {
  if (!PathExists(dir_)) {
    if (absl::Status s = MakeDirectory(dir_, 0700); !s.ok()) return s;
  }
  // One file, replaced atomically: a crash never pairs a key with the wrong
  // certificate.
  nlohmann::json j = {{kIdentity, identity.identity},
                      {kCert, identity.certificate_pem},
                      {kControlCa, identity.control_ca_pem},
                      {kKey, std::string(identity.key_pem.UnsafeSecretString())}};
  std::string text = j.dump();
  std::string* key = j[kKey].get_ptr<std::string*>();
  sodium_memzero(key->data(), key->size());
  absl::Status s = WriteFileAtomically(dir_ + "/" + kIdentityFile, text, 0600);
  sodium_memzero(text.data(), text.size());
  return s;
}

}  // namespace meshtrust::agent
