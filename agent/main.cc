// meshtrust-agent: runs in each cluster; keeps Istio's `cacerts` holding an
// intermediate CA whose key never left the cluster.
//
//   meshtrust-agent once --ca HOST:PORT --cluster NAME [--pin sha256:... --token-file F]
//                        [--sink kubernetes|file] ...
#include <openssl/crypto.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/file_sink.h"
#include "agent/grpc_ca_connection.h"
#include "agent/identity_store.h"
#include "agent/installer.h"
#include "agent/kube_client.h"
#include "agent/kubernetes_sink.h"
#include "base/files.h"
#include "base/logging.h"
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
  int timeout_seconds = 15;
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
  absl::StatusOr<client::Identity> id = client::Enroll(f.ca_address, f.pin, token, *alg, timeout);
  if (!id.ok()) return id.status();
  if (id->identity != expected) {
    return absl::FailedPreconditionError(absl::StrCat("the join token enrolled ", id->identity,
                                                      ", not ", expected,
                                                      "; it belongs to another cluster"));
  }
  if (absl::Status s = store->Save(*id); !s.ok()) return s;
  spdlog::info("enrolled as {}; identity stored in {}", id->identity, store->Describe());
  return id;
}

int RunOnce(const Flags& f) {
  std::chrono::seconds timeout(f.timeout_seconds);
  absl::StatusOr<pki::KeyAlgorithm> alg = pki::ParseKeyAlgorithm(f.key_algorithm);
  if (!alg.ok()) return Fail("bad --key-algorithm", alg.status());

  std::unique_ptr<KubeClient> kube;
  std::unique_ptr<SecretSink> sink;
  std::unique_ptr<IdentityStore> identity_store;
  if (f.sink == "kubernetes" || (f.sink == "file" && f.identity_dir.empty())) {
    absl::StatusOr<KubeConfig> config =
        f.kubeconfig.empty() ? InClusterConfig() : LoadKubeconfig(f.kubeconfig);
    if (!config.ok()) return Fail("Kubernetes configuration", config.status());
    absl::StatusOr<std::unique_ptr<KubeClient>> client =
        KubeClient::Create(*std::move(config), timeout);
    if (!client.ok()) return Fail("Kubernetes client", client.status());
    kube = *std::move(client);
  }
  if (f.sink == "kubernetes") {
    sink = std::make_unique<KubernetesSink>(kube.get(), f.istio_namespace, f.secret_name);
  } else {
    if (f.dir.empty())
      return Fail("file sink", absl::InvalidArgumentError("--dir is required with --sink file"));
    sink = std::make_unique<FileSink>(f.dir);
  }
  if (!f.identity_dir.empty()) {
    identity_store = std::make_unique<FileIdentityStore>(f.identity_dir);
  } else {
    identity_store = std::make_unique<KubernetesIdentityStore>(kube.get(), f.identity_namespace,
                                                               f.identity_secret);
  }

  absl::StatusOr<client::Identity> identity = ObtainIdentity(f, identity_store.get(), timeout);
  if (!identity.ok()) return Fail("identity", identity.status());
  GrpcCaConnection ca(client::CreateChannel(f.ca_address, identity->control_ca_pem, &*identity),
                      timeout);

  // Renew the identity once two thirds of its life are gone.
  absl::StatusOr<ossl::UniquePtr<X509>> id_cert =
      pki::ParseCertificatePem(identity->certificate_pem);
  if (id_cert.ok()) {
    auto nb = pki::NotBefore(id_cert->get()), na = pki::NotAfter(id_cert->get());
    if (std::chrono::system_clock::now() >= nb + (na - nb) * 2 / 3) {
      absl::StatusOr<client::Identity> renewed =
          ca.RenewIdentity(*identity, pki::KeyAlgorithm::kEcdsaP256);
      if (!renewed.ok()) return Fail("renewing the agent identity", renewed.status());
      if (absl::Status s = identity_store->Save(*renewed); !s.ok())
        return Fail("storing the renewed identity", s);
      spdlog::info("renewed the agent identity");
    }
  }

  InstallerOptions options;
  options.cluster = f.cluster;
  options.key_algorithm = *alg;
  options.ttl = std::chrono::hours(f.ttl_hours);
  options.adopt = f.adopt;
  Installer installer(&ca, sink.get(), &SystemClock::Get(), options);
  absl::StatusOr<InstallResult> result = installer.EnsureInstalled();
  if (!result.ok())
    return Fail(absl::StrCat("installing into ", sink->Describe()), result.status());
  if (result->changed) {
    std::printf("installed intermediate %s for %s in %s (expires %s)\n", result->serial.c_str(),
                f.cluster.c_str(), sink->Describe().c_str(), Rfc3339(result->not_after).c_str());
  } else {
    std::printf("%s already holds a current intermediate (%s) for %s\n", sink->Describe().c_str(),
                result->serial.c_str(), f.cluster.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace meshtrust::agent

int main(int argc, char** argv) {
  using meshtrust::agent::Flags;
  meshtrust::EnsureSodiumInitialized();
  ::umask(077);
  ::signal(SIGPIPE, SIG_IGN);  // A peer closing early is an error, not a crash.
  CRYPTO_secure_malloc_init(1 << 16, 32);
  spdlog::set_default_logger(spdlog::stderr_logger_mt("meshtrust-agent"));

  CLI::App app{"meshtrust-agent: keeps Istio's cacerts holding this cluster's intermediate CA"};
  app.require_subcommand(1);
  Flags f;
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  CLI::App* once =
      app.add_subcommand("once", "Ensure a valid intermediate is installed, then exit (Job mode)");
  for (CLI::App* cmd : {once}) {
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
  spdlog::set_level(spdlog::level::from_str(log_level));
  if (once->parsed()) return meshtrust::agent::RunOnce(f);
  return 2;
}
