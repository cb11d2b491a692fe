// signing_bench: a closed-loop load generator for SignIntermediate.
//
// An async (callback API) gRPC client over mTLS, as an enrolled cluster
// identity, keeps `c` calls in flight: each answer starts the next call with
// the next CSR from a pool of pre-generated ones. After a warm-up, it counts
// the calls answered within the measured window and prints one JSON line per
// concurrency: signed/s, p50/p99/max latency, the CA's CPU time per signing
// (utime+stime from /proc/<pid>/stat across the window) and its memory.
//
// By default it starts its own CA (`meshtrust-ca init` + `serve` in a
// temporary directory), registers one cluster, lifts that cluster's issuance
// limit with the operator's override (what `meshtrustctl cluster limit NAME
// --unlimited` sends) and enrolls the cluster's identity. With --ca-address
// and --identity-file it measures a CA that is already running instead.
#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/files/file_identity_store.h"
#include "base/files.h"
#include "bench/common/bench_ca.h"
#include "bench/common/proc_stats.h"
#include "client/ca_client.h"
#include "meshtrust/v1/meshtrust.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/pem.h"
#include "tests/testing/temp_dir.h"

namespace meshtrust::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

// `count` CSRs (DER) for fresh keys of `alg`, as an agent builds them.
absl::StatusOr<std::vector<std::string>> CsrPool(int count, pki::KeyAlgorithm alg) {
  std::vector<std::string> pool;
  pool.reserve(count);
  for (int i = 0; i < count; ++i) {
    auto key = pki::GenerateKey(alg);
    if (!key.ok()) return key.status();
    absl::StatusOr<std::string> csr = pki::BuildCsrDer(key->get(), "");
    if (!csr.ok()) return csr.status();
    pool.push_back(std::move(*csr));
  }
  return pool;
}

// Nearest-rank percentile of sorted `values`.
int64_t Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

double Round(double value, int decimals) {
  double scale = std::pow(10.0, decimals);
  return std::round(value * scale) / scale;
}

struct WindowResult {
  int64_t signed_count = 0;
  int64_t errors = 0;
  std::string first_error;
  std::vector<int64_t> latencies_us;  // Sorted.
  double window_seconds = 0;
  std::optional<ProcSample> ca_before, ca_after;
  ProcSample client_before, client_after;
};

// `concurrency` SignIntermediate calls kept in flight until Run() ends.
// Owned by shared pointers, one held by every call in flight: the last
// answer may still be on its way out of Done() when Run() returns.
class ClosedLoop : public std::enable_shared_from_this<ClosedLoop> {
 public:
  ClosedLoop(v1::TrustAuthority::Stub* stub, std::string cluster,
             const std::vector<std::string>& csrs, int concurrency)
      : stub_(stub), cluster_(std::move(cluster)), csrs_(csrs), concurrency_(concurrency) {}

  WindowResult Run(absl::Duration warmup, absl::Duration window, pid_t ca_pid) {
    {
      absl::MutexLock lock(&mu_);
      in_flight_ = concurrency_;
    }
    for (int i = 0; i < concurrency_; ++i) Issue();
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(warmup));

    WindowResult result;
    auto sample_ca = [ca_pid]() -> std::optional<ProcSample> {
      if (ca_pid <= 0) return std::nullopt;
      absl::StatusOr<ProcSample> s = SampleProcess(ca_pid);
      return s.ok() ? std::optional<ProcSample>(*s) : std::nullopt;
    };
    result.ca_before = sample_ca();
    result.client_before = SampleProcess(::getpid()).value_or(ProcSample{});
    SteadyClock::time_point start = SteadyClock::now();
    phase_.store(kMeasuring);
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(window));
    phase_.store(kStopping);
    SteadyClock::time_point end = SteadyClock::now();
    result.ca_after = sample_ca();
    result.client_after = SampleProcess(::getpid()).value_or(ProcSample{});
    result.window_seconds = std::chrono::duration<double>(end - start).count();

    // Calls still in flight are answered (outside the window) before the
    // next concurrency starts, so one level's backlog does not leak into
    // the next.
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* n) { return *n == 0; }, &in_flight_));
    result.signed_count = signed_;
    result.errors = errors_;
    result.first_error = first_error_;
    result.latencies_us = std::move(latencies_us_);
    std::sort(result.latencies_us.begin(), result.latencies_us.end());
    return result;
  }

 private:
  enum Phase { kWarmup, kMeasuring, kStopping };
  struct Call {
    std::unique_ptr<grpc::ClientContext> context;
    v1::SignIntermediateRequest request;
    v1::SignIntermediateResponse response;
    SteadyClock::time_point start;
  };

  void Issue() {
    auto call = std::make_unique<Call>();
    call->context = client::NewContext(std::chrono::seconds(60));
    call->request.set_cluster(cluster_);
    call->request.set_csr_der(csrs_[next_csr_.fetch_add(1) % csrs_.size()]);
    call->start = SteadyClock::now();
    Call* raw = call.release();  // Owned again by Done().
    stub_->async()->SignIntermediate(raw->context.get(), &raw->request, &raw->response,
                                     [self = shared_from_this(), raw](grpc::Status status) {
                                       self->Done(std::unique_ptr<Call>(raw), std::move(status));
                                     });
  }

  void Done(std::unique_ptr<Call> call, grpc::Status status) {
    SteadyClock::time_point now = SteadyClock::now();
    // A signing counts when it is answered inside the window.
    Phase phase = phase_.load();
    bool ok = status.ok() && !call->response.certificate_pem().empty();
    {
      absl::MutexLock lock(&mu_);
      if (phase == kMeasuring) {
        if (ok) {
          ++signed_;
          latencies_us_.push_back(
              std::chrono::duration_cast<std::chrono::microseconds>(now - call->start).count());
        } else {
          ++errors_;
        }
      }
      if (!ok && first_error_.empty()) {
        first_error_ = status.ok()
                           ? "an answer without a certificate"
                           : absl::StrCat(status.error_code(), ": ", status.error_message());
      }
      if (phase == kStopping) {
        --in_flight_;
        return;
      }
    }
    call.reset();
    Issue();
  }

  v1::TrustAuthority::Stub* stub_;
  const std::string cluster_;
  const std::vector<std::string>& csrs_;
  const int concurrency_;
  std::atomic<uint64_t> next_csr_{0};
  std::atomic<Phase> phase_{kWarmup};
  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t signed_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t errors_ ABSL_GUARDED_BY(mu_) = 0;
  std::string first_error_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> latencies_us_ ABSL_GUARDED_BY(mu_);
};

nlohmann::ordered_json Report(const WindowResult& r, int concurrency) {
  nlohmann::ordered_json j;
  j["concurrency"] = concurrency;
  j["window_s"] = Round(r.window_seconds, 3);
  j["signed"] = r.signed_count;
  j["errors"] = r.errors;
  if (!r.first_error.empty()) j["first_error"] = r.first_error;
  j["signed_per_s"] = Round(static_cast<double>(r.signed_count) / r.window_seconds, 1);
  j["p50_ms"] = Round(Percentile(r.latencies_us, 0.50) / 1000.0, 3);
  j["p99_ms"] = Round(Percentile(r.latencies_us, 0.99) / 1000.0, 3);
  j["max_ms"] = Round((r.latencies_us.empty() ? 0 : r.latencies_us.back()) / 1000.0, 3);
  if (r.ca_before && r.ca_after) {
    double cpu_us = static_cast<double>(r.ca_after->cpu_us - r.ca_before->cpu_us);
    j["server_cpu_us_per_signing"] =
        r.signed_count > 0 ? nlohmann::ordered_json(Round(cpu_us / r.signed_count, 1)) : nullptr;
    j["server_cpu_cores"] = Round(cpu_us / 1e6 / r.window_seconds, 3);
    j["ca_rss_kb"] = r.ca_after->rss_kb;
    j["ca_hwm_kb"] = r.ca_after->hwm_kb;
    j["ca_threads"] = r.ca_after->threads;
  } else {
    j["server_cpu_us_per_signing"] = nullptr;
    j["server_cpu_cores"] = nullptr;
    j["ca_rss_kb"] = nullptr;
    j["ca_hwm_kb"] = nullptr;
    j["ca_threads"] = nullptr;
  }
  double client_cpu_us = static_cast<double>(r.client_after.cpu_us - r.client_before.cpu_us);
  j["client_cpu_us_per_signing"] =
      r.signed_count > 0 ? nlohmann::ordered_json(Round(client_cpu_us / r.signed_count, 1))
                         : nullptr;
  return j;
}

// cfssl's /api/v1/cfssl/sign request bodies for `csrs`, one JSON document
// per line, for the wrk script that drives cfssl with the same kind of CSRs.
absl::Status WriteCfsslRequests(const std::vector<std::string>& csrs, const std::string& path) {
  std::string out;
  for (const std::string& der : csrs) {
    nlohmann::ordered_json body = {
        {"certificate_request", pki::EncodePem(der, "CERTIFICATE REQUEST")},
        {"profile", "intermediate"}};
    absl::StrAppend(&out, body.dump(), "\n");
  }
  return WriteFileAtomically(path, out, 0644);
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "signing_bench: %s\n", std::string(status.message()).c_str());
  return 1;
}

int Main(int argc, char** argv) {
  CLI::App app{
      "Closed-loop SignIntermediate load over mTLS; one JSON line per concurrency on stdout"};
  std::vector<int> concurrency = {1, 8, 32};
  std::string duration = "10s", warmup = "1s", key = "ecdsa-p256", tag;
  int pool_size = 1024;
  std::string ca_binary = MESHTRUST_CA_BINARY, work_dir, ca_address, identity_file, cfssl_requests;
  int ca_pid = 0;
  app.add_option("-c,--concurrency", concurrency, "Calls kept in flight, one run each")
      ->delimiter(',')
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--duration", duration, "Measured window per concurrency")->capture_default_str();
  app.add_option("--warmup", warmup, "Load before each window, not counted")->capture_default_str();
  app.add_option("--csr-pool", pool_size, "Pre-generated CSRs, used round-robin")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--csr-key", key, "Key of the CSRs: ecdsa-p256, ecdsa-p384, rsa-2048, ...")
      ->capture_default_str();
  app.add_option("--tag", tag, "Free text copied into every JSON line (e.g. the round)");
  app.add_option("--ca-binary", ca_binary, "meshtrust-ca to start")->capture_default_str();
  app.add_option("--work-dir", work_dir,
                 "Where the started CA keeps its state and log (default: a temporary "
                 "directory, removed at exit)");
  app.add_option("--ca-address", ca_address,
                 "Measure this running CA instead of starting one (needs --identity-file)");
  app.add_option("--identity-file", identity_file,
                 "With --ca-address: an agent's identity.json (meshtrust-agent --identity-dir); "
                 "its cluster's issuance limit must be lifted (meshtrustctl cluster limit NAME "
                 "--unlimited)");
  app.add_option("--ca-pid", ca_pid,
                 "With --ca-address: the CA's process id, for its CPU and memory (0: not "
                 "reported)");
  app.add_option("--write-cfssl-requests", cfssl_requests,
                 "Write the CSR pool as cfssl sign request bodies, one per line, and exit");
  CLI11_PARSE(app, argc, argv);

  absl::Duration window, warm;
  if (!absl::ParseDuration(duration, &window) || window <= absl::ZeroDuration() ||
      !absl::ParseDuration(warmup, &warm) || warm < absl::ZeroDuration()) {
    return Fail(absl::InvalidArgumentError("--duration and --warmup take durations like 10s"));
  }
  absl::StatusOr<pki::KeyAlgorithm> alg = pki::ParseKeyAlgorithm(key);
  if (!alg.ok()) return Fail(alg.status());
  if (!ca_address.empty() && identity_file.empty()) {
    return Fail(absl::InvalidArgumentError("--ca-address needs --identity-file"));
  }

  std::fprintf(stderr, "signing_bench: generating %d %s CSRs\n", pool_size, key.c_str());
  absl::StatusOr<std::vector<std::string>> csrs = CsrPool(pool_size, *alg);
  if (!csrs.ok()) return Fail(csrs.status());
  if (!cfssl_requests.empty()) {
    absl::Status written = WriteCfsslRequests(*csrs, cfssl_requests);
    return written.ok() ? 0 : Fail(written);
  }

  // The CA: started here, or the one given.
  std::optional<testing::TempDir> temp;
  std::unique_ptr<BenchCa> ca;
  client::Identity identity;
  std::string mode = "external";
  if (ca_address.empty()) {
    mode = "started";
    if (work_dir.empty()) {
      temp.emplace();
      work_dir = temp->path();
    }
    absl::StatusOr<std::unique_ptr<BenchCa>> started = BenchCa::Start({ca_binary, work_dir, {}, 0});
    if (!started.ok()) return Fail(started.status());
    ca = std::move(*started);
    const std::string cluster = "bench";
    absl::StatusOr<std::string> token = ca->AddCluster(cluster);
    if (!token.ok()) return Fail(token.status());
    absl::Status lifted = ca->LiftIssuanceLimit(cluster);
    if (!lifted.ok()) return Fail(lifted);
    absl::StatusOr<client::Identity> enrolled = ca->Enroll(*token);
    if (!enrolled.ok()) return Fail(enrolled.status());
    identity = std::move(*enrolled);
    ca_address = ca->address();
    ca_pid = ca->pid();
  } else {
    absl::StatusOr<std::string> text = ReadFile(identity_file);
    if (!text.ok()) return Fail(text.status());
    absl::StatusOr<client::Identity> parsed = agent::ParseIdentityFile(*text, identity_file);
    if (!parsed.ok()) return Fail(parsed.status());
    identity = std::move(*parsed);
  }
  constexpr absl::string_view kClusterPrefix = "spiffe://meshtrust/cluster/";
  if (!absl::StartsWith(identity.identity, kClusterPrefix)) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("the identity ", identity.identity, " is not a cluster's agent identity")));
  }
  const std::string cluster = identity.identity.substr(kClusterPrefix.size());

  auto stub = v1::TrustAuthority::NewStub(
      client::CreateChannel(ca_address, identity.control_ca_pem, &identity));
  {
    // One call first: a refusal (an issuance limit, a wrong identity) is
    // reported now, not as a window full of errors.
    v1::SignIntermediateRequest request;
    request.set_cluster(cluster);
    request.set_csr_der(csrs->front());
    v1::SignIntermediateResponse response;
    auto context = client::NewContext(std::chrono::seconds(60));
    grpc::Status status = stub->SignIntermediate(context.get(), request, &response);
    if (!status.ok()) return Fail(client::FromGrpcStatus(status));
  }

  for (int c : concurrency) {
    std::fprintf(stderr, "signing_bench: c=%d for %s after %s of warm-up\n", c, duration.c_str(),
                 warmup.c_str());
    auto loop = std::make_shared<ClosedLoop>(stub.get(), cluster, *csrs, c);
    WindowResult result = loop->Run(warm, window, ca_pid);
    nlohmann::ordered_json line = {
        {"bench", "signing"}, {"impl", "meshtrust"}, {"ca", mode}, {"csr_key", key}, {"tag", tag}};
    line.update(Report(result, c));
    std::printf("%s\n", line.dump().c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace meshtrust::bench

int main(int argc, char** argv) { return meshtrust::bench::Main(argc, argv); }
