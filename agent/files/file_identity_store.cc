#include "agent/files/file_identity_store.h"

#include <sodium.h>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "base/files.h"
#include "base/hex.h"
#include "base/json_fields.h"
#include "nlohmann/json.hpp"

namespace meshtrust::agent {
namespace {
// The same names as the Kubernetes Secret's keys.
constexpr char kCert[] = "tls.crt";
constexpr char kKey[] = "tls.key";
constexpr char kControlCa[] = "ca.crt";
constexpr char kIdentity[] = "identity";
constexpr char kIdentityFile[] = "identity.json";
constexpr char kTrustedRootsFile[] = "trusted-roots.pem";
// Absent from identities enrolled before the CA delivered it.
constexpr char kAuditKey[] = "audit-public-key";
constexpr char kCheckpointFile[] = "audit-checkpoint.json";
}  // namespace

absl::StatusOr<client::Identity> ParseIdentityFile(absl::string_view text, absl::string_view path) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  // The tree holds the private key; wipe it however this function returns.
  absl::Cleanup wipe_key = [&j] {
    if (!j.is_object()) return;
    auto it = j.find(kKey);
    if (it != j.end() && it->is_string()) {
      std::string* key = it->get_ptr<std::string*>();
      sodium_memzero(key->data(), key->size());
    }
  };
  auto corrupt = [path](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(path, " is corrupt (", why,
                                            "); delete it and enroll again with a new join token"));
  };
  if (j.is_discarded()) return corrupt("not JSON");
  if (!j.is_object()) return corrupt("not a JSON object");
  client::Identity id;
  for (auto [key, into] :
       {std::pair{kIdentity, &id.identity}, std::pair{kCert, &id.certificate_pem},
        std::pair{kControlCa, &id.control_ca_pem}}) {
    if (!j.contains(key)) return corrupt(absl::StrCat("no field \"", key, "\""));
    absl::StatusOr<std::string> value = JsonString(j, key);
    if (!value.ok()) return corrupt(value.status().message());
    *into = *std::move(value);
  }
  auto key = j.find(kKey);
  if (key == j.end()) return corrupt(absl::StrCat("no field \"", kKey, "\""));
  if (!key->is_string()) {
    return corrupt(absl::StrCat("field \"", kKey, "\" is ", key->type_name(), ", not a string"));
  }
  id.key_pem = SecretBytes::CopyOf(absl::string_view(*key->get_ptr<const std::string*>()));
  absl::StatusOr<std::string> audit_key_hex = JsonString(j, kAuditKey);
  if (!audit_key_hex.ok()) return corrupt(audit_key_hex.status().message());
  absl::StatusOr<std::string> audit_key = HexDecode(*audit_key_hex);
  if (!audit_key.ok() || (!audit_key->empty() && audit_key->size() != 32)) {
    return corrupt(absl::StrCat("field \"", kAuditKey, "\" is not a 32-byte key in hex"));
  }
  id.audit_public_key = *std::move(audit_key);
  return id;
}

absl::Status FileIdentityStore::CheckWritable() { return CheckDirectoryWritable(dir_); }

absl::StatusOr<std::optional<client::Identity>> FileIdentityStore::Load() {
  std::string path = dir_ + "/" + kIdentityFile;
  if (!PathExists(path)) return std::nullopt;
  absl::StatusOr<SecretBytes> file = ReadPrivateSecretFile(path);
  if (!file.ok()) return file.status();
  absl::StatusOr<client::Identity> id = ParseIdentityFile(file->UnsafeSecretString(), path);
  if (!id.ok()) return id.status();
  return *std::move(id);
}

SecretBytes EncodeIdentityFile(const client::Identity& identity) {
  nlohmann::json j = {{kIdentity, identity.identity},
                      {kCert, identity.certificate_pem},
                      {kControlCa, identity.control_ca_pem},
                      {kKey, std::string(identity.key_pem.UnsafeSecretString())}};
  if (!identity.audit_public_key.empty()) j[kAuditKey] = HexEncode(identity.audit_public_key);
  std::string text = j.dump();
  SecretBytes out = SecretBytes::CopyOf(absl::string_view(text));
  std::string* key = j[kKey].get_ptr<std::string*>();
  sodium_memzero(key->data(), key->size());
  sodium_memzero(text.data(), text.size());
  return out;
}

absl::Status FileIdentityStore::Save(const client::Identity& identity) {
  if (!PathExists(dir_)) {
    if (absl::Status s = MakeDirectory(dir_, 0700); !s.ok()) return s;
  }
  // One file, replaced atomically: a crash never pairs a key with the wrong
  // certificate.
  return WriteFileAtomically(dir_ + "/" + kIdentityFile,
                             EncodeIdentityFile(identity).UnsafeSecretString(), 0600);
}

absl::StatusOr<std::optional<std::string>> FileIdentityStore::LoadTrustedRoots() {
  std::string path = dir_ + "/" + kTrustedRootsFile;
  if (!PathExists(path)) return std::nullopt;
  absl::StatusOr<std::string> pem = ReadPrivateFile(path, 1 << 20);
  if (!pem.ok()) return pem.status();
  return *std::move(pem);
}

absl::Status FileIdentityStore::SaveTrustedRoots(const std::string& roots_pem) {
  if (!PathExists(dir_)) {
    if (absl::Status s = MakeDirectory(dir_, 0700); !s.ok()) return s;
  }
  return WriteFileAtomically(dir_ + "/" + kTrustedRootsFile, roots_pem, 0600);
}

absl::StatusOr<std::optional<ca::AuditCheckpoint>> FileIdentityStore::LoadCheckpoint() {
  std::string path = dir_ + "/" + kCheckpointFile;
  if (!PathExists(path)) return std::nullopt;
  absl::StatusOr<std::string> text = ReadPrivateFile(path, 4096);
  if (!text.ok()) return text.status();
  absl::StatusOr<ca::AuditCheckpoint> checkpoint = ca::ParseCheckpointJson(*text, path);
  if (!checkpoint.ok()) {
    return absl::DataLossError(absl::StrCat(checkpoint.status().message(),
                                            "; restore it from a backup (deleting it forgets "
                                            "what this agent has seen)"));
  }
  return *std::move(checkpoint);
}

absl::Status FileIdentityStore::SaveCheckpoint(const ca::AuditCheckpoint& checkpoint) {
  return WriteFileAtomically(dir_ + "/" + kCheckpointFile, ca::CheckpointJson(checkpoint) + "\n",
                             0600);
}

}  // namespace meshtrust::agent
