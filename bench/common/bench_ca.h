// A real meshtrust-ca for the benchmarks: `meshtrust-ca init` in a work
// directory, then `meshtrust-ca serve` as a child process on a loopback port,
// with the first operator enrolled over gRPC. Clusters are added, their
// issuance limits lifted and their agents enrolled through the real Admin and
// TrustAuthority APIs, as meshtrustctl and meshtrust-agent do.
#ifndef MESHTRUST_BENCH_COMMON_BENCH_CA_H_
#define MESHTRUST_BENCH_COMMON_BENCH_CA_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/identity.h"
#include "meshtrust/v1/meshtrust.grpc.pb.h"
#include "tests/testing/ca_process.h"

namespace meshtrust::bench {

struct BenchCaOptions {
  std::string ca_binary;  // meshtrust-ca.
  // State directory, KEK, port files and the CA's log go here; the caller
  // owns it (a throwaway directory: the KEK in it is the bench's own).
  std::string work_dir;
  std::vector<std::string> serve_args;  // Extra `serve` flags.
  int open_files_limit = 0;             // > 0: serve runs under `ulimit -n`.
};

// Not thread safe except where a method says so. Stops the CA (SIGTERM) on
// destruction.
class BenchCa {
 public:
  static absl::StatusOr<std::unique_ptr<BenchCa>> Start(BenchCaOptions options);
  ~BenchCa();

  const std::string& address() const { return address_; }
  pid_t pid() { return process_.process()->pid(); }
  const std::string& pin() const { return pin_; }
  std::string log_path() const { return process_.log_path(); }
  const client::Identity& admin() const { return admin_; }
  // A stub on one channel as the first operator. Thread safe.
  v1::Admin::Stub* admin_stub() { return admin_stub_.get(); }

  // Registers `name` (trust domain cluster.local) and returns its join token.
  absl::StatusOr<std::string> AddCluster(const std::string& name);
  // The operator's override `meshtrustctl cluster limit NAME --unlimited`:
  // the same Admin.SetIssuanceLimit call.
  absl::Status LiftIssuanceLimit(const std::string& name);
  // Enrolls an identity with `token` (key generated here). Thread safe.
  absl::StatusOr<client::Identity> Enroll(const std::string& token);

 private:
  explicit BenchCa(BenchCaOptions options);

  BenchCaOptions options_;
  testing::CaProcess process_;
  std::string address_, pin_;
  client::Identity admin_;
  std::unique_ptr<v1::Admin::Stub> admin_stub_;
};

}  // namespace meshtrust::bench

#endif  // MESHTRUST_BENCH_COMMON_BENCH_CA_H_
