// The agent's identity in a directory: one private file, replaced atomically;
// the mesh roots it trusts in another (trusted-roots.pem).
#ifndef MESHTRUST_AGENT_FILES_FILE_IDENTITY_STORE_H_
#define MESHTRUST_AGENT_FILES_FILE_IDENTITY_STORE_H_

#include "absl/strings/string_view.h"
#include "agent/core/identity_store.h"
#include "agent/core/root_trust.h"
#include "base/secret_bytes.h"
#include "ca/audit/audit_checkpoint.h"

namespace meshtrust::agent {

// Decodes the file FileIdentityStore keeps (a JSON object holding the
// identity, its certificate, the control CA and the private key). kDataLoss
// naming `path` and what is wrong when it is not that document.
absl::StatusOr<client::Identity> ParseIdentityFile(absl::string_view text, absl::string_view path);
// The file's text for `identity`; ParseIdentityFile reads it back.
SecretBytes EncodeIdentityFile(const client::Identity& identity);

class FileIdentityStore final : public IdentityStore, public TrustedRootsStore {
 public:
  explicit FileIdentityStore(std::string dir) : dir_(std::move(dir)) {}
  absl::StatusOr<std::optional<client::Identity>> Load() override;
  absl::Status Save(const client::Identity& identity) override;
  absl::Status CheckWritable() override;
  std::string Describe() const override { return "directory " + dir_; }
  absl::StatusOr<std::optional<std::string>> LoadTrustedRoots() override;
  absl::Status SaveTrustedRoots(const std::string& roots_pem) override;
  // In audit-checkpoint.json beside identity.json.
  absl::StatusOr<std::optional<ca::AuditCheckpoint>> LoadCheckpoint() override;
  absl::Status SaveCheckpoint(const ca::AuditCheckpoint& checkpoint) override;

 private:
  std::string dir_;
};

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_FILES_FILE_IDENTITY_STORE_H_
