// Where the agent keeps its enrollment identity, so restarts never
// re-enroll: a Secret in the agent's own namespace, or a directory.
#ifndef MESHTRUST_AGENT_IDENTITY_STORE_H_
#define MESHTRUST_AGENT_IDENTITY_STORE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "agent/kube_secrets.h"
#include "client/identity.h"

namespace meshtrust::agent {

class IdentityStore {
 public:
  virtual ~IdentityStore() = default;
  virtual absl::StatusOr<std::optional<client::Identity>> Load() = 0;
  virtual absl::Status Save(const client::Identity& identity) = 0;
  virtual std::string Describe() const = 0;
};

class KubernetesIdentityStore final : public IdentityStore {
 public:
  KubernetesIdentityStore(KubeClient* client, std::string ns, std::string name)
      : secrets_(client), ns_(std::move(ns)), name_(std::move(name)) {}
  absl::StatusOr<std::optional<client::Identity>> Load() override;
  absl::Status Save(const client::Identity& identity) override;
  std::string Describe() const override { return "Secret " + ns_ + "/" + name_; }

 private:
  KubeSecrets secrets_;
  std::string ns_, name_;
  std::string version_;  // resourceVersion seen by Load.
};

// Decodes the file FileIdentityStore keeps (a JSON object holding the
// identity, its certificate, the control CA and the private key). kDataLoss
// naming `path` and what is wrong when it is not that document.
absl::StatusOr<client::Identity> ParseIdentityFile(absl::string_view text, absl::string_view path);
// The file's text for `identity`; ParseIdentityFile reads it back.
SecretBytes EncodeIdentityFile(const client::Identity& identity);

class FileIdentityStore final : public IdentityStore {
 public:
  explicit FileIdentityStore(std::string dir) : dir_(std::move(dir)) {}
  absl::StatusOr<std::optional<client::Identity>> Load() override;
  absl::Status Save(const client::Identity& identity) override;
  std::string Describe() const override { return "directory " + dir_; }

 private:
  std::string dir_;
};

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_IDENTITY_STORE_H_
