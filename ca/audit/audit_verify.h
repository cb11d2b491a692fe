// Verification of a stored audit log, shared by the online Admin call and
// the offline `meshtrust-ca audit verify`.
#ifndef MESHTRUST_CA_AUDIT_AUDIT_VERIFY_H_
#define MESHTRUST_CA_AUDIT_AUDIT_VERIFY_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ca/audit/audit_chain.h"

namespace meshtrust::ca {

struct AuditVerification {
  bool ok = true;
  uint64_t records_checked = 0;
  uint64_t first_bad_sequence = 0;  // With !ok.
  std::string problem;              // With !ok: what is wrong with that record.
  AuditHead head;                   // The last good record.
  AuditCheckpoint checkpoint;       // Filled in by callers that can sign.
};

// Where stored records are read from; the Store is one.
class AuditLogReader {
 public:
  virtual ~AuditLogReader() = default;
  // Up to `limit` records after `after_sequence`, in sequence order.
  virtual absl::StatusOr<std::vector<AuditRecord>> ReadAudit(uint64_t after_sequence,
                                                             int limit) = 0;
};

// Reads every record in stored order and checks sequence, hash chain and
// signatures with `public_key` (32 bytes, Ed25519).
absl::StatusOr<AuditVerification> VerifyStoredAudit(AuditLogReader* store,
                                                    const std::string& public_key);

// Proves that the log still holds the history `checkpoint` commits to: the
// checkpoint is signed by `public_key`, the records up to its sequence verify
// (sequence, hash chain, signatures) and the chain's hash at that record is
// the checkpoint's head hash. kDataLoss saying what was rewritten or removed;
// records after the checkpoint are not read. `log_end`, when known (the
// sequence of a live CA's head, whose reads are themselves recorded and so
// would regrow a shortened log while it is read), settles a log shorter
// than the checkpoint without reading it.
absl::Status CheckLogHoldsCheckpoint(AuditLogReader* store, const std::string& public_key,
                                     const AuditCheckpoint& checkpoint,
                                     std::optional<uint64_t> log_end = std::nullopt);

// The quick form for start-up: the record at the checkpoint's sequence
// exists, is signed by `public_key` and stores the checkpoint's head hash
// (one read; the chain before it is not re-hashed). kDataLoss otherwise.
absl::Status CheckRecordAtCheckpoint(AuditLogReader* store, const std::string& public_key,
                                     const AuditCheckpoint& checkpoint);

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_AUDIT_AUDIT_VERIFY_H_
