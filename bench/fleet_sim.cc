// fleet_sim: N simulated agents against one real CA, many per process.
//
// Each simulated agent is a cluster of its own: registered through the
// Admin API, enrolled with its join token (its own identity key and
// certificate, its own mTLS connection), issued an intermediate and holding
// a Watch stream. It answers events as meshtrust-agent does
// (agent/core/runner.cc, installer.cc), one operation at a time per agent,
// with further events coalesced until it is done:
//   ROTATE_NOW      new P-256 key and CSR, GetCrls, SignIntermediate, a CRL
//                   signed by the new intermediate, Ack(serial, bundle, CRL);
//   BUNDLE_CHANGED  GetTrustBundle; re-key when the signing root is not the
//                   one its intermediate chains to, else Ack the new bundle;
//   CRL_CHANGED     GetCrls (its own CRL is unchanged, so no Ack: design
//                   note 8).
// All calls use gRPC's callback API, so one process holds thousands of
// streams on gRPC's few threads; keys and CRLs stay in this process.
//
// It prints one JSON line per measurement (bench/README.md): the CA's RSS,
// threads and idle CPU with N streams open; the time from RotateIntermediate
// for every cluster (all in flight) to every cluster acknowledged; each root
// rotation phase to every cluster acknowledged; a revocation to every
// agent holding a CRL set that lists it; the size of ca-crl.pem.
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "bench/common/bench_ca.h"
#include "bench/common/proc_stats.h"
#include "client/ca_client.h"
#include "meshtrust/v1/meshtrust.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "pki/certificate.h"
#include "pki/crl.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "tests/testing/temp_dir.h"

namespace meshtrust::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;

constexpr auto kCallTimeout = std::chrono::seconds(120);
// As meshtrust-agent signs its own CRL (agent/core/installer.h).
constexpr auto kOwnCrlValidity = std::chrono::hours(24 * 7);

double Round(double value, int decimals) {
  double scale = std::pow(10.0, decimals);
  return std::round(value * scale) / scale;
}
double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

// Everything the agents share: counts of work in flight, for the driver to
// know when the fleet has gone quiet.
struct FleetActivity {
  std::atomic<int> busy{0};      // Agents in the middle of an operation.
  std::atomic<int> retrying{0};  // Agents waiting to retry a failed one.
  std::atomic<int64_t> last_change_ns{0};
  std::atomic<int> streams_live{0};
  std::atomic<int> streams_ended{0};
  std::atomic<int64_t> errors{0};
  absl::Mutex mu;
  std::string first_error ABSL_GUARDED_BY(mu);
  // The serial whose revocation the driver waits for; empty when none.
  std::string watched_serial ABSL_GUARDED_BY(mu);

  void Touch() { last_change_ns = SteadyClock::now().time_since_epoch().count(); }
  void Error(absl::string_view what) {
    ++errors;
    absl::MutexLock lock(&mu);
    if (first_error.empty()) first_error = std::string(what);
  }
  std::string WatchedSerial() {
    absl::MutexLock lock(&mu);
    return watched_serial;
  }
};

// What the driver reads of one agent.
struct AgentView {
  std::string serial, bundle_sha256;
  SteadyClock::time_point serial_acked_at, bundle_acked_at, revocation_seen_at;
  bool idle = true;
};

class SimAgent {
 public:
  SimAgent(FleetActivity* fleet, std::string cluster, client::Identity identity,
           const std::string& address)
      : fleet_(fleet), cluster_(std::move(cluster)), identity_(std::move(identity)) {
    stub_ = v1::TrustAuthority::NewStub(
        client::CreateChannel(address, identity_.control_ca_pem, &identity_));
  }

  const std::string& cluster() const { return cluster_; }

  AgentView View() {
    absl::MutexLock lock(&mu_);
    return AgentView{serial_,          bundle_sha256_,      serial_acked_at_,
                     bundle_acked_at_, revocation_seen_at_, !busy_ && !Pending()};
  }

  // Starts an operation whose retry is due (the driver calls it now and then).
  void Retry() { Next(); }

  // Events, from the Watch stream or the driver.
  void RotateNow() {
    Post([this] { rotate_ = true; });
  }
  void BundleChanged() {
    Post([this] { bundle_ = true; });
  }
  void CrlChanged() {
    Post([this] { crl_ = true; });
  }

  // Opens the Watch stream; OnWatchLive() when its first message arrives.
  void StartWatch() { watch_ = std::make_unique<WatchReactor>(this); }
  void CancelWatch() {
    if (watch_) watch_->context.TryCancel();
  }
  // True once the stream has ended (after CancelWatch).
  bool WatchDone() { return !watch_ || watch_->done.load(); }

  // The ca-crl.pem this agent would write now: its own CRL, then the CA's.
  absl::StatusOr<std::pair<std::string, int>> CaCrlPem() {
    v1::CrlSet set;
    auto context = client::NewContext(kCallTimeout);
    grpc::Status status = stub_->GetCrls(context.get(), v1::GetCrlsRequest(), &set);
    if (!status.ok()) return client::FromGrpcStatus(status);
    std::string pem;
    {
      absl::MutexLock lock(&mu_);
      pem = own_crl_pem_;
    }
    absl::StrAppend(&pem, set.root_crls_pem(), set.intermediate_crls_pem());
    auto crls = pki::ParseCrlsPem(pem);
    if (!crls.ok()) return crls.status();
    return std::make_pair(pem, static_cast<int>(crls->size()));
  }

 private:
  // The Watch stream, on gRPC's callback API: no thread of its own.
  struct WatchReactor : grpc::ClientReadReactor<v1::WatchEvent> {
    explicit WatchReactor(SimAgent* agent) : agent(agent) {
      context.AddMetadata("x-request-id", client::NewRequestId());
      request.set_cluster(agent->cluster_);
      agent->stub_->async()->Watch(&context, &request, this);
      StartRead(&event);
      StartCall();
    }
    void OnReadDone(bool ok) override {
      if (!ok) return;  // OnDone follows.
      if (!live) {
        live = true;
        ++agent->fleet_->streams_live;
        // As the agent does on (re)connecting: anything may have changed.
        agent->CrlChanged();
      }
      switch (event.type()) {
        case v1::WatchEvent::ROTATE_NOW:
          agent->RotateNow();
          break;
        case v1::WatchEvent::BUNDLE_CHANGED:
          agent->BundleChanged();
          break;
        case v1::WatchEvent::CRL_CHANGED:
          agent->CrlChanged();
          break;
        default:
          break;
      }
      StartRead(&event);
    }
    void OnDone(const grpc::Status& status) override {
      if (live) --agent->fleet_->streams_live;
      ++agent->fleet_->streams_ended;
      if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
        agent->fleet_->Error(
            absl::StrCat(agent->cluster_, " Watch ended: ", status.error_message()));
      }
      done = true;
    }
    SimAgent* agent;
    grpc::ClientContext context;
    v1::WatchRequest request;
    v1::WatchEvent event;
    bool live = false;
    std::atomic<bool> done{false};
  };

  // One unary call on the callback API: `start` issues it on the stub's
  // async interface; `then` runs with the answer on a gRPC thread.
  template <typename Request, typename Response, typename Start>
  void Call(Start start, Request request,
            std::function<void(const grpc::Status&, Response&)> then) {
    struct State {
      std::unique_ptr<grpc::ClientContext> context = client::NewContext(kCallTimeout);
      Request request;
      Response response;
    };
    auto state = std::make_shared<State>();
    state->request = std::move(request);
    start(stub_->async(), state->context.get(), &state->request, &state->response,
          [state, then = std::move(then)](grpc::Status status) { then(status, state->response); });
  }

  bool Pending() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return rotate_ || bundle_ || crl_; }

  void Post(const std::function<void()>& mark) {
    {
      absl::MutexLock lock(&mu_);
      mark();
    }
    fleet_->Touch();
    Next();
  }

  // Starts the next operation unless one is running: a rotation first, then
  // a bundle change, then a CRL change.
  void Next() {
    Op op = kNone;
    {
      absl::MutexLock lock(&mu_);
      if (busy_ || !Pending() || SteadyClock::now() < retry_at_) return;
      busy_ = true;
      if (retrying_) {
        retrying_ = false;
        --fleet_->retrying;
      }
      if (rotate_) {
        op = kRekey;
        rotate_ = false;
        crl_ = false;  // The re-key fetches the CRLs itself.
      } else if (bundle_) {
        op = kBundle;
        bundle_ = false;
      } else {
        op = kCrl;
        crl_ = false;
      }
    }
    {
      absl::MutexLock lock(&mu_);
      op_ = op;
    }
    ++fleet_->busy;
    if (op == kRekey) Rekey();
    if (op == kBundle) RefreshBundle();
    if (op == kCrl) RefreshCrls();
  }

  void Finish(bool ok = true) {
    {
      absl::MutexLock lock(&mu_);
      busy_ = false;
      if (ok) failures_ = 0;
    }
    fleet_->Touch();
    // Next() counts a new operation before this one is uncounted, so the
    // fleet never looks idle in between; after the decrement this agent is
    // not touched again (the driver may be tearing it down).
    Next();
    --fleet_->busy;
  }

  // As the agent does after a failure: the same work again later, with
  // exponential backoff (1 s doubling to 16 s).
  void Fail(absl::string_view what, const absl::Status& status) {
    fleet_->Error(absl::StrCat(cluster_, " ", what, ": ", status.message()));
    {
      absl::MutexLock lock(&mu_);
      if (op_ == kRekey) rotate_ = true;
      if (op_ == kBundle) bundle_ = true;
      if (op_ == kCrl) crl_ = true;
      retry_at_ = SteadyClock::now() + std::chrono::seconds(1 << std::min(failures_, 4));
      ++failures_;
      if (!retrying_) {
        retrying_ = true;
        ++fleet_->retrying;
      }
    }
    Finish(/*ok=*/false);
  }

  void Rekey() {
    Call<v1::GetCrlsRequest, v1::CrlSet>(
        [](auto* a, auto* c, auto* q, auto* r, auto f) { a->GetCrls(c, q, r, std::move(f)); },
        v1::GetCrlsRequest(),
        [this](const grpc::Status& status, v1::CrlSet& set) {
          if (!status.ok()) return Fail("GetCrls", client::FromGrpcStatus(status));
          SawCrls(set);
          auto key = pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
          if (!key.ok()) return Fail("key generation", key.status());
          absl::StatusOr<std::string> csr = pki::BuildCsrDer(key->get(), "");
          if (!csr.ok()) return Fail("CSR", csr.status());
          auto shared_key = std::make_shared<ossl::UniquePtr<EVP_PKEY>>(*std::move(key));
          v1::SignIntermediateRequest request;
          request.set_cluster(cluster_);
          request.set_csr_der(*csr);
          Call<v1::SignIntermediateRequest, v1::SignIntermediateResponse>(
              [](auto* a, auto* c, auto* q, auto* r, auto f) {
                a->SignIntermediate(c, q, r, std::move(f));
              },
              std::move(request),
              [this, shared_key](const grpc::Status& status, v1::SignIntermediateResponse& r) {
                if (!status.ok()) return Fail("SignIntermediate", client::FromGrpcStatus(status));
                Installed(r, shared_key->get());
              });
        });
  }

  // Signs this intermediate's own CRL and acknowledges the new set.
  void Installed(const v1::SignIntermediateResponse& r, EVP_PKEY* key) {
    auto cert = pki::ParseCertificatePem(r.certificate_pem());
    if (!cert.ok()) return Fail("the issued intermediate", cert.status());
    TimePoint now = std::chrono::system_clock::now();
    pki::CrlTemplate own;
    own.number = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
    own.this_update = now - std::chrono::minutes(5);
    own.next_update = std::min(now + kOwnCrlValidity, pki::NotAfter(cert->get()));
    auto crl = pki::IssueCrl(own, cert->get(), key);
    if (!crl.ok()) return Fail("the intermediate's CRL", crl.status());
    std::string crl_pem = pki::CrlPem(crl->get());
    std::string chain_root = LastPem(r.chain_pem());
    SendAck(r.serial(), r.bundle().sha256(), crl_pem, chain_root);
  }

  void SendAck(const std::string& serial, const std::string& bundle_sha256,
               const std::string& crl_pem, const std::string& chain_root) {
    v1::AckRequest request;
    request.set_cluster(cluster_);
    request.set_serial(serial);
    request.set_bundle_sha256(bundle_sha256);
    request.set_intermediate_crl_pem(crl_pem);
    Call<v1::AckRequest, v1::AckResponse>(
        [](auto* a, auto* c, auto* q, auto* r, auto f) { a->Ack(c, q, r, std::move(f)); },
        std::move(request),
        [=, this](const grpc::Status& status, v1::AckResponse&) {
          if (!status.ok()) return Fail("Ack", client::FromGrpcStatus(status));
          {
            absl::MutexLock lock(&mu_);
            SteadyClock::time_point now = SteadyClock::now();
            if (serial != serial_) serial_acked_at_ = now;
            if (bundle_sha256 != bundle_sha256_) bundle_acked_at_ = now;
            serial_ = serial;
            bundle_sha256_ = bundle_sha256;
            own_crl_pem_ = crl_pem;
            chain_root_pem_ = chain_root;
          }
          Finish();
        });
  }

  void RefreshBundle() {
    Call<v1::GetTrustBundleRequest, v1::TrustBundle>(
        [](auto* a, auto* c, auto* q, auto* r, auto f) {
          a->GetTrustBundle(c, q, r, std::move(f));
        },
        v1::GetTrustBundleRequest(),
        [this](const grpc::Status& status, v1::TrustBundle& bundle) {
          if (!status.ok()) return Fail("GetTrustBundle", client::FromGrpcStatus(status));
          std::string serial, crl, root, acked_bundle;
          {
            absl::MutexLock lock(&mu_);
            serial = serial_;
            crl = own_crl_pem_;
            root = chain_root_pem_;
            acked_bundle = bundle_sha256_;
          }
          if (root != bundle.signing_root_pem()) {
            // Chains to a root that no longer signs: re-key, as Decide() does.
            {
              absl::MutexLock lock(&mu_);
              rotate_ = true;
            }
            return Finish();
          }
          if (bundle.sha256() == acked_bundle) return Finish();
          SendAck(serial, bundle.sha256(), crl, root);
        });
  }

  void RefreshCrls() {
    Call<v1::GetCrlsRequest, v1::CrlSet>(
        [](auto* a, auto* c, auto* q, auto* r, auto f) { a->GetCrls(c, q, r, std::move(f)); },
        v1::GetCrlsRequest(),
        [this](const grpc::Status& status, v1::CrlSet& set) {
          if (!status.ok()) return Fail("GetCrls", client::FromGrpcStatus(status));
          SawCrls(set);
          Finish();
        });
  }

  // Notes when the CRL set first lists the serial the driver waits for.
  void SawCrls(const v1::CrlSet& set) {
    std::string watched = fleet_->WatchedSerial();
    if (watched.empty()) return;
    {
      absl::MutexLock lock(&mu_);
      if (revocation_seen_at_ != SteadyClock::time_point{}) return;
    }
    auto crls = pki::ParseCrlsPem(set.root_crls_pem());
    if (!crls.ok()) return;
    for (const auto& crl : *crls) {
      for (const std::string& s : pki::RevokedSerials(crl.get())) {
        if (s == watched) {
          absl::MutexLock lock(&mu_);
          revocation_seen_at_ = SteadyClock::now();
          return;
        }
      }
    }
  }

  static std::string LastPem(const std::string& chain) {
    constexpr char kBegin[] = "-----BEGIN CERTIFICATE-----";
    size_t at = chain.rfind(kBegin);
    return at == std::string::npos ? "" : chain.substr(at);
  }

  enum Op { kNone, kRekey, kBundle, kCrl };

  FleetActivity* fleet_;
  const std::string cluster_;
  const client::Identity identity_;
  std::unique_ptr<v1::TrustAuthority::Stub> stub_;
  std::unique_ptr<WatchReactor> watch_;
  absl::Mutex mu_;
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool rotate_ ABSL_GUARDED_BY(mu_) = false;
  bool bundle_ ABSL_GUARDED_BY(mu_) = false;
  bool crl_ ABSL_GUARDED_BY(mu_) = false;
  Op op_ ABSL_GUARDED_BY(mu_) = kNone;
  bool retrying_ ABSL_GUARDED_BY(mu_) = false;
  int failures_ ABSL_GUARDED_BY(mu_) = 0;
  SteadyClock::time_point retry_at_ ABSL_GUARDED_BY(mu_);
  std::string serial_ ABSL_GUARDED_BY(mu_);
  std::string bundle_sha256_ ABSL_GUARDED_BY(mu_);
  std::string own_crl_pem_ ABSL_GUARDED_BY(mu_);
  std::string chain_root_pem_ ABSL_GUARDED_BY(mu_);
  SteadyClock::time_point serial_acked_at_ ABSL_GUARDED_BY(mu_);
  SteadyClock::time_point bundle_acked_at_ ABSL_GUARDED_BY(mu_);
  SteadyClock::time_point revocation_seen_at_ ABSL_GUARDED_BY(mu_);
};

struct Options {
  int agents = 200;
  int enroll_parallel = 16;
  std::string idle = "10s";
  std::string phase_timeout = "600s";
  std::string settle_timeout = "60s";
  std::string ca_binary = MESHTRUST_CA_BINARY;
  std::string work_dir;
  std::string only;  // Empty: every measurement.
};

class Driver {
 public:
  Driver(Options options, BenchCa* ca) : options_(std::move(options)), ca_(ca) {
    absl::ParseDuration(options_.phase_timeout, &phase_timeout_);
    absl::ParseDuration(options_.settle_timeout, &settle_timeout_);
  }
  ~Driver() {
    for (auto& agent : agents_) agent->CancelWatch();
    for (auto& agent : agents_) {
      while (!agent->WatchDone()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    // Operations still in flight hold `this` of their agent.
    SteadyClock::time_point end = SteadyClock::now() + std::chrono::seconds(60);
    while (fleet_.busy.load() > 0 && SteadyClock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  absl::Status Run() {
    const int n = options_.agents;
    Json base = {{"bench", "fleet"}, {"agents", n}};

    // Clusters registered and enrolled, several at a time.
    SteadyClock::time_point start = SteadyClock::now();
    std::vector<std::unique_ptr<SimAgent>> made(n);
    std::atomic<int> next{0};
    absl::Mutex error_mu;
    absl::Status error;
    std::vector<std::thread> workers;
    for (int w = 0; w < std::min(options_.enroll_parallel, n); ++w) {
      workers.emplace_back([&] {
        for (int i = next++; i < n; i = next++) {
          std::string name = absl::StrFormat("sim-%05d", i);
          absl::StatusOr<std::string> token = ca_->AddCluster(name);
          absl::StatusOr<client::Identity> identity =
              token.ok() ? ca_->Enroll(*token) : token.status();
          if (!identity.ok()) {
            absl::MutexLock lock(&error_mu);
            error.Update(identity.status());
            return;
          }
          made[i] = std::make_unique<SimAgent>(&fleet_, name, *std::move(identity), ca_->address());
        }
      });
    }
    for (std::thread& t : workers) t.join();
    if (!error.ok()) return error;
    agents_ = std::move(made);
    double enroll_s = Seconds(SteadyClock::now() - start);

    // Every agent installs its first intermediate (as `meshtrust-agent once`).
    start = SteadyClock::now();
    for (auto& agent : agents_) agent->RotateNow();
    if (!WaitAll([](size_t, const AgentView& v) { return !v.serial.empty(); })) {
      return Stuck("the first intermediates");
    }
    double install_s = Seconds(SteadyClock::now() - start);
    WaitQuiet(std::chrono::milliseconds(500), phase_timeout_);

    absl::StatusOr<ProcSample> before_streams = SampleProcess(ca_->pid());
    start = SteadyClock::now();
    for (auto& agent : agents_) agent->StartWatch();
    while (fleet_.streams_live.load() < n) {
      if (fleet_.streams_ended.load() > 0) return Stuck("the Watch streams (some ended)");
      if (SteadyClock::now() - start > absl::ToChronoSeconds(phase_timeout_)) {
        return Stuck("the Watch streams");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    double streams_s = Seconds(SteadyClock::now() - start);
    WaitQuiet(std::chrono::milliseconds(500), phase_timeout_);
    Emit(base, {{"measure", "setup"},
                {"enroll_s", Round(enroll_s, 3)},
                {"first_install_s", Round(install_s, 3)},
                {"streams_open_s", Round(streams_s, 3)}});

    // The CA at rest with N streams open.
    absl::Duration idle;
    absl::ParseDuration(options_.idle, &idle);
    absl::StatusOr<ProcSample> idle_before = SampleProcess(ca_->pid());
    SteadyClock::time_point idle_start = SteadyClock::now();
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(idle));
    absl::StatusOr<ProcSample> idle_after = SampleProcess(ca_->pid());
    double idle_window = Seconds(SteadyClock::now() - idle_start);
    if (!idle_before.ok() || !idle_after.ok() || !before_streams.ok()) {
      return absl::InternalError("cannot read the CA's /proc entries");
    }
    Emit(base, {{"measure", "idle"},
                {"streams", fleet_.streams_live.load()},
                {"window_s", Round(idle_window, 3)},
                {"ca_idle_cpu_percent",
                 Round(100.0 * (idle_after->cpu_us - idle_before->cpu_us) / 1e6 / idle_window, 2)},
                {"ca_rss_kb", idle_after->rss_kb},
                {"ca_hwm_kb", idle_after->hwm_kb},
                {"ca_threads", idle_after->threads},
                {"ca_threads_before_streams", before_streams->threads},
                {"ca_rss_kb_before_streams", before_streams->rss_kb}});

    if (absl::Status s = RotateAll(base); !s.ok()) return s;
    if (absl::Status s = RootRotation(base); !s.ok()) return s;
    if (absl::Status s = Revocation(base); !s.ok()) return s;

    // What one cluster's ca-crl.pem holds at N clusters.
    absl::StatusOr<std::pair<std::string, int>> crl_pem = agents_[n - 1]->CaCrlPem();
    if (!crl_pem.ok()) return crl_pem.status();
    Emit(base, {{"measure", "ca_crl_pem"},
                {"bytes", crl_pem->first.size()},
                {"crls", crl_pem->second},
                {"bytes_per_cluster", Round(static_cast<double>(crl_pem->first.size()) / n, 1)},
                {"secret_limit_bytes", 1 << 20},
                {"fraction_of_secret_limit",
                 Round(static_cast<double>(crl_pem->first.size()) / (1 << 20), 4)}});
    return absl::OkStatus();
  }

  int64_t errors() { return fleet_.errors.load(); }
  std::string first_error() {
    absl::MutexLock lock(&fleet_.mu);
    return fleet_.first_error;
  }

 private:
  // Waits until every agent satisfies `done` (given its index and view);
  // false after the phase timeout.
  bool WaitAll(const std::function<bool(size_t, const AgentView&)>& done) {
    SteadyClock::time_point end = SteadyClock::now() + absl::ToChronoSeconds(phase_timeout_);
    size_t first_pending = 0;  // Agents before it were done at an earlier look.
    while (SteadyClock::now() < end) {
      while (first_pending < agents_.size() &&
             done(first_pending, agents_[first_pending]->View())) {
        ++first_pending;
      }
      if (first_pending == agents_.size()) return true;
      RetryDue();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  }

  // Waits until no agent has had anything to do for `quiet`; returns when
  // the fleet went quiet, or nullopt after `limit`.
  std::optional<SteadyClock::time_point> WaitQuiet(std::chrono::milliseconds quiet,
                                                   absl::Duration limit) {
    SteadyClock::time_point end = SteadyClock::now() + absl::ToChronoSeconds(limit);
    while (SteadyClock::now() < end) {
      SteadyClock::time_point last{SteadyClock::duration(fleet_.last_change_ns.load())};
      if (fleet_.busy.load() == 0 && fleet_.retrying.load() == 0 &&
          SteadyClock::now() - last >= quiet) {
        return last;
      }
      RetryDue();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return std::nullopt;
  }

  // On stderr, as a phase's clusters are all done (its line waits for quiet).
  void Progress(absl::string_view phase, SteadyClock::time_point start) {
    std::fprintf(stderr, "fleet_sim: %s: every cluster done after %.3f s; %lld errors so far\n",
                 std::string(phase).c_str(), Seconds(SteadyClock::now() - start),
                 static_cast<long long>(fleet_.errors.load()));
  }

  // Every 100 ms, lets agents whose backoff has passed try again.
  void RetryDue() {
    if (fleet_.retrying.load() == 0 || SteadyClock::now() < next_retry_sweep_) return;
    next_retry_sweep_ = SteadyClock::now() + std::chrono::milliseconds(100);
    for (auto& agent : agents_) agent->Retry();
  }

  absl::Status Stuck(absl::string_view what) {
    return absl::DeadlineExceededError(absl::StrCat("not every simulated agent finished ", what,
                                                    " within ", options_.phase_timeout,
                                                    "; first error: ", first_error()));
  }

  // Per-agent completion times since `start`, summarised.
  Json Spread(SteadyClock::time_point start,
              const std::function<SteadyClock::time_point(const AgentView&)>& at) {
    std::vector<double> s;
    for (auto& agent : agents_) s.push_back(Seconds(at(agent->View()) - start));
    std::sort(s.begin(), s.end());
    auto pct = [&](double p) {
      size_t rank = static_cast<size_t>(std::ceil(p * s.size()));
      return Round(s[std::clamp<size_t>(rank, 1, s.size()) - 1], 3);
    };
    return {{"p50_s", pct(0.5)}, {"p99_s", pct(0.99)}, {"all_s", Round(s.back(), 3)}};
  }

  void Emit(const Json& base, const Json& fields) {
    Json line = base;
    line.update(fields);
    line["errors"] = fleet_.errors.load();
    std::printf("%s\n", line.dump().c_str());
    std::fflush(stdout);
  }

  std::vector<std::string> Serials() {
    std::vector<std::string> out;
    for (auto& agent : agents_) out.push_back(agent->View().serial);
    return out;
  }

  // RotateIntermediate for every cluster, all in flight at once, as an
  // operator's `rotate intermediate` over the fleet would send them.
  absl::Status RotateAll(const Json& base) {
    std::vector<std::string> old = Serials();
    std::atomic<int> answered{0}, refused{0};
    SteadyClock::time_point start = SteadyClock::now();
    std::atomic<int64_t> rpcs_done_ns{0};
    for (auto& agent : agents_) {
      struct State {
        std::unique_ptr<grpc::ClientContext> context = client::NewContext(kCallTimeout);
        v1::RotateIntermediateRequest request;
        v1::RotateIntermediateResponse response;
      };
      auto state = std::make_shared<State>();
      state->request.set_cluster(agent->cluster());
      ca_->admin_stub()->async()->RotateIntermediate(
          state->context.get(), &state->request, &state->response,
          [state, &answered, &refused, &rpcs_done_ns, this](grpc::Status status) {
            if (!status.ok()) {
              ++refused;
              fleet_.Error(absl::StrCat("RotateIntermediate: ", status.error_message()));
            }
            rpcs_done_ns = SteadyClock::now().time_since_epoch().count();
            ++answered;
          });
    }
    bool acked = WaitAll([&old](size_t k, const AgentView& v) { return v.serial != old[k]; });
    // Every RotateIntermediate answered before the counters are read.
    while (answered.load() < static_cast<int>(agents_.size())) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (!acked) return Stuck("the fleet-wide rotation");
    Progress("rotate intermediate", start);
    std::optional<SteadyClock::time_point> quiet =
        WaitQuiet(std::chrono::milliseconds(500), settle_timeout_);
    Json line = {
        {"measure", "rotate_intermediate_all"},
        {"rotate_rpcs_refused", refused.load()},
        {"rotate_rpcs_answered_s",
         Round(Seconds(SteadyClock::time_point(SteadyClock::duration(rpcs_done_ns)) - start), 3)}};
    line.update(Spread(start, [](const AgentView& v) { return v.serial_acked_at; }));
    line["settled_s"] = quiet ? nlohmann::ordered_json(Round(Seconds(*quiet - start), 3)) : nullptr;
    Emit(base, line);
    return absl::OkStatus();
  }

  absl::Status RootPhase(const Json& base, v1::RootRotationRequest::Action action,
                         absl::string_view name, bool rekey) {
    std::vector<std::string> old_serials = Serials();
    std::vector<std::string> old_bundles;
    for (auto& agent : agents_) old_bundles.push_back(agent->View().bundle_sha256);
    v1::RootRotationRequest request;
    request.set_action(action);
    v1::RootRotationStatus status;
    SteadyClock::time_point start = SteadyClock::now();
    auto context = client::NewContext(kCallTimeout);
    grpc::Status rpc = ca_->admin_stub()->RootRotation(context.get(), request, &status);
    double rpc_s = Seconds(SteadyClock::now() - start);
    if (!rpc.ok()) {
      absl::Status s = client::FromGrpcStatus(rpc);
      return absl::Status(s.code(), absl::StrCat("root rotate ", name, ": ", s.message()));
    }
    if (!WaitAll([&](size_t k, const AgentView& v) {
          return rekey ? v.serial != old_serials[k] : v.bundle_sha256 != old_bundles[k];
        })) {
      return Stuck(absl::StrCat("root rotate ", name));
    }
    Progress(absl::StrCat("root rotate ", name), start);
    std::optional<SteadyClock::time_point> quiet =
        WaitQuiet(std::chrono::milliseconds(500), settle_timeout_);
    Json line = {{"measure", "root_rotation"}, {"phase", name}, {"rpc_s", Round(rpc_s, 3)}};
    line.update(Spread(start, [rekey](const AgentView& v) {
      return rekey ? v.serial_acked_at : v.bundle_acked_at;
    }));
    line["settled_s"] = quiet ? nlohmann::ordered_json(Round(Seconds(*quiet - start), 3)) : nullptr;
    Emit(base, line);
    return absl::OkStatus();
  }

  // begin (bundle A+B acked everywhere), activate (every cluster re-keyed
  // under B: the CA refuses it unless every cluster acked A+B), finish
  // (bundle B acked everywhere; the CA serves with a zero soak time).
  absl::Status RootRotation(const Json& base) {
    if (absl::Status s = RootPhase(base, v1::RootRotationRequest::BEGIN, "begin", false); !s.ok())
      return s;
    if (absl::Status s = RootPhase(base, v1::RootRotationRequest::ACTIVATE, "activate", true);
        !s.ok())
      return s;
    return RootPhase(base, v1::RootRotationRequest::FINISH, "finish", false);
  }

  // One intermediate revoked by serial; done when every agent has fetched a
  // CRL set whose root CRL lists it.
  absl::Status Revocation(const Json& base) {
    std::string serial = agents_[0]->View().serial;
    {
      absl::MutexLock lock(&fleet_.mu);
      fleet_.watched_serial = serial;
    }
    v1::RevokeRequest request;
    request.set_serial(serial);
    request.set_reason("keyCompromise");
    v1::RevokeResponse response;
    SteadyClock::time_point start = SteadyClock::now();
    auto context = client::NewContext(kCallTimeout);
    grpc::Status rpc = ca_->admin_stub()->Revoke(context.get(), request, &response);
    double rpc_s = Seconds(SteadyClock::now() - start);
    if (!rpc.ok()) return client::FromGrpcStatus(rpc);
    if (!WaitAll([](size_t, const AgentView& v) {
          return v.revocation_seen_at != SteadyClock::time_point{};
        }))
      return Stuck("the revocation");
    Progress("revocation", start);
    std::optional<SteadyClock::time_point> quiet =
        WaitQuiet(std::chrono::milliseconds(500), settle_timeout_);
    Json line = {{"measure", "revocation"}, {"rpc_s", Round(rpc_s, 3)}};
    line.update(Spread(start, [](const AgentView& v) { return v.revocation_seen_at; }));
    line["settled_s"] = quiet ? nlohmann::ordered_json(Round(Seconds(*quiet - start), 3)) : nullptr;
    Emit(base, line);
    return absl::OkStatus();
  }

  Options options_;
  BenchCa* ca_;
  absl::Duration phase_timeout_;
  SteadyClock::time_point next_retry_sweep_;
  // How long a phase waits for the fleet to go quiet after it is done.
  absl::Duration settle_timeout_;
  FleetActivity fleet_;
  std::vector<std::unique_ptr<SimAgent>> agents_;
};

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "fleet_sim: %s\n", std::string(status.message()).c_str());
  return 1;
}

int Main(int argc, char** argv) {
  CLI::App app{"N simulated agents on one CA; one JSON line per measurement on stdout"};
  Options o;
  app.add_option("-n,--agents", o.agents, "Simulated agents, one cluster each")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_option("--enroll-parallel", o.enroll_parallel, "Clusters added and enrolled at once")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--idle", o.idle, "How long the CA's idle CPU is measured")->capture_default_str();
  app.add_option("--phase-timeout", o.phase_timeout, "Give up on a phase after this long")
      ->capture_default_str();
  app.add_option("--settle-timeout", o.settle_timeout,
                 "After a phase, wait at most this long for the fleet to go quiet before the next "
                 "(settled_s is null when it did not)")
      ->capture_default_str();
  app.add_option("--ca-binary", o.ca_binary, "meshtrust-ca to start")->capture_default_str();
  app.add_option("--work-dir", o.work_dir,
                 "Where the CA keeps its state and log (default: a temporary directory)");
  CLI11_PARSE(app, argc, argv);
  absl::Duration d;
  if (!absl::ParseDuration(o.idle, &d) || !absl::ParseDuration(o.phase_timeout, &d) ||
      !absl::ParseDuration(o.settle_timeout, &d)) {
    return Fail(absl::InvalidArgumentError(
        "--idle, --phase-timeout and --settle-timeout take durations like 10s"));
  }

  // Each agent holds one connection: descriptors for N of them here and in
  // the CA (the CA inherits this limit).
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  std::optional<testing::TempDir> temp;
  if (o.work_dir.empty()) {
    temp.emplace();
    o.work_dir = temp->path();
  }
  const std::string max_connections = std::to_string(2 * o.agents + 256);
  // The bench's own limits, raised by flag: every agent connects from
  // 127.0.0.1 (no per-peer cap), the root rotation soak is not waited out,
  // and gRPC's buffer quota fits N connections.
  std::vector<std::string> serve_args = {
      "--max-connections-per-peer", "0",
      "--max-connections",          max_connections,
      "--root-rotation-soak",       "0s",
      "--memory-quota-mib",         std::to_string(std::max(32, o.agents / 4))};
  absl::StatusOr<std::unique_ptr<BenchCa>> ca =
      BenchCa::Start({o.ca_binary, o.work_dir, serve_args, 0});
  if (!ca.ok()) return Fail(ca.status());
  std::fprintf(stderr, "fleet_sim: CA at %s (pid %d, log %s); %d agents\n",
               (*ca)->address().c_str(), (*ca)->pid(), (*ca)->log_path().c_str(), o.agents);
  absl::Status run;
  int64_t errors = 0;
  std::string first_error;
  {
    Driver driver(o, ca->get());
    run = driver.Run();
    errors = driver.errors();
    first_error = driver.first_error();
  }
  if (!run.ok()) return Fail(run);
  if (errors > 0)
    std::fprintf(stderr, "fleet_sim: %lld errors, first: %s\n", static_cast<long long>(errors),
                 first_error.c_str());
  return 0;
}

}  // namespace
}  // namespace meshtrust::bench

int main(int argc, char** argv) { return meshtrust::bench::Main(argc, argv); }
