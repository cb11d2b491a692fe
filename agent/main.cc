// meshtrust-agent: runs in each cluster; keeps Istio's `cacerts` holding an
// intermediate CA whose key never left the cluster.
//
//   meshtrust-agent once --ca HOST:PORT --cluster NAME [--pin sha256:... --token-file F]
//                        [--sink kubernetes|file] ...
#include <openssl/crypto.h>
#include <signal.h>
#include <sys/stat.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/agent_metrics.h"
#include "agent/file_sink.h"
#include "agent/grpc_ca_connection.h"
#include "agent/identity_store.h"
#include "agent/installer.h"
#include "agent/istiod_restarter.h"
#include "agent/kube_client.h"
#include "agent/kubernetes_sink.h"
#include "agent/runner.h"
#include "base/files.h"
#include "base/logging.h"
#include "base/metrics.h"
#include "base/yaml_config.h"
#include "net/http_server.h"
#include "net/ops_http.h"
#include "pki/certificate.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace meshtrust::agent {
namespace {

struct Flags {
  std::string ca_address;
  std::string cluster;
  std::string pin;
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
  bool rekey = false;
  int timeout_seconds = 15;
  // run mode
  int reconcile_seconds = 30;
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

// Loads the stored identity, or enrolls with the join token and stores it.
absl::StatusOr<client::Identity> ObtainIdentity(const Flags& f, IdentityStore* store,
                                                std::chrono::seconds timeout) {
  absl::StatusOr<std::optional<client::Identity>> stored = store->Load();
  if (!stored.ok()) return stored.status();
  std::string expected = absl::StrCat("spiffe://meshtrust/cluster/", f.cluster);
  if (stored->has_value()) {
    client::Identity& id = **stored;
    if (id.identity != expected) {
      return absl::FailedPreconditionError(absl::StrCat(store->Describe(), " holds identity ",
                                                        id.identity, ", not ", expected,
                                                        "; check --cluster"));
    }
    absl::StatusOr<ossl::UniquePtr<X509>> cert = pki::ParseCertificatePem(id.certificate_pem);
    if (!cert.ok()) return cert.status();
    if (pki::NotAfter(cert->get()) <= std::chrono::system_clock::now()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the agent identity in ", store->Describe(), " expired at ",
                       Rfc3339(pki::NotAfter(cert->get())),
                       "; create a join token (meshtrustctl token create --cluster ", f.cluster,
                       "), delete the identity and enroll again"));
    }
    spdlog::info("using the stored identity {} from {}", id.identity, store->Describe());
    return std::move(id);
  }
  std::string token;
  if (const char* env = std::getenv("MESHTRUST_JOIN_TOKEN");
      env != nullptr && f.token_file.empty()) {
    token = env;
  } else if (!f.token_file.empty()) {
    absl::StatusOr<std::string> t = ReadFile(f.token_file, 4096);
    if (!t.ok()) return t.status();
    token = std::string(absl::StripAsciiWhitespace(*t));
  } else {
    return absl::FailedPreconditionError(absl::StrCat(
        "no stored identity in ", store->Describe(),
        " and no join token: give --token-file (or MESHTRUST_JOIN_TOKEN) and --pin to enroll"));
  }
  if (f.pin.empty()) return absl::InvalidArgumentError("--pin is required to enroll");
  absl::StatusOr<pki::KeyAlgorithm> alg = pki::ParseKeyAlgorithm("ecdsa-p256");
  absl::StatusOr<client::Identity> id =
      client::Enroll(f.ca_address, f.pin, token, *alg, timeout, expected);
  if (!id.ok()) return id.status();
  if (id->identity != expected) {  // A CA that predates expected_identity.
    return absl::FailedPreconditionError(absl::StrCat("the join token enrolled ", id->identity,
                                                      ", not ", expected,
                                                      "; it belongs to another cluster"));
  }
  if (absl::Status s = store->Save(*id); !s.ok()) return s;
  spdlog::info("enrolled as {}; identity stored in {}", id->identity, store->Describe());
  return id;
}

TimePoint IdentityNotAfter(const client::Identity& id) {
  absl::StatusOr<ossl::UniquePtr<X509>> cert = pki::ParseCertificatePem(id.certificate_pem);
  return cert.ok() ? pki::NotAfter(cert->get()) : TimePoint{};
}

// When the agent identity is due for renewal: two thirds into its life.
TimePoint IdentityRenewAt(const client::Identity& id) {
  absl::StatusOr<ossl::UniquePtr<X509>> cert = pki::ParseCertificatePem(id.certificate_pem);
  if (!cert.ok()) return TimePoint{};
  TimePoint nb = pki::NotBefore(cert->get()), na = pki::NotAfter(cert->get());
  return nb + (na - nb) * 2 / 3;
}

// Everything an agent needs, wired from the flags.
struct Agent {
  std::unique_ptr<KubeClient> kube;
  std::unique_ptr<SecretSink> sink;
  std::unique_ptr<IdentityStore> identity_store;
  client::Identity identity;
  std::unique_ptr<GrpcCaConnection> ca;
  std::unique_ptr<Installer> installer;
};

absl::StatusOr<Agent> Setup(const Flags& f, std::string* stage) {
  std::chrono::seconds timeout(f.timeout_seconds);
  *stage = "bad --key-algorithm";
  absl::StatusOr<pki::KeyAlgorithm> alg = pki::ParseKeyAlgorithm(f.key_algorithm);
  if (!alg.ok()) return alg.status();
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
    a.identity_store = std::make_unique<FileIdentityStore>(f.identity_dir);
  } else {
    a.identity_store = std::make_unique<KubernetesIdentityStore>(a.kube.get(), f.identity_namespace,
                                                                 f.identity_secret);
  }
  *stage = "identity";
  absl::StatusOr<client::Identity> identity = ObtainIdentity(f, a.identity_store.get(), timeout);
  if (!identity.ok()) return identity.status();
  a.identity = *std::move(identity);
  a.ca = std::make_unique<GrpcCaConnection>(
      client::CreateChannel(f.ca_address, a.identity.control_ca_pem, &a.identity), timeout);

  if (IdentityRenewAt(a.identity) <= std::chrono::system_clock::now()) {
    *stage = "renewing the agent identity";
    absl::StatusOr<client::Identity> renewed =
        a.ca->RenewIdentity(a.identity, pki::KeyAlgorithm::kEcdsaP256);
    if (!renewed.ok()) return renewed.status();
    if (absl::Status s = a.identity_store->Save(*renewed); !s.ok()) return s;
    a.identity = *std::move(renewed);
    a.ca = std::make_unique<GrpcCaConnection>(
        client::CreateChannel(f.ca_address, a.identity.control_ca_pem, &a.identity), timeout);
    spdlog::info("renewed the agent identity (valid until {})",
                 Rfc3339(IdentityNotAfter(a.identity)));
  }
  InstallerOptions options;
  options.cluster = f.cluster;
  options.key_algorithm = *alg;
  options.ttl = std::chrono::hours(f.ttl_hours);
  options.adopt = f.adopt;
  options.renew_fraction = f.renew_fraction;
  a.installer = std::make_unique<Installer>(a.ca.get(), a.sink.get(), &SystemClock::Get(), options);
  return a;
}

absl::Status RestartIstiodIfAsked(const Flags& f, Agent& a) {
  if (!f.restart_istiod) return absl::OkStatus();
  return RestartDeployment(a.kube.get(), f.istio_namespace, f.istiod_deployment,
                           std::chrono::system_clock::now());
}

int RunOnce(const Flags& f) {
  std::string stage;
  absl::StatusOr<Agent> a = Setup(f, &stage);
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

int RunForever(const Flags& f) {
  // Block the stop signals before any thread starts, then wait for one.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;      // Guarded by mu.
  Runner* current = nullptr;  // Guarded by mu.
  RunnerStatus carried;       // The last round's status. Guarded by mu.
  auto snapshot = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return current != nullptr ? current->status() : carried;
  };
  MetricsRegistry registry;
  RegisterAgentMetrics(&registry, f.cluster, snapshot);
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
    std::lock_guard<std::mutex> lock(mu);
    stopping = true;
    if (current != nullptr) current->Stop();
    cv.notify_all();
  });
  auto stopped = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return stopping;
  };
  // One round per agent identity: the Runner works with the identity it was
  // built with, so it is stopped and rebuilt when the identity is renewed.
  // The installed cacerts is untouched in between.
  int rc = 0;
  for (bool first = true; !stopped(); first = false) {
    std::string stage;
    absl::StatusOr<Agent> a = Setup(f, &stage);
    if (!a.ok()) {
      if (first) {
        rc = Fail(stage, a.status());
        break;
      }
      spdlog::error("{} failed, keeping what is installed; retrying in 30 s: {}", stage,
                    a.status());
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_for(lock, std::chrono::seconds(30), [&] { return stopping; });
      continue;
    }
    RunnerOptions options;
    options.reconcile_interval = std::chrono::seconds(f.reconcile_seconds);
    options.status_file = f.status_file;
    RunnerStatus initial = snapshot();
    options.initial_status = &initial;
    Agent* agent = &*a;
    if (f.restart_istiod)
      options.after_change = [&f, agent] { return RestartIstiodIfAsked(f, *agent); };
    Runner runner(a->installer.get(), a->ca.get(), &SystemClock::Get(), f.cluster, options);
    // Not before half of what remains, either: a short-lived identity's
    // backdated notBefore can put two thirds of its life in the past.
    TimePoint now = std::chrono::system_clock::now();
    TimePoint renew_at =
        std::max(IdentityRenewAt(a->identity), now + (IdentityNotAfter(a->identity) - now) / 2);
    bool runner_done = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stopping) break;
      current = &runner;
    }
    std::thread renewal([&] {
      std::unique_lock<std::mutex> lock(mu);
      if (!cv.wait_until(lock, renew_at, [&] { return stopping || runner_done; })) {
        spdlog::info("the agent identity is due for renewal (expires {})",
                     Rfc3339(IdentityNotAfter(agent->identity)));
        runner.Stop();
      }
    });
    if (first) {
      spdlog::info("meshtrust-agent running for cluster {} (installing into {})", f.cluster,
                   a->sink->Describe());
    }
    runner.Run();
    {
      std::lock_guard<std::mutex> lock(mu);
      carried = runner.status();
      carried.watch_connected = false;
      current = nullptr;
      runner_done = true;
    }
    cv.notify_all();
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
  spdlog::set_default_logger(spdlog::stderr_logger_mt("meshtrust-agent"));
  CRYPTO_secure_malloc_init(1 << 16, 32);

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
    cmd->add_option("--timeout", f.timeout_seconds, "Per-call timeout in seconds")
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
