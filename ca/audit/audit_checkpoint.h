// Checkpoints held by clients: the one place that decides whether a signed
// audit checkpoint is acceptable after the ones seen before it. Used by the
// agent, meshtrustctl and the CA itself; no gRPC, no storage.
//
// A checkpoint is acceptable when its signature verifies under the pinned
// audit key and it does not contradict the highest one kept: a lower
// sequence means the log was shortened (rolled back), the same sequence with
// another head hash means it was rewritten (forked). Either is refused with
// kDataLoss and leaves what is kept unchanged.
#ifndef MESHTRUST_CA_AUDIT_AUDIT_CHECKPOINT_H_
#define MESHTRUST_CA_AUDIT_AUDIT_CHECKPOINT_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ca/audit/audit_chain.h"

namespace meshtrust::ca {

// A checkpoint as one line of JSON: {"sequence":N,"head_hash":"<hex>",
// "signature":"<hex>"}. The format of saved checkpoint files, of the
// --checkpoint-log and of `meshtrustctl audit checkpoint -o json`.
std::string CheckpointJson(const AuditCheckpoint& checkpoint);
// Reads CheckpointJson's text (surrounding whitespace allowed, nothing
// else). kInvalidArgument naming `source` and what is wrong.
absl::StatusOr<AuditCheckpoint> ParseCheckpointJson(absl::string_view text,
                                                    absl::string_view source);

// kDataLoss unless `checkpoint` is signed by `public_key` (32 raw bytes).
absl::Status CheckCheckpointSignature(const std::string& public_key,
                                      const AuditCheckpoint& checkpoint);

// kDataLoss when `next` (whose signature the caller checked) contradicts
// `kept`: a lower sequence, or the same sequence with another head hash.
absl::Status CheckNotBehind(const AuditCheckpoint& kept, const AuditCheckpoint& next);

// Told of every checkpoint the CA hands out (ca/core's AuditTrail calls it
// on the signing path). Implementations are thread safe and must not block
// on I/O.
class CheckpointSink {
 public:
  virtual ~CheckpointSink() = default;
  virtual void Published(const AuditCheckpoint& checkpoint) = 0;
};

// The highest checkpoint seen under one audit key. Thread-compatible.
class CheckpointLedger {
 public:
  // `public_key`: 32 raw bytes. `kept`: the highest checkpoint seen before
  // (from storage), checked against the key by Create.
  static absl::StatusOr<CheckpointLedger> Create(std::string public_key,
                                                 std::optional<AuditCheckpoint> kept);

  // Checks `next` (signature, then against the kept one) and keeps it when
  // it is higher. Returns whether the kept checkpoint changed; an error
  // changes nothing.
  absl::StatusOr<bool> Accept(const AuditCheckpoint& next);
  const std::optional<AuditCheckpoint>& kept() const { return kept_; }
  const std::string& public_key() const { return public_key_; }

 private:
  CheckpointLedger(std::string public_key, std::optional<AuditCheckpoint> kept)
      : public_key_(std::move(public_key)), kept_(std::move(kept)) {}
  std::string public_key_;
  std::optional<AuditCheckpoint> kept_;
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_AUDIT_AUDIT_CHECKPOINT_H_
