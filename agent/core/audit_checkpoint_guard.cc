#include "agent/core/audit_checkpoint_guard.h"

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace meshtrust::agent {

absl::StatusOr<std::unique_ptr<AuditCheckpointGuard>> AuditCheckpointGuard::Create(
    IdentityStore* store, const std::string& audit_public_key, AuditCheckpointCounters* counters) {
  std::optional<ca::CheckpointLedger> ledger;
  if (audit_public_key.empty()) {
    spdlog::warn(
        "audit checkpoints are NOT verified: the agent identity in {} was enrolled before the CA "
        "delivered its audit public key; enroll again with a new join token to verify them",
        store->Describe());
  } else {
    absl::StatusOr<std::optional<ca::AuditCheckpoint>> kept = store->LoadCheckpoint();
    if (!kept.ok()) return kept.status();
    absl::StatusOr<ca::CheckpointLedger> created =
        ca::CheckpointLedger::Create(audit_public_key, *std::move(kept));
    if (!created.ok()) {
      return absl::Status(created.status().code(),
                          absl::StrCat("the audit checkpoint kept in ", store->Describe(), ": ",
                                       created.status().message()));
    }
    ledger = *std::move(created);
    if (ledger->kept().has_value()) counters->kept_sequence = ledger->kept()->sequence;
  }
  counters->verifying = ledger.has_value();
  return std::unique_ptr<AuditCheckpointGuard>(
      new AuditCheckpointGuard(store, std::move(ledger), counters));
}

absl::Status AuditCheckpointGuard::Check(const std::optional<ca::AuditCheckpoint>& checkpoint,
                                         absl::string_view call, bool required) {
  if (!verifying_) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  auto refuse = [&](absl::string_view why) {
    ++counters_->refused;
    absl::Status s =
        absl::DataLossError(absl::StrCat("refusing the CA's answer to ", call, ": ", why));
    spdlog::error("{}", std::string(s.message()));
    return s;
  };
  if (!checkpoint.has_value()) {
    if (!required) return absl::OkStatus();
    return refuse("it carries no audit checkpoint");
  }
  absl::StatusOr<bool> raised = ledger_->Accept(*checkpoint);
  if (!raised.ok()) return refuse(raised.status().message());
  ++counters_->accepted;
  if (*raised) {
    counters_->kept_sequence = checkpoint->sequence;
    // Kept in memory either way; a later save catches up.
    if (absl::Status s = store_->SaveCheckpoint(*checkpoint); !s.ok()) {
      spdlog::warn("cannot save the audit checkpoint at record {} in {}: {}", checkpoint->sequence,
                   store_->Describe(), s.ToString());
    }
  }
  return absl::OkStatus();
}

}  // namespace meshtrust::agent
