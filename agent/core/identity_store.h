// IdentityStore: where the agent keeps its enrollment identity (key,
// certificate, control CA, audit public key), so restarts never re-enroll,
// and the highest audit checkpoint it accepted. The identity
// lifecycle does not know whether that is a Secret in the agent's own
// namespace (kube/) or a directory (files/).
#ifndef MESHTRUST_AGENT_CORE_IDENTITY_STORE_H_
#define MESHTRUST_AGENT_CORE_IDENTITY_STORE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "ca/audit/audit_chain.h"
#include "client/identity.h"

namespace meshtrust::agent {

// Implementations are thread-compatible: one caller at a time.
class IdentityStore {
 public:
  virtual ~IdentityStore() = default;
  // nullopt when no identity is stored; an error when one is stored but
  // cannot be read (naming what is wrong and what to do).
  virtual absl::StatusOr<std::optional<client::Identity>> Load() = 0;
  // Replaces the stored identity as a whole: never a key with the wrong
  // certificate. The key is kept where only the agent can read it.
  virtual absl::Status Save(const client::Identity& identity) = 0;
  // Checks, writing nothing, that Save (and the saves beside it) can
  // succeed: the place exists and the agent may read, create and replace
  // what it keeps there. kNotFound naming what is missing,
  // kPermissionDenied naming what to grant. Called before enrolling, which
  // spends the one-time join token.
  virtual absl::Status CheckWritable() = 0;
  // "Secret meshtrust-system/meshtrust-agent-identity", "directory /var/lib/...".
  virtual std::string Describe() const = 0;

  // The highest audit checkpoint the agent accepted, kept beside the
  // identity but apart from it (a Secret key or a file of its own), so
  // saving one never rewrites the key and saving the identity keeps it.
  // nullopt when none is stored; an error when one is stored but unreadable.
  virtual absl::StatusOr<std::optional<ca::AuditCheckpoint>> LoadCheckpoint() = 0;
  virtual absl::Status SaveCheckpoint(const ca::AuditCheckpoint& checkpoint) = 0;
};

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_CORE_IDENTITY_STORE_H_
