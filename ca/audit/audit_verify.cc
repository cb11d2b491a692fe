#include "ca/audit/audit_verify.h"

#include "absl/strings/str_cat.h"
#include "base/hex.h"
#include "ca/audit/audit_checkpoint.h"

namespace meshtrust::ca {

absl::StatusOr<AuditVerification> VerifyStoredAudit(AuditLogReader* store,
                                                    const std::string& public_key) {
  AuditVerifier verifier(public_key);
  uint64_t after = 0;
  while (verifier.ok()) {
    absl::StatusOr<std::vector<AuditRecord>> page = store->ReadAudit(after, 1000);
    if (!page.ok()) return page.status();
    if (page->empty()) break;
    for (const AuditRecord& r : *page) {
      if (!verifier.Next(r)) break;
    }
    after = page->back().sequence;
  }
  AuditVerification out;
  out.ok = verifier.ok();
  out.records_checked = verifier.checked();
  out.first_bad_sequence = verifier.first_bad_sequence();
  out.problem = verifier.problem();
  out.head = verifier.head();
  return out;
}

namespace {

absl::Status Truncated(uint64_t last, const AuditCheckpoint& checkpoint) {
  return absl::DataLossError(absl::StrCat(
      "audit log truncated: it ends at record ", last,
      ", but a checkpoint signed by this CA's audit key commits to record ", checkpoint.sequence,
      "; records ", last + 1, " to ", checkpoint.sequence, " were removed"));
}

absl::Status Rewritten(const std::string& hash, const AuditCheckpoint& checkpoint) {
  return absl::DataLossError(
      absl::StrCat("audit log rewritten: the chain's hash at record ", checkpoint.sequence, " is ",
                   HexEncode(hash), ", not the checkpoint's ", HexEncode(checkpoint.head_hash)));
}

}  // namespace

absl::Status CheckLogHoldsCheckpoint(AuditLogReader* store, const std::string& public_key,
                                     const AuditCheckpoint& checkpoint,
                                     std::optional<uint64_t> log_end) {
  if (absl::Status s = CheckCheckpointSignature(public_key, checkpoint); !s.ok()) return s;
  if (log_end.has_value() && *log_end < checkpoint.sequence) return Truncated(*log_end, checkpoint);
  AuditVerifier verifier(public_key);
  while (verifier.head().sequence < checkpoint.sequence) {
    uint64_t wanted = checkpoint.sequence - verifier.head().sequence;
    absl::StatusOr<std::vector<AuditRecord>> page = store->ReadAudit(
        verifier.head().sequence, static_cast<int>(std::min<uint64_t>(wanted, 1000)));
    if (!page.ok()) return page.status();
    if (page->empty()) return Truncated(verifier.head().sequence, checkpoint);
    for (const AuditRecord& r : *page) {
      if (!verifier.Next(r)) {
        return absl::DataLossError(
            absl::StrCat("audit log broken at record ", verifier.first_bad_sequence(),
                         " (before checkpoint ", checkpoint.sequence, "): ", verifier.problem()));
      }
      if (verifier.head().sequence == checkpoint.sequence) break;
    }
  }
  if (verifier.head().hash != checkpoint.head_hash) {
    return Rewritten(verifier.head().hash, checkpoint);
  }
  return absl::OkStatus();
}

absl::Status CheckRecordAtCheckpoint(AuditLogReader* store, const std::string& public_key,
                                     const AuditCheckpoint& checkpoint) {
  if (absl::Status s = CheckCheckpointSignature(public_key, checkpoint); !s.ok()) return s;
  if (checkpoint.sequence == 0) {
    AuditHead empty;
    return checkpoint.head_hash == empty.hash ? absl::OkStatus()
                                              : Rewritten(empty.hash, checkpoint);
  }
  absl::StatusOr<std::vector<AuditRecord>> record = store->ReadAudit(checkpoint.sequence - 1, 1);
  if (!record.ok()) return record.status();
  if (record->empty() || record->front().sequence != checkpoint.sequence) {
    // Where the log ends now, for the message.
    uint64_t last = 0;
    for (absl::StatusOr<std::vector<AuditRecord>> page = store->ReadAudit(0, 1000);
         page.ok() && !page->empty(); page = store->ReadAudit(last, 1000)) {
      last = page->back().sequence;
    }
    return Truncated(last, checkpoint);
  }
  const AuditRecord& r = record->front();
  if (!VerifyAuditRecordSignature(public_key, r)) {
    return absl::DataLossError(
        absl::StrCat("audit log rewritten: record ", r.sequence,
                     " has an invalid signature: it was not written by this CA's audit key"));
  }
  if (r.hash != checkpoint.head_hash) return Rewritten(r.hash, checkpoint);
  return absl::OkStatus();
}

}  // namespace meshtrust::ca
