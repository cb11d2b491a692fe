// The newest audit checkpoint this CA handed out, kept outside its database
// (<state>/audit-checkpoint.json), so that a log shortened while the CA was
// down is refused at start-up; optionally also appended to an export log the
// operator ships elsewhere.
//
// Writes are batched: the signing path only notes the checkpoint in memory,
// and a background thread writes the newest one at most every `interval`
// (and once more at shutdown). A log truncated back to within the last
// unwritten interval before a crash is therefore not detected here (clients
// holding a later checkpoint still detect it). docs/threat-model.md lists
// what this can and cannot detect.
#ifndef MESHTRUST_CA_STATE_PUBLISHED_CHECKPOINT_H_
#define MESHTRUST_CA_STATE_PUBLISHED_CHECKPOINT_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "ca/audit/audit_checkpoint.h"
#include "ca/audit/audit_verify.h"

namespace meshtrust::ca {

inline constexpr char kPublishedCheckpointFile[] = "audit-checkpoint.json";
inline constexpr std::chrono::milliseconds kPublishedCheckpointInterval{1000};

class PublishedCheckpoint final : public CheckpointSink {
 public:
  // Reads <dir>/audit-checkpoint.json (absent: nothing published yet) and
  // refuses (kDataLoss) when `log` no longer holds it: its record is missing
  // or has another hash, or the file is not a checkpoint signed by
  // `public_key`. Then starts the writer thread.
  static absl::StatusOr<std::unique_ptr<PublishedCheckpoint>> Open(
      const std::string& dir, AuditLogReader* log, const std::string& public_key,
      std::chrono::milliseconds interval = kPublishedCheckpointInterval);
  // Stops the writer and writes what is pending.
  ~PublishedCheckpoint() override;

  // Also append each checkpoint written to `path` (JSON lines, created 0644,
  // never truncated). Fails when the file cannot be opened for appending.
  absl::Status ExportTo(const std::string& path) ABSL_LOCKS_EXCLUDED(mu_);

  void Published(const AuditCheckpoint& checkpoint) override ABSL_LOCKS_EXCLUDED(mu_);
  // Writes the newest checkpoint now if it is not written yet.
  absl::Status Flush() ABSL_LOCKS_EXCLUDED(write_mu_, mu_);
  std::optional<AuditCheckpoint> newest() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  PublishedCheckpoint(std::string path, std::optional<AuditCheckpoint> kept,
                      std::chrono::milliseconds interval);
  void WriterLoop() ABSL_LOCKS_EXCLUDED(mu_);

  const std::string path_;
  const std::chrono::milliseconds interval_;
  mutable absl::Mutex mu_;
  std::optional<AuditCheckpoint> newest_ ABSL_GUARDED_BY(mu_);
  uint64_t written_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::string export_path_ ABSL_GUARDED_BY(mu_);
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // One writer of the files at a time.
  std::thread writer_;
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_STATE_PUBLISHED_CHECKPOINT_H_
