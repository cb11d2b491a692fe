// meshtrust-agent: runs in each cluster; keeps Istio's `cacerts` holding an
// intermediate CA whose key never left the cluster.
//
//   meshtrust-agent once --ca HOST:PORT --cluster NAME
//                        [--pin sha256:... --root-fingerprint sha256:... --token-file F]
//                        [--sink kubernetes|file] ...
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/core/agent_metrics.h"
#include "agent/core/identity_manager.h"
#include "agent/core/installer.h"
#include "agent/core/root_trust.h"
#include "agent/core/runner.h"
#include "agent/files/file_identity_store.h"
#include "agent/files/file_sink.h"
#include "agent/grpc/grpc_ca_connection.h"
#include "agent/grpc/grpc_enroller.h"
#include "agent/kube/istiod_restarter.h"
#include "agent/kube/kube_access.h"
#include "agent/kube/kube_client.h"
#include "agent/kube/kubernetes_identity_store.h"
#include "agent/kube/kubernetes_sink.h"
#include "base/files.h"
#include "base/logging.h"
#include "base/metrics.h"
#include "base/time_format.h"
#include "base/yaml_config.h"
#include "net/http_server.h"
#include "net/ops_http.h"
#include "pki/certificate.h"
#include "pki/istiod_acceptance.h"
#include "pki/key.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace meshtrust::agent {
namespace {

struct Flags {
  std::string ca_address;
  std::string cluster;
  std::string pin;
  std::vector<std::string> root_fingerprints;
  std::string token_file;
  std::string sink = "kubernetes";
  std::string dir;
  std::string kubeconfig;
  std::string istio_namespace = "istio-system";
  std::string secret_name = "cacerts";
  std::string identity_namespace = "meshtrust-system";
  std::string identity_secret = "meshtrust-agent-identity";
  std::string identity_dir;
  std::string key_algorithm = "ecdsa-p256";
  int64_t ttl_hours = 0;
  bool adopt = false;
  std::string istio_version = "any";
  bool rekey = false;
  int timeout_seconds = 15;
  int deadline_seconds = 300;
  // run mode
  int reconcile_seconds = 30;
  double crl_refresh_delay_seconds = 2;
  double renew_fraction = 2.0 / 3.0;
  std::string status_file;
  std::string metrics_listen;
  bool restart_istiod = false;
  std::string istiod_deployment = "istiod";
};

int Fail(absl::string_view what, const absl::Status& status) {
  spdlog::error("{}: {}", what, status.message());
  std::fprintf(stderr, "meshtrust-agent: %s: %s\n", std::string(what).c_str(),
               std::string(status.message()).c_str());
  return 1;
}

// Holds a run (`once`), or each round's setup and each reconcile (`run`), to
// --deadline. Every call has its own --timeout, but a run makes many, and
// retries conflicts: without an overall bound a slow API server or CA could
// keep a Job (or a reconcile) going for much longer than anyone waits for
// it. Past the deadline the process ends with exit code 1 and says what it
// was doing; every write is a single step (one API call, one rename), so
// what is installed is the old set or the new one, and a Job's retry or the
// Deployment's restart starts afresh.
class Watchdog {
 public:
  explicit Watchdog(std::chrono::seconds deadline)
      : deadline_(deadline), thread_([this] { Watch(); }) {}
  ~Watchdog() {
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
    }
    thread_.join();
  }
  // Starts the clock for `what` ("setting up", "a reconcile").
  void Arm(std::string what) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    what_ = std::move(what);
    expires_ = absl::Now() + absl::FromChrono(deadline_);
  }
  void Disarm() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    expires_ = absl::InfiniteFuture();
  }

 private:
  void Watch() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    while (!done_) {
      absl::Time expires = expires_;
      mu_.AwaitWithDeadline(absl::Condition(
                                +[](bool* done) { return *done; }, &done_),
                            std::min(expires, absl::Now() + absl::Seconds(1)));
      if (!done_ && expires_ != absl::InfiniteFuture() && absl::Now() >= expires_) {
        std::string message =
            absl::StrCat(what_, " did not finish within its deadline (--deadline ",
                         deadline_.count(), " s); giving up");
        spdlog::error("{}", message);
        std::fprintf(stderr, "meshtrust-agent: %s\n", message.c_str());
        std::fflush(nullptr);
        std::_Exit(1);
      }
    }
  }

  std::chrono::seconds deadline_;
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time expires_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  std::string what_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// The join token from --token-file or MESHTRUST_JOIN_TOKEN; "" when neither
// was given. Read only when the agent has no stored identity.
absl::StatusOr<std::string> ReadJoinToken(const Flags& f) {
  if (const char* env = std::getenv("MESHTRUST_JOIN_TOKEN");
      env != nullptr && f.token_file.empty()) {
    return std::string(env);
  }
  if (f.token_file.empty()) return std::string();
  absl::StatusOr<std::string> t = ReadFile(f.token_file, 4096);
  if (!t.ok()) return t.status();
  return std::string(absl::StripAsciiWhitespace(*t));
}

std::unique_ptr<CaConnection> Connect(const Flags& f, const client::Identity& identity,
                                      std::chrono::seconds timeout, AuditCheckpointGuard* guard) {
  return std::make_unique<GrpcCaConnection>(
      client::CreateChannel(f.ca_address, identity.control_ca_pem, &identity), timeout, guard);
}

// Everything an agent needs, wired from the flags.
struct Agent {
  std::unique_ptr<KubeClient> kube;
  std::unique_ptr<SecretSink> sink;
  std::unique_ptr<IdentityStore> identity_store;
  TrustedRootsStore* trusted_roots = nullptr;  // The identity store, as the roots' keeper.
  std::unique_ptr<RootTrust> root_trust;
  std::unique_ptr<Enroller> enroller;
  std::unique_ptr<IdentityManager> identities;
  client::Identity identity;
  std::unique_ptr<AuditCheckpointGuard> audit_guard;
  std::unique_ptr<CaConnection> ca;
  std::unique_ptr<Installer> installer;
};

// `checkpoints` counts what every round's audit checkpoint guard saw.
absl::StatusOr<Agent> Setup(const Flags& f, AuditCheckpointCounters* checkpoints,
                            std::string* stage) {
  std::chrono::seconds timeout(f.timeout_seconds);
  *stage = "bad --key-algorithm";
  absl::StatusOr<pki::KeyAlgorithm> alg = pki::ParseKeyAlgorithm(f.key_algorithm);
  if (!alg.ok()) return alg.status();
  *stage = "bad --root-fingerprint";
  std::vector<std::string> pins;
  for (const std::string& text : f.root_fingerprints) {
    absl::StatusOr<std::string> pin = ParseRootFingerprint(text);
    if (!pin.ok()) return pin.status();
    pins.push_back(*std::move(pin));
  }
  if (f.renew_fraction <= 0.05 || f.renew_fraction >= 0.95) {
    return absl::InvalidArgumentError("--renew-fraction must be between 0.05 and 0.95");
  }
  Agent a;
  if (f.sink == "kubernetes" || f.identity_dir.empty() || f.restart_istiod) {
    *stage = "Kubernetes configuration";
    absl::StatusOr<KubeConfig> config =
        f.kubeconfig.empty() ? InClusterConfig() : LoadKubeconfig(f.kubeconfig);
    if (!config.ok()) return config.status();
    absl::StatusOr<std::unique_ptr<KubeClient>> client =
        KubeClient::Create(*std::move(config), timeout);
    if (!client.ok()) return client.status();
    a.kube = *std::move(client);
  }
  if (f.sink == "kubernetes") {
    a.sink = std::make_unique<KubernetesSink>(a.kube.get(), f.istio_namespace, f.secret_name);
  } else {
    *stage = "file sink";
    if (f.dir.empty()) return absl::InvalidArgumentError("--dir is required with --sink file");
    a.sink = std::make_unique<FileSink>(f.dir);
  }
  if (!f.identity_dir.empty()) {
    auto store = std::make_unique<FileIdentityStore>(f.identity_dir);
    a.trusted_roots = store.get();
    a.identity_store = std::move(store);
  } else {
    auto store = std::make_unique<KubernetesIdentityStore>(a.kube.get(), f.identity_namespace,
                                                           f.identity_secret);
    a.trusted_roots = store.get();
    a.identity_store = std::move(store);
  }
  a.root_trust = std::make_unique<RootTrust>(a.trusted_roots, std::move(pins), &SystemClock::Get());
  a.enroller = std::make_unique<GrpcEnroller>(f.ca_address, timeout);
  IdentityManagerOptions identity_options;
  identity_options.cluster = f.cluster;
  identity_options.pin = f.pin;
  a.identities = std::make_unique<IdentityManager>(a.identity_store.get(), a.enroller.get(),
                                                   &SystemClock::Get(), identity_options);
  *stage = "identity";
  // Everything the agent will write is checked before the join token is
  // spent: the identity store by LoadOrEnroll, the rest here.
  auto before_enrolling = [&f, &a]() -> absl::Status {
    if (absl::Status s = a.sink->CheckWritable(); !s.ok()) return s;
    if (f.restart_istiod) {
      return CheckDeploymentPatchable(a.kube.get(), f.istio_namespace, f.istiod_deployment);
    }
    return absl::OkStatus();
  };
  absl::StatusOr<client::Identity> identity =
      a.identities->LoadOrEnroll([&f] { return ReadJoinToken(f); }, before_enrolling);
  if (!identity.ok()) return identity.status();
  a.identity = *std::move(identity);
  *stage = "audit checkpoint";
  absl::StatusOr<std::unique_ptr<AuditCheckpointGuard>> guard = AuditCheckpointGuard::Create(
      a.identity_store.get(), a.identity.audit_public_key, checkpoints);
  if (!guard.ok()) return guard.status();
  a.audit_guard = *std::move(guard);
  a.ca = Connect(f, a.identity, timeout, a.audit_guard.get());

  if (a.identities->RenewalDue(a.identity)) {
    absl::StatusOr<client::Identity> renewed =
        a.identities->Renew(a.identity, a.ca.get(), [&f, timeout, &a](const client::Identity& id) {
          return Connect(f, id, timeout, a.audit_guard.get());
        });
    if (renewed.ok()) {
      a.identity = *std::move(renewed);
      a.ca = Connect(f, a.identity, timeout, a.audit_guard.get());
      spdlog::info("renewed the agent identity (valid until {})",
                   Rfc3339(IdentityManager::NotAfter(a.identity)));
    } else {
      // The current identity is still valid (the CA supersedes it only once
      // the renewed one has been used): go on with it and try again later.
      spdlog::error(
          "renewing the agent identity failed; going on with the current one (valid "
          "until {}): {}",
          Rfc3339(IdentityManager::NotAfter(a.identity)), renewed.status());
    }
  }
  InstallerOptions options;
  options.cluster = f.cluster;
  options.key_algorithm = *alg;
  options.ttl = std::chrono::hours(f.ttl_hours);
  options.adopt = f.adopt;
  options.renew_fraction = f.renew_fraction;
  options.root_bundle_rule = *pki::RootBundleRuleForIstioVersion(f.istio_version);  // Checked.
  a.installer = std::make_unique<Installer>(a.ca.get(), a.sink.get(), a.root_trust.get(),
                                            &SystemClock::Get(), options);
  return a;
}

absl::Status RestartIstiodIfAsked(const Flags& f, Agent& a) {
  if (!f.restart_istiod) return absl::OkStatus();
  return RestartDeployment(a.kube.get(), f.istio_namespace, f.istiod_deployment,
                           std::chrono::system_clock::now());
}

int RunOnce(const Flags& f) {
  Watchdog watchdog{std::chrono::seconds(f.deadline_seconds)};
  watchdog.Arm("meshtrust-agent once");
  std::string stage;
  AuditCheckpointCounters checkpoints;
  absl::StatusOr<Agent> a = Setup(f, &checkpoints, &stage);
  if (!a.ok()) return Fail(stage, a.status());
  absl::StatusOr<InstallResult> result = a->installer->EnsureInstalled(f.rekey);
  if (!result.ok())
    return Fail(absl::StrCat("installing into ", a->sink->Describe()), result.status());
  if (result->changed) {
    if (absl::Status s = RestartIstiodIfAsked(f, *a); !s.ok()) return Fail("restarting istiod", s);
    std::printf("installed intermediate %s for %s in %s (expires %s)\n", result->serial.c_str(),
                f.cluster.c_str(), a->sink->Describe().c_str(), Rfc3339(result->not_after).c_str());
  } else {
    std::printf("%s already holds a current intermediate (%s) for %s\n",
                a->sink->Describe().c_str(), result->serial.c_str(), f.cluster.c_str());
  }
  return 0;
}

// What the signal thread, the renewal timer, metrics scrapes and the main
// loop share while the agent runs.
class RunState {
 public:
  // Ends the current round and the loop (from the signal thread).
  void RequestStop() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (current_ != nullptr) current_->Stop();
  }
  bool stopping() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return stopping_;
  }
  // Returns after `timeout`, or earlier when a stop is requested.
  void WaitForStop(absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), timeout);
  }
  // The current Runner's status, or the last round's between rounds.
  RunnerStatus Snapshot() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return current_ != nullptr ? current_->status() : carried_;
  }
  // Starts a round with `runner`; false when a stop was requested.
  bool BeginRound(Runner* runner) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (stopping_) return false;
    current_ = runner;
    round_done_ = false;
    return true;
  }
  void EndRound(const RunnerStatus& last) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    carried_ = last;
    carried_.watch_connected = false;
    current_ = nullptr;
    round_done_ = true;
  }
  // True when `deadline` came before the round ended or a stop was requested.
  bool ReachedBeforeRoundEnds(TimePoint deadline) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return !mu_.AwaitWithDeadline(absl::Condition(this, &RunState::StoppingOrRoundDone),
                                  absl::FromChrono(deadline));
  }

 private:
  bool StoppingOrRoundDone() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || round_done_;
  }

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool round_done_ ABSL_GUARDED_BY(mu_) = false;
  Runner* current_ ABSL_GUARDED_BY(mu_) = nullptr;
  RunnerStatus carried_ ABSL_GUARDED_BY(mu_);
};

int RunForever(const Flags& f) {
  // Block the stop signals before any thread starts, then wait for one.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  RunState state;
  auto snapshot = [&state] { return state.Snapshot(); };
  AuditCheckpointCounters checkpoints;
  MetricsRegistry registry;
  RegisterAgentMetrics(&registry, f.cluster, snapshot);
  RegisterAuditCheckpointMetrics(&registry, &checkpoints);
  std::unique_ptr<HttpServer> ops;
  if (!f.metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<HttpServer>> started =
        HttpServer::Start(f.metrics_listen, [&](const HttpRequest& req) {
          return HandleOpsHttp(
              registry,
              [&] { return CheckInstalledReady(snapshot(), std::chrono::system_clock::now()); },
              req);
        });
    if (!started.ok()) return Fail("--metrics-listen", started.status());
    ops = *std::move(started);
    spdlog::info("serving /metrics, /healthz and /readyz on port {}", ops->port());
  }
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&stop, &sig);
    spdlog::info("received signal {}, stopping", sig);
    state.RequestStop();
  });
  // One round per agent identity: the Runner works with the identity it was
  // built with, so it is stopped and rebuilt when the identity is renewed.
  // The installed cacerts is untouched in between.
  int rc = 0;
  Watchdog watchdog{std::chrono::seconds(f.deadline_seconds)};
  for (bool first = true; !state.stopping(); first = false) {
    std::string stage;
    watchdog.Arm("setting up (enrolling or loading the identity, connecting to the CA)");
    absl::StatusOr<Agent> a = Setup(f, &checkpoints, &stage);
    watchdog.Disarm();
    if (!a.ok()) {
      if (first) {
        rc = Fail(stage, a.status());
        break;
      }
      spdlog::error("{} failed, keeping what is installed; retrying in 30 s: {}", stage,
                    a.status());
      state.WaitForStop(absl::Seconds(30));
      continue;
    }
    RunnerOptions options;
    options.reconcile_interval = std::chrono::seconds(f.reconcile_seconds);
    options.crl_refresh_delay =
        std::chrono::milliseconds(static_cast<int64_t>(f.crl_refresh_delay_seconds * 1000));
    options.status_file = f.status_file;
    options.before_attempt = [&watchdog] { watchdog.Arm("a reconcile"); };
    options.after_attempt = [&watchdog] { watchdog.Disarm(); };
    RunnerStatus initial = snapshot();
    options.initial_status = &initial;
    Agent* agent = &*a;
    if (f.restart_istiod)
      options.after_change = [&f, agent] { return RestartIstiodIfAsked(f, *agent); };
    Runner runner(a->installer.get(), a->ca.get(), &SystemClock::Get(), f.cluster, options);
    TimePoint renew_at = a->identities->NextRenewal(a->identity);
    if (!state.BeginRound(&runner)) break;
    std::thread renewal([&] {
      if (state.ReachedBeforeRoundEnds(renew_at)) {
        spdlog::info("the agent identity is due for renewal (expires {})",
                     Rfc3339(IdentityManager::NotAfter(agent->identity)));
        runner.Stop();
      }
    });
    if (first) {
      spdlog::info("meshtrust-agent running for cluster {} (installing into {})", f.cluster,
                   a->sink->Describe());
    }
    runner.Run();
    state.EndRound(runner.status());
    renewal.join();
  }
  if (ops != nullptr) ops->Stop();
  // Unblock the waiter if the loop ended on its own.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  return rc;
}

}  // namespace
}  // namespace meshtrust::agent

int main(int argc, char** argv) {
  using meshtrust::agent::Flags;
  meshtrust::EnsureSodiumInitialized();
  ::umask(077);
  ::signal(SIGPIPE, SIG_IGN);  // A peer closing early is an error, not a crash.
  // Until the flags choose a format, log as text to stderr.
  (void)meshtrust::ConfigureLogging("meshtrust-agent", "text", "info");
  // Private key material OpenSSL allocates goes to its locked secure heap.
  if (absl::Status s = meshtrust::pki::InitSecureKeyHeap(1 << 16); !s.ok()) {
    spdlog::warn("{}", s.message());
  }

  CLI::App app{"meshtrust-agent: keeps Istio's cacerts holding this cluster's intermediate CA"};
  app.require_subcommand(1);
  meshtrust::EnableYamlConfig(&app);
  Flags f;
  std::string log_level = "info", log_format = "text";
  app.add_option("--log-format", log_format, "Log lines as text or json")->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  CLI::App* once =
      app.add_subcommand("once", "Ensure a valid intermediate is installed, then exit (Job mode)");
  once->add_flag("--rekey", f.rekey,
                 "Issue a new key and intermediate even if the installed one is current");
  CLI::App* run = app.add_subcommand(
      "run", "Keep a valid intermediate installed: renew, react to the CA, repair (long-running)");
  run->add_option("--reconcile-seconds", f.reconcile_seconds,
                  "How often to re-read and repair cacerts")
      ->capture_default_str();
  run->add_option("--crl-refresh-delay", f.crl_refresh_delay_seconds,
                  "Seconds to wait after the CA announces a CRL-only change before rewriting "
                  "ca-crl.pem, so a burst of changes (a fleet re-keying) is written once")
      ->check(CLI::Range(0.0, 60.0))
      ->capture_default_str();
  run->add_option("--metrics-listen", f.metrics_listen,
                  "host:port for /metrics, /healthz and /readyz (e.g. 0.0.0.0:9090)");
  run->add_option("--status-file", f.status_file,
                  "Write the agent's state (last success, next renewal, last error) here as JSON");
  for (CLI::App* cmd : {once, run}) {
    cmd->add_option("--renew-fraction", f.renew_fraction,
                    "Renew once this fraction of the intermediate's lifetime has passed")
        ->capture_default_str();
    cmd->add_flag(
        "--restart-istiod", f.restart_istiod,
        "After installing, rollout-restart istiod (Istio without hot reload, first install)");
    cmd->add_option("--istiod-deployment", f.istiod_deployment, "istiod's Deployment name")
        ->capture_default_str();
    cmd->add_option("--ca", f.ca_address, "CA address host:port")
        ->required()
        ->envname("MESHTRUST_CA");
    cmd->add_option("--cluster", f.cluster, "This cluster's name as registered at the CA")
        ->required()
        ->envname("MESHTRUST_CLUSTER");
    cmd->add_option("--pin", f.pin, "Control CA pin sha256:<hex> (for enrollment)")
        ->envname("MESHTRUST_CA_PIN");
    cmd->add_option("--root-fingerprint", f.root_fingerprints,
                    "Mesh root fingerprint sha256:<hex>, as meshtrust-ca init prints it (for "
                    "enrollment; repeat for several roots). The agent refuses a CA whose bundle "
                    "lacks it, and later accepts only roots endorsed by roots it trusts")
        ->envname("MESHTRUST_ROOT_FINGERPRINT")
        ->delimiter(',');
    cmd->add_option(
        "--token-file", f.token_file,
        "File holding the one-time join token (for enrollment; or env MESHTRUST_JOIN_TOKEN)");
    cmd->add_option("--sink", f.sink, "Where to install: kubernetes (the cacerts Secret) or file")
        ->check(CLI::IsMember({"kubernetes", "file"}))
        ->capture_default_str();
    cmd->add_option("--dir", f.dir, "Directory for --sink file");
    cmd->add_option("--kubeconfig", f.kubeconfig,
                    "kubeconfig file (default: in-cluster service account)")
        ->envname("KUBECONFIG");
    cmd->add_option("--istio-namespace", f.istio_namespace, "Namespace of the cacerts Secret")
        ->capture_default_str();
    cmd->add_option("--secret-name", f.secret_name, "Name of the plug-in CA Secret")
        ->capture_default_str();
    cmd->add_option("--identity-namespace", f.identity_namespace,
                    "Namespace of the agent's identity Secret")
        ->capture_default_str();
    cmd->add_option("--identity-secret", f.identity_secret, "Name of the agent's identity Secret")
        ->capture_default_str();
    cmd->add_option("--identity-dir", f.identity_dir,
                    "Keep the identity in this directory instead of a Secret");
    cmd->add_option("--key-algorithm", f.key_algorithm,
                    "Intermediate key: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096")
        ->capture_default_str();
    cmd->add_option("--ttl-hours", f.ttl_hours,
                    "Requested intermediate lifetime (0: the CA policy's maximum)")
        ->capture_default_str();
    cmd->add_flag("--adopt", f.adopt, "Replace a cacerts that meshtrust did not write");
    cmd->add_option("--istio-version", f.istio_version,
                    "The Istio version of this cluster's istiod (1.x), which decides how a "
                    "changed root-cert.pem must relate to the installed one: before 1.31 the new "
                    "file must contain the old one byte for byte (or the reverse), from 1.31 "
                    "one set of certificates must contain the other. \"any\" applies the byte "
                    "rule, which every version accepts")
        ->check([](const std::string& v) {
          absl::StatusOr<meshtrust::pki::RootBundleRule> rule =
              meshtrust::pki::RootBundleRuleForIstioVersion(v);
          return rule.ok() ? std::string() : std::string(rule.status().message());
        })
        ->capture_default_str();
    cmd->add_option("--timeout", f.timeout_seconds, "Per-call timeout in seconds")
        ->capture_default_str();
    cmd->add_option("--deadline", f.deadline_seconds,
                    "Give up (exit 1, saying so) when a whole run (once), or setting up or one "
                    "reconcile (run), takes longer than this many seconds")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
  }
  CLI11_PARSE(app, argc, argv);
  if (absl::Status s = meshtrust::ConfigureLogging("meshtrust-agent", log_format, log_level);
      !s.ok()) {
    std::fprintf(stderr, "meshtrust-agent: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (once->parsed()) return meshtrust::agent::RunOnce(f);
  if (run->parsed()) return meshtrust::agent::RunForever(f);
  return 2;
}
