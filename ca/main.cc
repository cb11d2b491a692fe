// meshtrust-ca: the root CA service.
//
//   meshtrust-ca init   --state-dir DIR (--kek-file F | --passphrase-file F) [...]
//   meshtrust-ca serve  --state-dir DIR (--kek-file F | --passphrase-file F) [--listen ADDR]
//   meshtrust-ca admin-token --state-dir DIR ... --name NAME [--role operator|auditor]
//   meshtrust-ca audit verify --state-dir DIR [--public-key FILE] [--checkpoint FILE]
#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/files.h"
#include "base/hex.h"
#include "base/logging.h"
#include "base/metrics.h"
#include "base/yaml_config.h"
#include "ca/audit/audit_checkpoint.h"
#include "ca/audit/audit_verify.h"
#include "ca/core/authority.h"
#include "ca/server/ca_metrics.h"
#include "ca/server/public_http.h"
#include "ca/server/server.h"
#include "ca/state/state_dir.h"
#include "net/ops_http.h"
#include "pki/key.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace meshtrust::ca {
namespace {

struct KekFlags {
  std::string kek_file;
  std::string passphrase_file;
  std::string hsm_uri;

  void Add(CLI::App* cmd) {
    cmd->add_option("--kek-file", kek_file,
                    "File holding the 32-byte keystore key-encryption key (e.g. a mounted Secret)")
        ->envname("MESHTRUST_KEK_FILE");
    cmd->add_option("--passphrase-file", passphrase_file,
                    "File holding the keystore passphrase (Argon2id); alternative to --kek-file")
        ->envname("MESHTRUST_PASSPHRASE_FILE");
    cmd->add_option("--hsm-uri", hsm_uri,
                    "RFC 7512 pkcs11: URI of the token that holds the mesh roots, e.g. "
                    "'pkcs11:token=meshtrust?module-path=/usr/lib/softhsm/libsofthsm2.so"
                    "&pin-source=file:/run/secrets/hsm-pin' (PIN from a file or "
                    "pin-source=env:NAME, never in the URI). Every other key stays sealed")
        ->envname("MESHTRUST_HSM_URI");
  }
  absl::StatusOr<keystore::KekSource> Source() const {
    if (kek_file.empty() == passphrase_file.empty()) {
      return absl::InvalidArgumentError("give exactly one of --kek-file or --passphrase-file");
    }
    return kek_file.empty() ? keystore::KekSource::PassphraseFile(passphrase_file)
                            : keystore::KekSource::KeyFile(kek_file);
  }
};

// Set once, from the thread that handles the stop signal; waited for by the
// CRL timer.
class StopFlag {
 public:
  void Set() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    set_ = true;
  }
  // True once set; false after `timeout` without.
  bool WaitFor(absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&set_), timeout);
  }

 private:
  absl::Mutex mu_;
  bool set_ ABSL_GUARDED_BY(mu_) = false;
};

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "meshtrust-ca: %s\n", std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

int RunInit(const InitOptions& base, const KekFlags& kek, const std::string& root_alg,
            int root_ttl_days, const std::string& server_names) {
  InitOptions options = base;
  absl::StatusOr<keystore::KekSource> source = kek.Source();
  if (!source.ok()) return Fail(source.status());
  options.kek = *source;
  options.hsm_uri = kek.hsm_uri;
  absl::StatusOr<pki::KeyAlgorithm> alg = pki::ParseKeyAlgorithm(root_alg);
  if (!alg.ok()) return Fail(alg.status());
  if (*alg != pki::KeyAlgorithm::kEcdsaP256 && *alg != pki::KeyAlgorithm::kEcdsaP384 &&
      *alg != pki::KeyAlgorithm::kRsa4096) {
    return Fail(
        absl::InvalidArgumentError("--root-key must be ecdsa-p256, ecdsa-p384 or rsa-4096"));
  }
  options.root_algorithm = *alg;
  if (root_ttl_days < 30 || root_ttl_days > 365 * 30) {
    return Fail(absl::InvalidArgumentError("--root-ttl-days must be between 30 and 10950"));
  }
  options.root_ttl = std::chrono::hours(24 * root_ttl_days);
  if (!server_names.empty()) {
    options.server_dns_names.clear();
    options.server_ip_addresses.clear();
    for (absl::string_view name : absl::StrSplit(server_names, ',')) {
      if (name.empty()) continue;
      bool is_ip =
          name.find_first_not_of("0123456789.:abcdef") == absl::string_view::npos &&
          (name.find('.') != absl::string_view::npos || name.find(':') != absl::string_view::npos);
      (is_ip ? options.server_ip_addresses : options.server_dns_names).emplace_back(name);
    }
  }
  absl::StatusOr<InitResult> result = InitializeStateDir(options, SystemClock::Get());
  if (!result.ok()) return Fail(result.status());
  std::printf("Initialised a meshtrust CA in %s\n", options.state_dir.c_str());
  std::printf("  mesh root fingerprint: sha256:%s\n", result->root_fingerprint.c_str());
  std::printf("  control CA pin:        %s\n", result->control_ca_pin.c_str());
  std::printf("  first admin identity:  %s\n", result->admin_identity.c_str());
  std::printf("  admin join token (single use, expires in %lld min):\n    %s\n",
              static_cast<long long>(options.admin_token_ttl.count() / 60),
              result->admin_token.c_str());
  std::printf(
      "Next: meshtrust-ca serve --state-dir %s ..., then\n"
      "      meshtrustctl login --ca HOST:PORT --pin %s --token <admin join token>\n"
      "Agents enroll with --pin %s --root-fingerprint sha256:%s\n",
      options.state_dir.c_str(), result->control_ca_pin.c_str(), result->control_ca_pin.c_str(),
      result->root_fingerprint.c_str());
  return 0;
}

// Durations as operators write them: "24h", "90m", "1h30m", "45s".
absl::StatusOr<std::chrono::seconds> ParseDurationFlag(absl::string_view flag,
                                                       const std::string& text,
                                                       std::chrono::seconds minimum) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " \"", text, "\" is not a duration; write it like 24h, 90m or 1h30m"));
  }
  auto seconds = std::chrono::seconds(absl::ToInt64Seconds(d));
  if (seconds < minimum) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " must be at least ", minimum.count(), "s, not ", text));
  }
  return seconds;
}

struct ServeFlags {
  std::string listen = "127.0.0.1:8443";
  std::string http_listen;
  std::string public_url;
  std::string port_file;
  std::string root_rotation_soak = "24h";
  std::string crl_validity = "168h";
  std::string identity_ttl = "24h";
  std::string metrics_listen;
  std::string checkpoint_log;
  int max_connections = 16384;
  int max_connections_per_peer = 512;
  std::string handshake_timeout = "10s";
  int memory_quota_mib = 32;
  int max_watch_streams_per_cluster = kDefaultMaxWatchStreamsPerCluster;
};

int RunServe(const std::string& state_dir, const KekFlags& kek, const ServeFlags& flags) {
  AuthorityOptions options;
  options.public_url = flags.public_url;
  absl::StatusOr<std::chrono::seconds> soak =
      ParseDurationFlag("--root-rotation-soak", flags.root_rotation_soak, std::chrono::seconds(0));
  if (!soak.ok()) return Fail(soak.status());
  options.root_rotation_soak = *soak;
  // The timer re-signs at half-life and wakes every minute, so shorter
  // validities could lapse between ticks.
  absl::StatusOr<std::chrono::seconds> crl_validity =
      ParseDurationFlag("--crl-validity", flags.crl_validity, std::chrono::minutes(10));
  if (!crl_validity.ok()) return Fail(crl_validity.status());
  options.crl_validity = *crl_validity;
  absl::StatusOr<std::chrono::seconds> identity_ttl =
      ParseDurationFlag("--identity-ttl", flags.identity_ttl, std::chrono::minutes(5));
  if (!identity_ttl.ok()) return Fail(identity_ttl.status());
  options.identity_ttl = *identity_ttl;
  options.max_watch_streams_per_cluster = flags.max_watch_streams_per_cluster;
  absl::StatusOr<keystore::KekSource> source = kek.Source();
  if (!source.ok()) return Fail(source.status());
  absl::StatusOr<OpenedCa> ca =
      OpenCa(state_dir, *source, &SystemClock::Get(), options, kek.hsm_uri);
  if (!ca.ok()) return Fail(ca.status());
  CaState* state = &ca->state;
  Authority* authority = ca->authority.get();
  if (!flags.checkpoint_log.empty()) {
    if (absl::Status s = state->published_checkpoint->ExportTo(flags.checkpoint_log); !s.ok()) {
      return Fail(s);
    }
  }

  MetricsRegistry registry;
  CaMetrics metrics(&registry, authority, state->store.get(), &SystemClock::Get());

  // Block the stop signals before gRPC starts its threads, then wait for one.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  ServerOptions server_options;
  server_options.listen_address = flags.listen;
  server_options.server_chain_pem = state->server_chain_pem;
  server_options.server_key_pem = &state->server_key_pem;
  server_options.client_ca_pem = state->control_ca_pem;
  server_options.metrics = &metrics;
  server_options.max_connections = flags.max_connections;
  server_options.max_connections_per_peer = flags.max_connections_per_peer;
  absl::StatusOr<std::chrono::seconds> handshake_timeout =
      ParseDurationFlag("--handshake-timeout", flags.handshake_timeout, std::chrono::seconds(1));
  if (!handshake_timeout.ok()) return Fail(handshake_timeout.status());
  server_options.handshake_timeout = *handshake_timeout;
  server_options.memory_quota_bytes = static_cast<int64_t>(flags.memory_quota_mib) * 1024 * 1024;
  absl::StatusOr<std::unique_ptr<CaServer>> server = CaServer::Start(authority, server_options);
  state->server_key_pem = SecretBytes();  // Wipe our copy; gRPC holds its own.
  if (!server.ok()) return Fail(server.status());
  (*server)->RegisterMetrics(&registry);
  spdlog::info("meshtrust-ca serving on port {} (state {}, audit head {})", (*server)->port(),
               state_dir, state->store->Head().sequence);
  if (!flags.port_file.empty()) {
    if (absl::Status s =
            WriteFileAtomically(flags.port_file, absl::StrCat((*server)->port(), "\n"), 0644);
        !s.ok()) {
      return Fail(s);
    }
  }
  // CRLs: signed now if missing, then re-signed well before nextUpdate.
  if (absl::Status s = authority->RefreshCrls(); !s.ok()) return Fail(s);
  std::unique_ptr<HttpServer> http;
  if (!flags.http_listen.empty()) {
    absl::StatusOr<std::unique_ptr<HttpServer>> started = HttpServer::Start(
        flags.http_listen,
        [authority](const HttpRequest& req) { return HandlePublicHttp(authority, req); });
    if (!started.ok()) return Fail(started.status());
    http = *std::move(started);
    spdlog::info("serving CRLs over HTTP on port {}", http->port());
  }
  std::unique_ptr<HttpServer> ops;
  if (!flags.metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<HttpServer>> started = HttpServer::Start(
        flags.metrics_listen, [&registry, authority, grpc = server->get(),
                               token = state->token.get()](const HttpRequest& req) {
          return HandleOpsHttp(
              registry,
              [authority, grpc, token]() -> absl::Status {
                // A token that went away fails closed: no signing, not ready.
                if (token != nullptr) {
                  if (absl::Status s = token->CheckAvailable(); !s.ok()) return s;
                }
                if (absl::Status s = authority->CheckReady(); !s.ok()) return s;
                return grpc->CheckServing();
              },
              req, [grpc] { return grpc->CheckAlive(); });
        });
    if (!started.ok()) return Fail(started.status());
    ops = *std::move(started);
    spdlog::info("serving /metrics, /healthz and /readyz on port {}", ops->port());
  }
  StopFlag stopping;
  std::thread crl_timer([&] {
    while (!stopping.WaitFor(absl::Minutes(1))) {
      if (absl::Status s = authority->RefreshCrls(); !s.ok()) {
        spdlog::error("re-signing CRLs failed: {}", s);
      }
    }
  });
  // glibc keeps freed heap pages (gRPC's per-thread arenas above all) until
  // asked: after a burst of large requests, give them back.
  std::thread memory_trim([&] {
    while (!stopping.WaitFor(absl::Seconds(5))) malloc_trim(0);
  });

  int sig = 0;
  sigwait(&stop, &sig);
  spdlog::info("received signal {}, shutting down", sig);
  stopping.Set();
  crl_timer.join();
  memory_trim.join();
  if (http != nullptr) http->Stop();
  if (ops != nullptr) ops->Stop();
  (*server)->Shutdown();
  return 0;
}

int RunAdminToken(const std::string& state_dir, const KekFlags& kek, const std::string& name,
                  const std::string& role, int ttl_minutes) {
  absl::StatusOr<keystore::KekSource> source = kek.Source();
  if (!source.ok()) return Fail(source.status());
  absl::StatusOr<OpenedCa> ca =
      OpenCa(state_dir, *source, &SystemClock::Get(), AuthorityOptions{}, kek.hsm_uri);
  if (!ca.ok()) return Fail(ca.status());
  if (role != "operator" && role != "auditor") {
    return Fail(absl::InvalidArgumentError("--role must be operator or auditor"));
  }
  EnrollmentSubject subject{role == "operator" ? CallerKind::kOperator : CallerKind::kAuditor,
                            name};
  absl::StatusOr<NewJoinToken> token =
      ca->authority->CreateAdminToken(subject, std::chrono::minutes(ttl_minutes));
  if (!token.ok()) return Fail(token.status());
  std::printf("%s\n", token->token.c_str());
  return 0;
}

int RunAuditVerify(const std::string& state_dir, std::string public_key_path,
                   const std::string& checkpoint_path) {
  if (public_key_path.empty()) public_key_path = state_dir + "/audit-public-key";
  absl::StatusOr<std::string> key = ReadAuditPublicKey(public_key_path);
  if (!key.ok()) return Fail(key.status());
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = OpenStoreReadOnly(state_dir);
  if (!store.ok()) return Fail(store.status());
  if (!checkpoint_path.empty()) {
    absl::StatusOr<std::string> text = ReadFile(checkpoint_path, 4096);
    if (!text.ok()) return Fail(text.status());
    absl::StatusOr<AuditCheckpoint> checkpoint = ParseCheckpointJson(*text, checkpoint_path);
    if (!checkpoint.ok()) return Fail(checkpoint.status());
    if (absl::Status s = CheckLogHoldsCheckpoint(store->get(), *key, *checkpoint); !s.ok()) {
      std::printf("audit log does NOT hold checkpoint %llu: %s\n",
                  static_cast<unsigned long long>(checkpoint->sequence),
                  std::string(s.message()).c_str());
      return 1;
    }
    std::printf("audit log holds checkpoint %llu (%s)\n",
                static_cast<unsigned long long>(checkpoint->sequence), checkpoint_path.c_str());
  }
  absl::StatusOr<AuditVerification> result = VerifyStoredAudit(store->get(), *key);
  if (!result.ok()) return Fail(result.status());
  if (!result->ok) {
    std::printf("audit log BROKEN at record %llu: %s\n(%llu records before it verified)\n",
                static_cast<unsigned long long>(result->first_bad_sequence),
                result->problem.c_str(), static_cast<unsigned long long>(result->records_checked));
    return 1;
  }
  std::printf("audit log OK: %llu records, head %s\n",
              static_cast<unsigned long long>(result->records_checked),
              HexEncode(result->head.hash).c_str());
  return 0;
}

}  // namespace
}  // namespace meshtrust::ca

int main(int argc, char** argv) {
  using namespace meshtrust::ca;  // NOLINT(build/namespaces)
  meshtrust::EnsureSodiumInitialized();
  ::umask(077);
  ::signal(SIGPIPE, SIG_IGN);  // A peer closing early is an error, not a crash.
  // A file-size limit reached is a failed write (signing fails closed), not a crash.
  ::signal(SIGXFSZ, SIG_IGN);
  // Private key material OpenSSL allocates goes to its locked secure heap.
  // Until the flags choose a format, log as text to stderr.
  (void)meshtrust::ConfigureLogging("meshtrust-ca", "text", "info");
  if (absl::Status s = meshtrust::pki::InitSecureKeyHeap(1 << 20); !s.ok()) {
    spdlog::warn("{}", s.message());
  }

  CLI::App app{"meshtrust-ca: the meshtrust root CA service"};
  app.require_subcommand(1);
  meshtrust::EnableYamlConfig(&app);
  std::string log_level = "info", log_format = "text";
  app.add_option("--log-format", log_format, "Log lines as text or json")->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error");

  InitOptions init;
  KekFlags init_kek;
  std::string root_alg = "ecdsa-p256";
  int root_ttl_days = 3650;
  std::string server_names;
  CLI::App* init_cmd = app.add_subcommand("init", "Create a new CA state directory");
  init_cmd
      ->add_option("--state-dir", init.state_dir,
                   "Directory to create (must not exist or be empty)")
      ->required();
  init_kek.Add(init_cmd);
  init_cmd->add_option("--root-key", root_alg, "Mesh root key: ecdsa-p256, ecdsa-p384, rsa-4096")
      ->capture_default_str();
  init_cmd->add_option("--root-ttl-days", root_ttl_days, "Mesh root lifetime in days")
      ->capture_default_str();
  init_cmd->add_option("--organization", init.organization, "O= of the CA certificates")
      ->capture_default_str();
  init_cmd->add_option("--server-names", server_names,
                       "Comma-separated DNS names and IPs of the CA server certificate "
                       "(default localhost,127.0.0.1,::1)");
  init_cmd->add_option("--import-cert", init.import_certificate,
                       "Import this CA certificate (PEM) as the mesh signing CA");
  init_cmd->add_option("--import-key", init.import_key,
                       "Its private key (PEM); sealed into the keystore");
  init_cmd->add_option("--import-chain", init.import_chain,
                       "The CAs above an imported intermediate, ending with the offline root");
  init_cmd->add_option("--admin-name", init.admin_name, "Name of the first operator")
      ->capture_default_str();
  init_cmd->add_flag("--hsm-control-ca", init.hsm_control_ca,
                     "Generate the control CA in the --hsm-uri token too");

  std::string state_dir;
  ServeFlags serve;
  KekFlags serve_kek;
  CLI::App* serve_cmd = app.add_subcommand("serve", "Serve the gRPC API");
  serve_cmd->add_option("--state-dir", state_dir, "CA state directory")->required();
  serve_kek.Add(serve_cmd);
  serve_cmd->add_option("--listen", serve.listen, "host:port to listen on (port 0 picks one)")
      ->capture_default_str();
  serve_cmd->add_option("--http-listen", serve.http_listen,
                        "host:port for the public HTTP endpoint (CRLs at /crl/<root>.der)");
  serve_cmd->add_option("--public-url", serve.public_url,
                        "Base URL of --http-listen as clusters reach it; intermediates then carry "
                        "cRLDistributionPoints <url>/crl/<root>.der");
  serve_cmd->add_option("--port-file", serve.port_file,
                        "Write the listening port to this file once serving");
  serve_cmd
      ->add_option("--root-rotation-soak", serve.root_rotation_soak,
                   "How long after `root rotate activate` the old root may be retired; at least "
                   "the workload certificate TTL (e.g. 24h)")
      ->capture_default_str();
  serve_cmd->add_option("--metrics-listen", serve.metrics_listen,
                        "host:port for /metrics, /healthz and /readyz (operators, not clusters)");
  serve_cmd
      ->add_option("--identity-ttl", serve.identity_ttl,
                   "Lifetime of agent and admin identity certificates; agents renew them at two "
                   "thirds")
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-connections", serve.max_connections,
                   "Most gRPC connections open at once (lowered to fit the open-files limit)")
      ->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-connections-per-peer", serve.max_connections_per_peer,
                   "Most gRPC connections open at once from one IP address (0: no cap)")
      ->check(CLI::Range(0, 1 << 24))
      ->capture_default_str();
  serve_cmd
      ->add_option("--handshake-timeout", serve.handshake_timeout,
                   "Close a gRPC connection whose TLS handshake has not finished by then")
      ->capture_default_str();
  serve_cmd
      ->add_option("--memory-quota-mib", serve.memory_quota_mib,
                   "Memory gRPC may hold for all connections' buffers together (MiB)")
      ->check(CLI::Range(8, 1 << 20))
      ->capture_default_str();
  serve_cmd->add_option("--checkpoint-log", serve.checkpoint_log,
                        "Append each newest audit checkpoint (JSON lines, at most one a second) "
                        "to this file, for a log pipeline that ships it where the CA cannot "
                        "rewrite it");
  serve_cmd
      ->add_option("--crl-validity", serve.crl_validity,
                   "Lifetime of each root CRL (nextUpdate - thisUpdate); re-signed at half of it")
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-watch-streams-per-cluster", serve.max_watch_streams_per_cluster,
                   "Watch streams one cluster's agent identity may hold open at once (each costs "
                   "the CA memory and writes); more are refused with RESOURCE_EXHAUSTED. 0: no "
                   "cap")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();

  std::string admin_name, admin_role = "operator";
  int admin_ttl_minutes = 60;
  KekFlags admin_kek;
  CLI::App* admin_cmd =
      app.add_subcommand("admin-token", "Create a join token for an admin (offline)");
  admin_cmd->add_option("--state-dir", state_dir, "CA state directory")->required();
  admin_kek.Add(admin_cmd);
  admin_cmd->add_option("--name", admin_name, "Admin name")->required();
  admin_cmd->add_option("--role", admin_role, "operator or auditor")->capture_default_str();
  admin_cmd->add_option("--ttl-minutes", admin_ttl_minutes, "Token lifetime")
      ->capture_default_str();

  std::string public_key;
  CLI::App* audit_cmd = app.add_subcommand("audit", "Audit log tools");
  audit_cmd->require_subcommand(1);
  CLI::App* verify_cmd = audit_cmd->add_subcommand("verify", "Verify the audit log offline");
  verify_cmd->add_option("--state-dir", state_dir, "CA state directory")->required();
  verify_cmd->add_option("--public-key", public_key,
                         "Audit public key file (hex); default <state-dir>/audit-public-key. Pin "
                         "a copy kept elsewhere to detect a replaced key");
  std::string verify_checkpoint;
  verify_cmd->add_option("--checkpoint", verify_checkpoint,
                         "A saved audit checkpoint (JSON); also prove the log still holds the "
                         "history it commits to");

  CLI11_PARSE(app, argc, argv);
  if (absl::Status s = meshtrust::ConfigureLogging("meshtrust-ca", log_format, log_level);
      !s.ok()) {
    std::fprintf(stderr, "meshtrust-ca: %s\n", std::string(s.message()).c_str());
    return 2;
  }

  if (init_cmd->parsed()) return RunInit(init, init_kek, root_alg, root_ttl_days, server_names);
  if (serve_cmd->parsed()) return RunServe(state_dir, serve_kek, serve);
  if (admin_cmd->parsed()) {
    return RunAdminToken(state_dir, admin_kek, admin_name, admin_role, admin_ttl_minutes);
  }
  if (verify_cmd->parsed()) return RunAuditVerify(state_dir, public_key, verify_checkpoint);
  return 2;
}
