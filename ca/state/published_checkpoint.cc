#include "ca/state/published_checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/files.h"
#include "spdlog/spdlog.h"

namespace meshtrust::ca {
namespace {

absl::Status AppendLine(const std::string& path, const std::string& line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot open the checkpoint log ", path,
                                               " for appending: ", std::strerror(errno)));
  }
  std::string data = line + "\n";
  ssize_t n = ::write(fd, data.data(), data.size());
  int write_errno = errno;
  bool synced = n == static_cast<ssize_t>(data.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) {
    return absl::UnavailableError(absl::StrCat("cannot append to the checkpoint log ", path, ": ",
                                               std::strerror(n < 0 ? write_errno : errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<PublishedCheckpoint>> PublishedCheckpoint::Open(
    const std::string& dir, AuditLogReader* log, const std::string& public_key,
    std::chrono::milliseconds interval) {
  std::string path = absl::StrCat(dir, "/", kPublishedCheckpointFile);
  std::optional<AuditCheckpoint> kept;
  if (PathExists(path)) {
    absl::StatusOr<std::string> text = ReadFile(path, 4096);
    if (!text.ok()) return text.status();
    absl::StatusOr<AuditCheckpoint> checkpoint = ParseCheckpointJson(*text, path);
    if (!checkpoint.ok()) {
      return absl::DataLossError(absl::StrCat("refusing to start: ", checkpoint.status().message(),
                                              "; it records the newest audit checkpoint this CA "
                                              "published and was not written by it"));
    }
    if (absl::Status s = CheckRecordAtCheckpoint(log, public_key, *checkpoint); !s.ok()) {
      return absl::DataLossError(absl::StrCat(
          "refusing to start: the audit log is behind the newest checkpoint this CA published (",
          path, ", record ", checkpoint->sequence, "): ", s.message(),
          ". Restore the database from a backup that holds that record, and investigate"));
    }
    kept = *std::move(checkpoint);
  }
  std::unique_ptr<PublishedCheckpoint> published(
      new PublishedCheckpoint(std::move(path), std::move(kept), interval));
  published->writer_ = std::thread([p = published.get()] { p->WriterLoop(); });
  return published;
}

PublishedCheckpoint::PublishedCheckpoint(std::string path, std::optional<AuditCheckpoint> kept,
                                         std::chrono::milliseconds interval)
    : path_(std::move(path)), interval_(interval) {
  absl::MutexLock lock(&mu_);
  if (kept.has_value()) written_sequence_ = kept->sequence;
  newest_ = std::move(kept);
}

PublishedCheckpoint::~PublishedCheckpoint() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (writer_.joinable()) writer_.join();
  if (absl::Status s = Flush(); !s.ok()) {
    spdlog::error("cannot write the newest audit checkpoint at shutdown: {}", s.ToString());
  }
}

absl::Status PublishedCheckpoint::ExportTo(const std::string& path) {
  // Opened once now, so a path that cannot be appended to fails at start-up.
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--checkpoint-log: cannot open ", path,
                                                   " for appending: ", std::strerror(errno)));
  }
  ::close(fd);
  absl::MutexLock lock(&mu_);
  export_path_ = path;
  // The first line after a start is the newest checkpoint known at start.
  if (newest_.has_value()) dirty_ = true;
  return absl::OkStatus();
}

void PublishedCheckpoint::Published(const AuditCheckpoint& checkpoint) {
  if (checkpoint.signature.empty()) return;  // Unsigned: not a checkpoint anyone can hold.
  absl::MutexLock lock(&mu_);
  if (newest_.has_value() && checkpoint.sequence <= newest_->sequence) return;
  newest_ = checkpoint;
  dirty_ = true;
}

std::optional<AuditCheckpoint> PublishedCheckpoint::newest() const {
  absl::MutexLock lock(&mu_);
  return newest_;
}

absl::Status PublishedCheckpoint::Flush() {
  absl::MutexLock write_lock(&write_mu_);
  AuditCheckpoint checkpoint;
  std::string export_path;
  bool advanced = false;
  {
    absl::MutexLock lock(&mu_);
    if (!dirty_ || !newest_.has_value()) return absl::OkStatus();
    checkpoint = *newest_;
    export_path = export_path_;
    advanced = checkpoint.sequence > written_sequence_;
    dirty_ = false;
  }
  std::string line = CheckpointJson(checkpoint);
  absl::Status status;
  if (advanced) status = WriteFileAtomically(path_, line + "\n", 0600);
  if (status.ok() && !export_path.empty()) status = AppendLine(export_path, line);
  absl::MutexLock lock(&mu_);
  if (!status.ok()) {
    dirty_ = true;  // Try again on the next tick.
    return status;
  }
  written_sequence_ = std::max(written_sequence_, checkpoint.sequence);
  return absl::OkStatus();
}

void PublishedCheckpoint::WriterLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::FromChrono(interval_))) return;
    }
    if (absl::Status s = Flush(); !s.ok()) {
      spdlog::error("cannot write the newest audit checkpoint: {}", s.ToString());
    }
  }
}

}  // namespace meshtrust::ca
