// AuditCheckpointGuard: the agent's side of audit transparency. Every audit
// checkpoint the CA hands the agent is checked against the audit key pinned
// at enrollment and against the highest one kept beside the identity
// (ca/audit/audit_checkpoint.h decides); an answer whose checkpoint is
// refused is refused as a whole, so nothing from it is installed.
#ifndef MESHTRUST_AGENT_CORE_AUDIT_CHECKPOINT_GUARD_H_
#define MESHTRUST_AGENT_CORE_AUDIT_CHECKPOINT_GUARD_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "agent/core/identity_store.h"
#include "ca/audit/audit_checkpoint.h"

namespace meshtrust::agent {

// What the guards of one agent process have seen, for metrics. Outlives
// each round's guard.
struct AuditCheckpointCounters {
  std::atomic<int64_t> accepted{0};
  std::atomic<int64_t> refused{0};
  std::atomic<uint64_t> kept_sequence{0};
  std::atomic<bool> verifying{false};
};

// Thread safe: the reconcile loop and the Watch stream both report to it.
class AuditCheckpointGuard {
 public:
  // Reads the kept checkpoint from `store`. With an empty `audit_public_key`
  // (an identity enrolled before the CA delivered it) checkpoints are not
  // verified: Check accepts everything and the agent says so once here.
  // `store` and `counters` must outlive the guard.
  static absl::StatusOr<std::unique_ptr<AuditCheckpointGuard>> Create(
      IdentityStore* store, const std::string& audit_public_key, AuditCheckpointCounters* counters);

  // OK when `checkpoint`, from the CA's answer to `call`, verifies and is not
  // behind the kept one; a higher one is kept and saved. Otherwise kDataLoss
  // ("refusing the CA's answer to <call>: ...") and nothing changes. An
  // answer without a checkpoint is refused when `required`.
  absl::Status Check(const std::optional<ca::AuditCheckpoint>& checkpoint, absl::string_view call,
                     bool required = true) ABSL_LOCKS_EXCLUDED(mu_);

  bool verifying() const { return verifying_; }

 private:
  AuditCheckpointGuard(IdentityStore* store, std::optional<ca::CheckpointLedger> ledger,
                       AuditCheckpointCounters* counters)
      : store_(store),
        counters_(counters),
        verifying_(ledger.has_value()),
        ledger_(std::move(ledger)) {}

  IdentityStore* store_ ABSL_PT_GUARDED_BY(mu_);
  AuditCheckpointCounters* counters_;
  const bool verifying_;
  absl::Mutex mu_;
  std::optional<ca::CheckpointLedger> ledger_ ABSL_GUARDED_BY(mu_);  // nullopt: not verifying.
};

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_CORE_AUDIT_CHECKPOINT_GUARD_H_
