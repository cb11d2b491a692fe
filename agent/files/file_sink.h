// A directory sink for VMs and tests, switched atomically the way the kubelet
// updates a Secret volume: the files live in a fresh "..<timestamp>" data
// directory, "..data" is a symlink to it replaced with rename(2), and each
// Istio file name is a symlink through "..data". Readers see the old set or
// the new set, never a mix. The key file is 0600.
#ifndef MESHTRUST_AGENT_FILES_FILE_SINK_H_
#define MESHTRUST_AGENT_FILES_FILE_SINK_H_

#include "agent/core/secret_sink.h"

namespace meshtrust::agent {

class FileSink final : public SecretSink {
 public:
  explicit FileSink(std::string dir) : dir_(std::move(dir)) {}
  absl::StatusOr<std::optional<InstalledCaCerts>> Read() override;
  absl::Status Write(const CaCerts& certs, const std::string& expected_version) override;
  absl::Status CheckWritable() override;
  std::string Describe() const override { return "directory " + dir_; }

 private:
  std::string dir_;
};

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_FILES_FILE_SINK_H_
