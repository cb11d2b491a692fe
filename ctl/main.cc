// meshtrustctl: the operator's command line for a meshtrust CA.
#include <sodium.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "base/files.h"
#include "base/hex.h"
#include "ca/audit/audit_checkpoint.h"
#include "ca/audit/audit_verify.h"
#include "client/ca_client.h"
#include "ctl/mesh_status.h"
#include "ctl/output.h"
#include "meshtrust/v1/meshtrust.grpc.pb.h"
#include "pki/key.h"

namespace meshtrust::ctl {
namespace {

struct Globals {
  std::string config_dir;
  std::string ca_address;
  std::string output = "table";
  int timeout_seconds = 15;

  Format format() const {
    return output == "json" ? Format::kJson : output == "yaml" ? Format::kYaml : Format::kTable;
  }
  bool structured() const { return format() != Format::kTable; }
  std::string Render(const nlohmann::json& doc) const { return RenderDocument(doc, format()); }
  std::chrono::seconds timeout() const { return std::chrono::seconds(timeout_seconds); }
  std::string Path(absl::string_view name) const { return absl::StrCat(config_dir, "/", name); }
};

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "meshtrustctl: %s\n", std::string(status.message()).c_str());
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return 2;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return 3;
    default:
      return 1;
  }
}

std::string DefaultConfigDir() {
  if (const char* dir = std::getenv("MESHTRUSTCTL_CONFIG_DIR")) return dir;
  const char* home = std::getenv("HOME");
  return absl::StrCat(home != nullptr ? home : ".", "/.config/meshtrust");
}

std::string FormatTime(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0) return "-";
  std::time_t s = static_cast<std::time_t>(t.seconds());
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Beside the credentials: the CA's audit public key (hex), pinned at login,
// and the highest audit checkpoint seen (JSON).
constexpr char kAuditKeyFile[] = "audit-public-key";
constexpr char kCheckpointFile[] = "audit-checkpoint.json";

// The operator's stored credentials, written by `login`.
absl::StatusOr<client::Identity> LoadIdentity(Globals& g) {
  client::Identity id;
  absl::StatusOr<std::string> ca = ReadFile(g.Path("control-ca.pem"));
  absl::StatusOr<std::string> cert = ReadFile(g.Path("client.crt"));
  if (!ca.ok() || !cert.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no credentials in ", g.config_dir,
                     "; run `meshtrustctl login --ca HOST:PORT --pin ... "
                     "--token ...` first"));
  }
  absl::StatusOr<SecretBytes> key = ReadPrivateSecretFile(g.Path("client.key"));
  if (!key.ok()) return key.status();
  if (g.ca_address.empty()) {
    absl::StatusOr<std::string> address = ReadFile(g.Path("ca-address"));
    if (!address.ok()) return absl::FailedPreconditionError("no CA address: give --ca HOST:PORT");
    g.ca_address = std::string(absl::StripAsciiWhitespace(*address));
  }
  id.control_ca_pem = *std::move(ca);
  id.certificate_pem = *std::move(cert);
  id.key_pem = *std::move(key);
  // Credentials saved before the CA delivered its audit key have none.
  if (PathExists(g.Path(kAuditKeyFile))) {
    absl::StatusOr<std::string> hex = ReadFile(g.Path(kAuditKeyFile), 1024);
    if (!hex.ok()) return hex.status();
    absl::StatusOr<std::string> audit_key = HexDecode(absl::StripAsciiWhitespace(*hex));
    if (!audit_key.ok() || audit_key->size() != 32) {
      return absl::DataLossError(absl::StrCat(g.Path(kAuditKeyFile),
                                              " is not a 32-byte key in hex; run `meshtrustctl "
                                              "login` again"));
    }
    id.audit_public_key = *std::move(audit_key);
  }
  return id;
}

// Checks `checkpoint`, from the CA's answer to `call`, against the pinned
// audit key and the highest one kept in the config directory, and keeps it
// when higher. Credentials without the key verify nothing and say so.
absl::Status KeepCheckpoint(const Globals& g, const client::Identity& id,
                            const std::optional<ca::AuditCheckpoint>& checkpoint,
                            absl::string_view call) {
  if (id.audit_public_key.empty()) {
    std::fprintf(stderr,
                 "meshtrustctl: audit checkpoints are NOT verified: the credentials in %s predate "
                 "the CA's audit public key; run `meshtrustctl login` again to verify them\n",
                 g.config_dir.c_str());
    return absl::OkStatus();
  }
  if (!checkpoint.has_value()) {
    return absl::DataLossError(
        absl::StrCat("refusing the CA's answer to ", call, ": it carries no audit checkpoint"));
  }
  std::optional<ca::AuditCheckpoint> kept;
  std::string path = g.Path(kCheckpointFile);
  if (PathExists(path)) {
    absl::StatusOr<std::string> text = ReadFile(path, 4096);
    if (!text.ok()) return text.status();
    absl::StatusOr<ca::AuditCheckpoint> parsed = ca::ParseCheckpointJson(*text, path);
    if (!parsed.ok()) return parsed.status();
    kept = *std::move(parsed);
  }
  absl::StatusOr<ca::CheckpointLedger> ledger =
      ca::CheckpointLedger::Create(id.audit_public_key, std::move(kept));
  if (!ledger.ok()) {
    return absl::Status(ledger.status().code(),
                        absl::StrCat(path, ": ", ledger.status().message()));
  }
  absl::StatusOr<bool> raised = ledger->Accept(*checkpoint);
  if (!raised.ok()) {
    return absl::Status(raised.status().code(), absl::StrCat("refusing the CA's answer to ", call,
                                                             ": ", raised.status().message()));
  }
  if (!*raised) return absl::OkStatus();
  return WriteFileAtomically(path, ca::CheckpointJson(*checkpoint) + "\n", 0644);
}

// The audit log read through the Admin API, for verifying it here with the
// pinned key rather than trusting the CA's own verdict.
class AdminAuditReader final : public ca::AuditLogReader {
 public:
  AdminAuditReader(Globals* g, v1::Admin::Stub* stub) : g_(g), stub_(stub) {}
  absl::StatusOr<std::vector<ca::AuditRecord>> ReadAudit(uint64_t after_sequence,
                                                         int limit) override {
    v1::ListAuditRequest req;
    req.set_after_sequence(after_sequence);
    req.set_limit(limit);
    v1::ListAuditResponse resp;
    auto context = client::NewContext(g_->timeout());
    absl::Status s = client::FromGrpcStatus(stub_->ListAudit(context.get(), req, &resp));
    if (!s.ok()) return s;
    std::vector<ca::AuditRecord> out;
    for (const v1::AuditRecord& r : resp.records()) {
      ca::AuditRecord record;
      record.sequence = r.sequence();
      record.event.time = TimePoint(std::chrono::duration_cast<TimePoint::duration>(
          std::chrono::seconds(r.time().seconds()) + std::chrono::nanoseconds(r.time().nanos())));
      record.event.caller = r.caller();
      record.event.action = r.action();
      record.event.target = r.target();
      record.event.request_sha256 = r.request_sha256();
      record.event.result = r.result();
      record.event.serial = r.serial();
      record.hash = r.hash();
      record.signature = r.signature();
      out.push_back(std::move(record));
    }
    return out;
  }

 private:
  Globals* g_;
  v1::Admin::Stub* stub_;
};

std::unique_ptr<v1::Admin::Stub> StubFor(const Globals& g, const client::Identity& id) {
  return v1::Admin::NewStub(client::CreateChannel(g.ca_address, id.control_ca_pem, &id));
}

// One call on `stub` with the per-call deadline.
template <typename Call>
absl::Status CallOn(const Globals& g, v1::Admin::Stub* stub, Call call) {
  auto context = client::NewContext(g.timeout());
  return client::FromGrpcStatus(call(stub, context.get()));
}

template <typename Call>
absl::Status Invoke(Globals& g, Call call) {
  absl::StatusOr<client::Identity> id = LoadIdentity(g);
  if (!id.ok()) return id.status();
  return CallOn(g, StubFor(g, *id).get(), call);
}

nlohmann::json ClusterJson(const v1::Cluster& c) {
  nlohmann::json j;
  j["name"] = c.name();
  j["enabled"] = c.enabled();
  j["trust_domain"] = c.policy().trust_domain();
  j["allowed_key_algorithms"] = std::vector<std::string>(
      c.policy().allowed_key_algorithms().begin(), c.policy().allowed_key_algorithms().end());
  j["max_ttl_seconds"] = c.policy().max_ttl_seconds();
  j["name_constraints"] = c.policy().name_constraints();
  j["current_serial"] = c.current_serial();
  j["current_not_after"] = FormatTime(c.current_not_after());
  j["acked_serial"] = c.acked_serial();
  j["acked_not_after"] = FormatTime(c.acked_not_after());
  j["acked_bundle_sha256"] = c.acked_bundle_sha256();
  j["acked_at"] = FormatTime(c.acked_at());
  // Issued by the CA but not (yet) acknowledged installed by the agent.
  j["pending_serial"] = c.acked_serial() == c.current_serial() ? "" : c.current_serial();
  j["rotation_requested_at"] = FormatTime(c.rotation_requested_at());
  const v1::IssuanceLimit& l = c.policy().issuance();
  j["issuance_limit"] = {{"unlimited", l.unlimited()},
                         {"burst", l.burst()},
                         {"refill_every_seconds", l.refill_every_seconds()}};
  return j;
}

// The intermediate the CA issued that the agent has not acknowledged
// installing, or "-".
std::string PendingSerial(const v1::Cluster& c) {
  return c.current_serial().empty() || c.acked_serial() == c.current_serial() ? "-"
                                                                              : c.current_serial();
}

void PrintClusters(const Globals& g, const std::vector<v1::Cluster>& clusters) {
  if (g.structured()) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& c : clusters) arr.push_back(ClusterJson(c));
    std::fputs(g.Render(arr).c_str(), stdout);
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : clusters) {
    rows.push_back({c.name(), c.enabled() ? "yes" : "no", c.policy().trust_domain(),
                    c.acked_serial().empty() ? "-" : c.acked_serial(),
                    FormatTime(c.acked_not_after()), PendingSerial(c), FormatTime(c.acked_at())});
  }
  std::fputs(
      RenderTable(
          {"NAME", "ENABLED", "TRUST DOMAIN", "INSTALLED", "EXPIRES", "PENDING", "ACKED AT"}, rows)
          .c_str(),
      stdout);
}

void PrintToken(const Globals& g, const v1::JoinToken& t) {
  if (g.structured()) {
    std::fputs(
        g.Render(
             {{"cluster", t.cluster()}, {"token", t.token()}, {"expires", FormatTime(t.expires())}})
            .c_str(),
        stdout);
    return;
  }
  std::printf("join token for %s (single use, expires %s):\n%s\n", t.cluster().c_str(),
              FormatTime(t.expires()).c_str(), t.token().c_str());
}

// Prints the root rotation phase, the roots and what each cluster acknowledged.
void PrintRootRotation(const Globals& g, const v1::RootRotationStatus& r) {
  if (g.structured()) {
    nlohmann::json roots = nlohmann::json::array(), clusters = nlohmann::json::array();
    for (const auto& root : r.roots()) {
      roots.push_back(
          {{"key_id", root.key_id()}, {"status", root.status()}, {"sha256", root.sha256()}});
    }
    for (const auto& c : r.clusters()) {
      clusters.push_back({{"name", c.name()},
                          {"enabled", c.enabled()},
                          {"acked_bundle", c.acked_bundle()},
                          {"on_signing_root", c.on_signing_root()}});
    }
    std::fputs(g.Render({{"phase", r.phase()},
                         {"activated_at", FormatTime(r.activated_at())},
                         {"roots", roots},
                         {"clusters", clusters},
                         {"blocking", r.blocking()}})
                   .c_str(),
               stdout);
    return;
  }
  std::printf("root rotation phase: %s", r.phase().c_str());
  if (r.phase() == "activated") std::printf(" (since %s)", FormatTime(r.activated_at()).c_str());
  std::printf("\n\n");
  std::vector<std::vector<std::string>> rows;
  for (const auto& root : r.roots()) {
    rows.push_back({root.key_id(), root.status(), root.sha256().substr(0, 16)});
  }
  std::fputs(RenderTable({"ROOT", "STATUS", "SHA-256"}, rows).c_str(), stdout);
  std::printf("\n");
  rows.clear();
  for (const auto& c : r.clusters()) {
    rows.push_back({c.name(), c.enabled() ? "yes" : "no", c.acked_bundle() ? "yes" : "no",
                    c.on_signing_root() ? "yes" : "no"});
  }
  std::fputs(RenderTable({"CLUSTER", "ENABLED", "ACKED BUNDLE", "ON SIGNING ROOT"}, rows).c_str(),
             stdout);
  const char* next = r.phase() == "idle"        ? "begin"
                     : r.phase() == "begun"     ? "activate"
                     : r.phase() == "activated" ? "finish"
                                                : "";
  if (!r.blocking().empty()) {
    std::printf("\n%s would be refused now: %s\n", next, r.blocking().c_str());
  } else if (r.phase() != "idle") {
    std::printf("\nready: meshtrustctl root rotate %s\n", next);
  }
}

// One screen for the whole mesh; exit 1 when something needs attention.
int PrintMeshStatus(const Globals& g, const v1::MeshStatus& s) {
  std::vector<std::string> attention = NeedsAttention(s);
  int64_t now = s.now().seconds();
  if (g.structured()) {
    nlohmann::json clusters = nlohmann::json::array(), crls = nlohmann::json::array();
    for (const auto& c : s.clusters()) {
      nlohmann::json j = ClusterJson(c);
      j["bundle_in_sync"] = c.acked_bundle_sha256() == s.bundle_sha256();
      // Of the installed intermediate: the one the cluster's workloads use.
      j["expires_in_seconds"] = c.acked_serial().empty() ? 0 : c.acked_not_after().seconds() - now;
      clusters.push_back(j);
    }
    for (const auto& c : s.crls()) {
      crls.push_back({{"root", c.root_key_id()},
                      {"number", c.number()},
                      {"age_seconds", now - c.this_update().seconds()},
                      {"next_update", FormatTime(c.next_update())}});
    }
    std::fputs(g.Render({{"clusters", clusters},
                         {"root_rotation_phase", s.rotation().phase()},
                         {"root_rotation_blocking", s.rotation().blocking()},
                         {"crls", crls},
                         {"bundle_sha256", s.bundle_sha256()},
                         {"audit_head", s.audit_head()},
                         {"needs_attention", attention}})
                   .c_str(),
               stdout);
    return attention.empty() ? 0 : 1;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : s.clusters()) {
    bool in_sync = c.acked_bundle_sha256() == s.bundle_sha256();
    rows.push_back(
        {c.name(), c.enabled() ? "yes" : "no", c.acked_serial().empty() ? "-" : c.acked_serial(),
         c.acked_serial().empty() ? "-" : HumanDuration(c.acked_not_after().seconds() - now),
         PendingSerial(c),
         c.acked_at().seconds() == 0 ? "never"
                                     : HumanDuration(now - c.acked_at().seconds()) + " ago",
         c.acked_serial() == c.current_serial() && !c.current_serial().empty() ? "yes" : "no",
         in_sync ? "yes" : "no",
         c.rotation_requested_at().seconds() == 0
             ? "-"
             : "requested " + HumanDuration(now - c.rotation_requested_at().seconds()) + " ago"});
  }
  // INTERMEDIATE and EXPIRES IN are of the installed (acknowledged)
  // intermediate; PENDING is one issued but not acknowledged yet.
  std::fputs(RenderTable({"CLUSTER", "ENABLED", "INTERMEDIATE", "EXPIRES IN", "PENDING", "LAST ACK",
                          "INSTALLED", "BUNDLE IN SYNC", "ROTATION"},
                         rows)
                 .c_str(),
             stdout);
  std::printf("\nroot rotation: %s%s%s\n", s.rotation().phase().c_str(),
              s.rotation().blocking().empty() ? "" : " (waiting: ",
              s.rotation().blocking().empty() ? "" : (s.rotation().blocking() + ")").c_str());
  for (const auto& c : s.crls()) {
    std::printf("root CRL %s: number %llu, age %s, next update in %s\n", c.root_key_id().c_str(),
                static_cast<unsigned long long>(c.number()),
                HumanDuration(now - c.this_update().seconds()).c_str(),
                HumanDuration(c.next_update().seconds() - now).c_str());
  }
  std::printf("audit log head: record %llu\n", static_cast<unsigned long long>(s.audit_head()));
  if (attention.empty()) {
    std::printf("\nall enabled clusters are in sync\n");
    return 0;
  }
  std::printf("\nneeds attention:\n");
  for (const std::string& a : attention) std::printf("  - %s\n", a.c_str());
  return 1;
}

int Login(Globals& g, const std::string& pin, const std::string& token,
          const std::string& alg_name) {
  if (g.ca_address.empty()) return Fail(absl::InvalidArgumentError("--ca HOST:PORT is required"));
  absl::StatusOr<pki::KeyAlgorithm> alg = pki::ParseKeyAlgorithm(alg_name);
  if (!alg.ok()) return Fail(alg.status());
  absl::StatusOr<client::Identity> id = client::Enroll(g.ca_address, pin, token, *alg, g.timeout());
  if (!id.ok()) return Fail(id.status());
  if (!PathExists(g.config_dir)) {
    std::string parent = g.config_dir.substr(0, g.config_dir.rfind('/'));
    if (!parent.empty() && !PathExists(parent)) (void)MakeDirectory(parent, 0700);
    if (absl::Status s = MakeDirectory(g.config_dir, 0700); !s.ok()) return Fail(s);
  }
  // The key is written 0600, like an SSH or kubeconfig credential; it was
  // generated here and never left this machine.
  for (auto [name, data, mode] :
       {std::tuple{"client.key", id->key_pem.UnsafeSecretString(), 0600},
        std::tuple{"client.crt", absl::string_view(id->certificate_pem), 0644},
        std::tuple{"control-ca.pem", absl::string_view(id->control_ca_pem), 0644},
        std::tuple{"ca-address", absl::string_view(g.ca_address), 0644}}) {
    if (absl::Status s = WriteFileAtomically(g.Path(name), data, static_cast<mode_t>(mode));
        !s.ok()) {
      return Fail(s);
    }
  }
  if (id->audit_public_key.empty()) {
    std::fprintf(stderr,
                 "meshtrustctl: the CA delivered no audit public key; audit checkpoints will not "
                 "be verified\n");
  } else {
    if (absl::Status s = WriteFileAtomically(g.Path(kAuditKeyFile),
                                             HexEncode(id->audit_public_key) + "\n", 0644);
        !s.ok()) {
      return Fail(s);
    }
    // A checkpoint kept from another CA's log means nothing for this one.
    absl::StatusOr<std::string> kept = ReadFile(g.Path(kCheckpointFile), 4096);
    if (kept.ok()) {
      absl::StatusOr<ca::AuditCheckpoint> parsed =
          ca::ParseCheckpointJson(*kept, g.Path(kCheckpointFile));
      if (!parsed.ok() || !ca::VerifyAuditCheckpoint(id->audit_public_key, *parsed)) {
        std::fprintf(stderr, "meshtrustctl: %s is not this CA's; removed\n",
                     g.Path(kCheckpointFile).c_str());
        std::remove(g.Path(kCheckpointFile).c_str());
      }
    }
  }
  std::printf("logged in to %s as %s; credentials in %s\n", g.ca_address.c_str(),
              id->identity.c_str(), g.config_dir.c_str());
  return 0;
}

}  // namespace
}  // namespace meshtrust::ctl

int main(int argc, char** argv) {
  using namespace meshtrust::ctl;  // NOLINT(build/namespaces)
  using meshtrust::v1::Admin;
  namespace v1 = meshtrust::v1;
  meshtrust::EnsureSodiumInitialized();

  CLI::App app{"meshtrustctl: administer a meshtrust CA"};
  app.require_subcommand(1);
  app.fallthrough();  // Global options may follow the subcommand.
  Globals g;
  g.config_dir = DefaultConfigDir();
  app.add_option("--config-dir", g.config_dir,
                 "Where login stores credentials (env MESHTRUSTCTL_CONFIG_DIR)")
      ->capture_default_str();
  app.add_option("--ca", g.ca_address, "CA address host:port (default: the one from login)")
      ->envname("MESHTRUSTCTL_CA");
  app.add_option("-o,--output", g.output, "Output format: table, json or yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}))
      ->capture_default_str();
  app.add_option("--timeout", g.timeout_seconds, "Per-call deadline in seconds")
      ->capture_default_str();

  std::string pin, token, key_alg = "ecdsa-p256";
  CLI::App* login = app.add_subcommand("login", "Enroll as an admin with a one-time token");
  login->add_option("--pin", pin, "Control CA pin (sha256:...) printed by meshtrust-ca init")
      ->required();
  login->add_option("--token", token, "Admin join token")
      ->required()
      ->envname("MESHTRUSTCTL_TOKEN");
  login->add_option("--key-algorithm", key_alg, "Key for the admin identity")
      ->capture_default_str();

  CLI::App* cluster = app.add_subcommand("cluster", "Manage clusters");
  cluster->require_subcommand(1);
  std::string name, trust_domain = "cluster.local", allowed_keys;
  int64_t max_ttl_hours = 0, token_ttl_minutes = 60;
  bool name_constraints = false;
  CLI::App* add = cluster->add_subcommand("add", "Register a cluster and print its join token");
  add->add_option("name", name, "Cluster name")->required();
  add->add_option("--trust-domain", trust_domain, "Istio trust domain")->capture_default_str();
  add->add_option("--allowed-keys", allowed_keys,
                  "Comma-separated key algorithms (default: all of ecdsa-p256, ecdsa-p384, "
                  "rsa-2048, rsa-3072, rsa-4096)");
  add->add_option("--max-ttl-hours", max_ttl_hours, "Maximum intermediate lifetime (default 720)");
  add->add_flag("--name-constraints", name_constraints,
                "Constrain the intermediate's URI names to the trust domain");
  add->add_option("--token-ttl-minutes", token_ttl_minutes, "Join token lifetime")
      ->capture_default_str();
  CLI::App* list = cluster->add_subcommand("list", "List clusters");
  CLI::App* disable =
      cluster->add_subcommand("disable", "Disable a cluster: no more signing for it");
  disable->add_option("name", name, "Cluster name")->required();
  CLI::App* enable = cluster->add_subcommand("enable", "Enable a disabled cluster");
  enable->add_option("name", name, "Cluster name")->required();
  int limit_burst = 0;
  std::string limit_refill_every;
  bool limit_unlimited = false, limit_default = false;
  CLI::App* cluster_limit = cluster->add_subcommand(
      "limit",
      "Change how many intermediates (and, separately, identity renewals) a cluster may be "
      "issued: a burst, then one more every interval");
  cluster_limit->add_option("name", name, "Cluster name")->required();
  CLI::Option* burst_opt = cluster_limit->add_option(
      "--burst", limit_burst, "Certificates allowed at once (1-10000; default 10)");
  CLI::Option* refill_opt = cluster_limit->add_option(
      "--refill-every", limit_refill_every,
      "One more certificate allowed per this interval, e.g. 20m, 1h (1s to 720h; default 20m)");
  CLI::Option* unlimited_opt =
      cluster_limit->add_flag("--unlimited", limit_unlimited, "Lift the limit for this cluster");
  CLI::Option* default_opt = cluster_limit->add_flag(
      "--default", limit_default, "Back to the default (burst 10, then one every 20m)");
  unlimited_opt->excludes(burst_opt)->excludes(refill_opt)->excludes(default_opt);
  default_opt->excludes(burst_opt)->excludes(refill_opt);

  CLI::App* token_cmd = app.add_subcommand("token", "Join tokens");
  token_cmd->require_subcommand(1);
  CLI::App* token_create = token_cmd->add_subcommand("create", "Create a join token for a cluster");
  token_create->add_option("--cluster", name, "Cluster name")->required();
  token_create->add_option("--ttl-minutes", token_ttl_minutes, "Lifetime")->capture_default_str();

  CLI::App* certs = app.add_subcommand("certs", "Issued certificates");
  certs->require_subcommand(1);
  std::string kind;
  int limit = 100;
  CLI::App* certs_list = certs->add_subcommand("list", "List issued certificates, newest first");
  certs_list->add_option("--cluster", name, "Only this cluster (or admin)");
  certs_list->add_option("--kind", kind, "intermediate, agent-identity or admin-identity");
  certs_list->add_option("--limit", limit, "At most this many")->capture_default_str();

  CLI::App* rotate = app.add_subcommand("rotate", "Rotations");
  rotate->require_subcommand(1);
  CLI::App* rotate_intermediate = rotate->add_subcommand(
      "intermediate",
      "Ask a cluster's agent to re-key: now, or when it next connects (kept by the CA until "
      "the cluster installs a new intermediate); the old intermediate stays valid");
  rotate_intermediate->add_option("--cluster", name, "Cluster name")->required();

  CLI::App* status_cmd = app.add_subcommand(
      "status",
      "Every cluster, the root rotation and the CRLs on one screen; exits 1 when something "
      "needs attention");

  CLI::App* root = app.add_subcommand("root", "Mesh roots and their rotation");
  root->require_subcommand(1);
  CLI::App* root_status =
      root->add_subcommand("status", "Show the root rotation phase and each cluster's acks");
  CLI::App* root_rotate = root->add_subcommand(
      "rotate", "Rotate the mesh root in three phases: begin, activate, finish");
  root_rotate->require_subcommand(1);
  CLI::App* rotate_begin = root_rotate->add_subcommand(
      "begin", "Generate a new root and append it to the trust bundle (old root still signs)");
  bool force = false;
  CLI::App* rotate_activate = root_rotate->add_subcommand(
      "activate",
      "Make the new root sign; every agent re-keys onto it. Refused until every enabled cluster "
      "acknowledged the new bundle");
  rotate_activate->add_flag(
      "--force", force,
      "Activate although some clusters have not acknowledged the new bundle (audited); their "
      "workloads will refuse peers that re-keyed");
  CLI::App* rotate_finish = root_rotate->add_subcommand(
      "finish",
      "Retire the old root: the bundle becomes the new root only. Refused until every enabled "
      "cluster runs an intermediate from the new root and the soak time passed");
  CLI::App* rotate_status =
      root_rotate->add_subcommand("status", "The same as `meshtrustctl root status`");

  std::string revoke_cluster, revoke_serial, reason = "unspecified";
  CLI::App* revoke = app.add_subcommand(
      "revoke", "Revoke a cluster's intermediates (and disable it) or one certificate");
  revoke->add_option("--cluster", revoke_cluster, "Revoke every intermediate of this cluster");
  revoke->add_option("--serial", revoke_serial, "Revoke this one certificate (hex serial)");
  revoke
      ->add_option("--reason", reason,
                   "RFC 5280 reason: keyCompromise, cACompromise, affiliationChanged, "
                   "superseded, cessationOfOperation, privilegeWithdrawn, unspecified, or "
                   "certificateHold (the one revocation `revoke release` can undo)")
      ->capture_default_str();
  std::string release_serial;
  CLI::App* revoke_release = revoke->add_subcommand(
      "release",
      "Un-revoke a certificate on hold (revoked with --reason certificateHold); audited. Every "
      "root CRL is re-signed without it and pushed to the agents. Other revocations are final");
  revoke_release->add_option("serial", release_serial, "The certificate's hex serial")->required();

  CLI::App* audit = app.add_subcommand("audit", "The audit log");
  audit->require_subcommand(1);
  uint64_t after = 0;
  CLI::App* audit_list = audit->add_subcommand("list", "List audit records");
  audit_list->add_option("--after", after, "Only records after this sequence number");
  audit_list->add_option("--limit", limit, "At most this many")->capture_default_str();
  CLI::App* audit_verify = audit->add_subcommand("verify", "Verify the hash chain and signatures");
  std::string checkpoint_file;
  audit_verify->add_option(
      "--checkpoint", checkpoint_file,
      "A saved audit checkpoint (JSON, e.g. from `meshtrustctl audit checkpoint`): also prove, "
      "with the audit key pinned at login, that the log still holds the history it commits to");
  CLI::App* audit_checkpoint = audit->add_subcommand(
      "checkpoint", "Print the CA's current signed audit checkpoint as one line of JSON");

  CLI11_PARSE(app, argc, argv);

  absl::Status status;
  if (login->parsed()) return Login(g, pin, token, key_alg);

  if (add->parsed()) {
    v1::AddClusterRequest req;
    req.set_name(name);
    req.mutable_policy()->set_trust_domain(trust_domain);
    for (absl::string_view k : absl::StrSplit(allowed_keys, ',', absl::SkipEmpty())) {
      req.mutable_policy()->add_allowed_key_algorithms(std::string(k));
    }
    req.mutable_policy()->set_max_ttl_seconds(max_ttl_hours * 3600);
    req.mutable_policy()->set_name_constraints(name_constraints);
    req.set_token_ttl_seconds(token_ttl_minutes * 60);
    v1::AddClusterResponse resp;
    status = Invoke(
        g, [&](Admin::Stub* s, grpc::ClientContext* c) { return s->AddCluster(c, req, &resp); });
    if (!status.ok()) return Fail(status);
    if (g.structured()) {
      std::fputs(g.Render({{"cluster", ClusterJson(resp.cluster())},
                           {"token", resp.token().token()},
                           {"token_expires", FormatTime(resp.token().expires())}})
                     .c_str(),
                 stdout);
    } else {
      std::printf("cluster %s added (trust domain %s)\n", resp.cluster().name().c_str(),
                  resp.cluster().policy().trust_domain().c_str());
      PrintToken(g, resp.token());
    }
    return 0;
  }
  if (list->parsed()) {
    v1::ListClustersResponse resp;
    status = Invoke(g, [&](Admin::Stub* s, grpc::ClientContext* c) {
      return s->ListClusters(c, v1::ListClustersRequest(), &resp);
    });
    if (!status.ok()) return Fail(status);
    PrintClusters(g, {resp.clusters().begin(), resp.clusters().end()});
    return 0;
  }
  if (disable->parsed() || enable->parsed()) {
    v1::SetClusterEnabledRequest req;
    req.set_name(name);
    req.set_enabled(enable->parsed());
    v1::Cluster resp;
    status = Invoke(g, [&](Admin::Stub* s, grpc::ClientContext* c) {
      return s->SetClusterEnabled(c, req, &resp);
    });
    if (!status.ok()) return Fail(status);
    PrintClusters(g, {resp});
    return 0;
  }
  if (cluster_limit->parsed()) {
    v1::SetIssuanceLimitRequest req;
    req.set_name(name);
    if (!limit_unlimited && !limit_default && burst_opt->count() == 0 && refill_opt->count() == 0) {
      return Fail(absl::InvalidArgumentError(
          "give --burst and/or --refill-every (the other keeps its default), or --unlimited, or "
          "--default"));
    }
    if (burst_opt->count() > 0 && (limit_burst < 1 || limit_burst > 10000)) {
      return Fail(absl::InvalidArgumentError("--burst must be 1 to 10000"));
    }
    req.mutable_limit()->set_unlimited(limit_unlimited);
    if (burst_opt->count() > 0) req.mutable_limit()->set_burst(limit_burst);
    if (!limit_refill_every.empty()) {
      absl::Duration every;
      if (!absl::ParseDuration(limit_refill_every, &every) || every < absl::Seconds(1)) {
        return Fail(absl::InvalidArgumentError(absl::StrCat(
            "--refill-every \"", limit_refill_every, "\" is not a duration like 20m or 1h")));
      }
      req.mutable_limit()->set_refill_every_seconds(absl::ToInt64Seconds(every));
    }
    v1::Cluster resp;
    status = Invoke(g, [&](Admin::Stub* s, grpc::ClientContext* c) {
      return s->SetIssuanceLimit(c, req, &resp);
    });
    if (!status.ok()) return Fail(status);
    const v1::IssuanceLimit& l = resp.policy().issuance();
    if (g.structured()) {
      std::fputs(g.Render({{"cluster", resp.name()},
                           {"unlimited", l.unlimited()},
                           {"burst", l.burst()},
                           {"refill_every_seconds", l.refill_every_seconds()}})
                     .c_str(),
                 stdout);
    } else if (l.unlimited()) {
      std::printf("cluster %s: issuance is no longer limited\n", resp.name().c_str());
    } else {
      std::printf(
          "cluster %s: at most %d intermediates (and %d identity renewals) at once, then "
          "one more every %s\n",
          resp.name().c_str(), l.burst(), l.burst(),
          HumanDuration(l.refill_every_seconds()).c_str());
    }
    return 0;
  }
  if (token_create->parsed()) {
    v1::CreateJoinTokenRequest req;
    req.set_cluster(name);
    req.set_ttl_seconds(token_ttl_minutes * 60);
    v1::JoinToken resp;
    status = Invoke(g, [&](Admin::Stub* s, grpc::ClientContext* c) {
      return s->CreateJoinToken(c, req, &resp);
    });
    if (!status.ok()) return Fail(status);
    PrintToken(g, resp);
    return 0;
  }
  if (certs_list->parsed()) {
    v1::ListCertificatesRequest req;
    req.set_cluster(name);
    req.set_kind(kind);
    req.set_limit(limit);
    v1::ListCertificatesResponse resp;
    status = Invoke(g, [&](Admin::Stub* s, grpc::ClientContext* c) {
      return s->ListCertificates(c, req, &resp);
    });
    if (!status.ok()) return Fail(status);
    if (g.structured()) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& c : resp.certificates()) {
        arr.push_back({{"serial", c.serial()},
                       {"kind", c.kind()},
                       {"name", c.subject_name()},
                       {"subject", c.subject()},
                       {"not_before", FormatTime(c.not_before())},
                       {"not_after", FormatTime(c.not_after())},
                       {"revoked", c.revoked()},
                       {"certificate_pem", c.certificate_pem()}});
      }
      std::fputs(g.Render(arr).c_str(), stdout);
    } else {
      std::vector<std::vector<std::string>> rows;
      for (const auto& c : resp.certificates()) {
        rows.push_back({c.serial(), c.kind(), c.subject_name(), FormatTime(c.not_after()),
                        c.revoked() ? "yes" : "no"});
      }
      std::fputs(RenderTable({"SERIAL", "KIND", "NAME", "NOT AFTER", "REVOKED"}, rows).c_str(),
                 stdout);
    }
    return 0;
  }
  if (rotate_intermediate->parsed()) {
    v1::RotateIntermediateRequest req;
    req.set_cluster(name);
    v1::RotateIntermediateResponse resp;
    status = Invoke(g, [&](Admin::Stub* s, grpc::ClientContext* c) {
      return s->RotateIntermediate(c, req, &resp);
    });
    if (!status.ok()) return Fail(status);
    if (g.structured()) {
      std::fputs(g.Render({{"cluster", name}, {"agents_notified", resp.agents_notified()}}).c_str(),
                 stdout);
    } else if (resp.agents_notified() == 0) {
      std::printf("rotation requested; it will be delivered when the agent of %s connects\n",
                  name.c_str());
    } else {
      std::printf("rotation requested; asked %d agent(s) of %s to re-key now\n",
                  resp.agents_notified(), name.c_str());
    }
    // The request is kept by the CA either way.
    return 0;
  }
  if (status_cmd->parsed()) {
    v1::MeshStatus resp;
    status = Invoke(g, [&](Admin::Stub* s, grpc::ClientContext* c) {
      return s->GetMeshStatus(c, v1::GetMeshStatusRequest(), &resp);
    });
    if (!status.ok()) return Fail(status);
    return PrintMeshStatus(g, resp);
  }
  if (root_status->parsed() || root_rotate->parsed()) {
    v1::RootRotationRequest req;
    if (rotate_begin->parsed()) req.set_action(v1::RootRotationRequest::BEGIN);
    if (rotate_activate->parsed()) req.set_action(v1::RootRotationRequest::ACTIVATE);
    if (rotate_finish->parsed()) req.set_action(v1::RootRotationRequest::FINISH);
    (void)rotate_status;  // STATUS is the default action.
    req.set_force(force);
    v1::RootRotationStatus resp;
    status = Invoke(
        g, [&](Admin::Stub* s, grpc::ClientContext* c) { return s->RootRotation(c, req, &resp); });
    if (!status.ok()) return Fail(status);
    PrintRootRotation(g, resp);
    return 0;
  }
  if (revoke_release->parsed()) {
    v1::ReleaseHoldRequest req;
    req.set_serial(release_serial);
    v1::RevokeResponse resp;
    status = Invoke(
        g, [&](Admin::Stub* s, grpc::ClientContext* c) { return s->ReleaseHold(c, req, &resp); });
    if (!status.ok()) return Fail(status);
    if (g.structured()) {
      std::fputs(g.Render({{"released_serial", release_serial}, {"crl_number", resp.crl_number()}})
                     .c_str(),
                 stdout);
    } else {
      std::printf("released the hold on %s; CRL number %llu published without it\n",
                  release_serial.c_str(), static_cast<unsigned long long>(resp.crl_number()));
    }
    return 0;
  }
  if (revoke->parsed()) {
    if (revoke_cluster.empty() == revoke_serial.empty()) {
      return Fail(absl::InvalidArgumentError("give exactly one of --cluster or --serial"));
    }
    v1::RevokeRequest req;
    if (!revoke_cluster.empty()) req.set_cluster(revoke_cluster);
    if (!revoke_serial.empty()) req.set_serial(revoke_serial);
    req.set_reason(reason);
    v1::RevokeResponse resp;
    status =
        Invoke(g, [&](Admin::Stub* s, grpc::ClientContext* c) { return s->Revoke(c, req, &resp); });
    if (!status.ok()) return Fail(status);
    if (g.structured()) {
      std::fputs(
          g.Render({{"revoked_serials", std::vector<std::string>(resp.revoked_serials().begin(),
                                                                 resp.revoked_serials().end())},
                    {"crl_number", resp.crl_number()}})
              .c_str(),
          stdout);
    } else {
      std::printf("revoked %d certificate(s)%s; CRL number %llu published\n",
                  resp.revoked_serials_size(),
                  revoke_cluster.empty() ? "" : (" and disabled cluster " + revoke_cluster).c_str(),
                  static_cast<unsigned long long>(resp.crl_number()));
      for (const std::string& serial : resp.revoked_serials())
        std::printf("  %s\n", serial.c_str());
    }
    return 0;
  }
  if (audit_list->parsed()) {
    v1::ListAuditRequest req;
    req.set_after_sequence(after);
    req.set_limit(limit);
    v1::ListAuditResponse resp;
    status = Invoke(
        g, [&](Admin::Stub* s, grpc::ClientContext* c) { return s->ListAudit(c, req, &resp); });
    if (!status.ok()) return Fail(status);
    if (g.structured()) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& r : resp.records()) {
        arr.push_back({{"sequence", r.sequence()},
                       {"time", FormatTime(r.time())},
                       {"caller", r.caller()},
                       {"action", r.action()},
                       {"target", r.target()},
                       {"request_sha256", r.request_sha256()},
                       {"result", r.result()},
                       {"serial", r.serial()}});
      }
      std::fputs(g.Render(arr).c_str(), stdout);
    } else {
      std::vector<std::vector<std::string>> rows;
      for (const auto& r : resp.records()) {
        rows.push_back({std::to_string(r.sequence()), FormatTime(r.time()), r.caller(), r.action(),
                        r.target(), r.serial().empty() ? "-" : r.serial(), r.result()});
      }
      std::fputs(
          RenderTable({"SEQ", "TIME", "CALLER", "ACTION", "TARGET", "SERIAL", "RESULT"}, rows)
              .c_str(),
          stdout);
    }
    return 0;
  }
  if (audit_checkpoint->parsed()) {
    absl::StatusOr<meshtrust::client::Identity> id = LoadIdentity(g);
    if (!id.ok()) return Fail(id.status());
    v1::AuditCheckpoint resp;
    status = CallOn(g, StubFor(g, *id).get(), [&](Admin::Stub* s, grpc::ClientContext* c) {
      return s->GetAuditCheckpoint(c, v1::GetAuditCheckpointRequest(), &resp);
    });
    if (!status.ok()) return Fail(status);
    meshtrust::ca::AuditCheckpoint checkpoint{resp.sequence(), resp.head_hash(), resp.signature()};
    if (absl::Status s = KeepCheckpoint(g, *id, checkpoint, "GetAuditCheckpoint"); !s.ok()) {
      return Fail(s);
    }
    std::printf("%s\n", meshtrust::ca::CheckpointJson(checkpoint).c_str());
    return 0;
  }
  if (audit_verify->parsed()) {
    absl::StatusOr<meshtrust::client::Identity> id = LoadIdentity(g);
    if (!id.ok()) return Fail(id.status());
    // The file is read and checked before anything is asked of the CA.
    std::optional<meshtrust::ca::AuditCheckpoint> saved;
    if (!checkpoint_file.empty()) {
      if (id->audit_public_key.empty()) {
        return Fail(absl::FailedPreconditionError(
            absl::StrCat("--checkpoint needs the CA's audit public key, which the credentials in ",
                         g.config_dir, " predate; run `meshtrustctl login` again")));
      }
      absl::StatusOr<std::string> text = meshtrust::ReadFile(checkpoint_file, 4096);
      if (!text.ok()) return Fail(text.status());
      absl::StatusOr<meshtrust::ca::AuditCheckpoint> parsed =
          meshtrust::ca::ParseCheckpointJson(*text, checkpoint_file);
      if (!parsed.ok()) return Fail(parsed.status());
      if (absl::Status s = meshtrust::ca::CheckCheckpointSignature(id->audit_public_key, *parsed);
          !s.ok()) {
        return Fail(absl::Status(s.code(), absl::StrCat(checkpoint_file, ": ", s.message())));
      }
      saved = *std::move(parsed);
    }
    std::unique_ptr<Admin::Stub> stub = StubFor(g, *id);
    v1::VerifyAuditResponse resp;
    status = CallOn(g, stub.get(), [&](Admin::Stub* s, grpc::ClientContext* c) {
      return s->VerifyAudit(c, v1::VerifyAuditRequest(), &resp);
    });
    if (!status.ok()) return Fail(status);
    // Reported after the verdicts below, which it does not change.
    absl::Status kept =
        KeepCheckpoint(g, *id, meshtrust::client::CheckpointFrom(resp), "VerifyAudit");
    if (saved.has_value()) {
      AdminAuditReader reader(&g, stub.get());
      // The CA's signed head bounds the walk: every page read is recorded,
      // so a shortened log would regrow under it.
      std::optional<uint64_t> log_end;
      std::optional<meshtrust::ca::AuditCheckpoint> head = meshtrust::client::CheckpointFrom(resp);
      if (head.has_value() && meshtrust::ca::VerifyAuditCheckpoint(id->audit_public_key, *head)) {
        log_end = head->sequence;
      }
      absl::Status held =
          meshtrust::ca::CheckLogHoldsCheckpoint(&reader, id->audit_public_key, *saved, log_end);
      if (!held.ok() && !absl::IsDataLoss(held)) return Fail(held);
      if (g.structured()) {
        std::fputs(g.Render({{"ok", resp.ok() && held.ok()},
                             {"records_checked", resp.records_checked()},
                             {"first_bad_sequence", resp.first_bad_sequence()},
                             {"problem", resp.problem()},
                             {"checkpoint_sequence", saved->sequence},
                             {"checkpoint_held", held.ok()},
                             {"checkpoint_problem", std::string(held.message())}})
                       .c_str(),
                   stdout);
        return !kept.ok() ? Fail(kept) : resp.ok() && held.ok() ? 0 : 1;
      }
      if (held.ok()) {
        std::printf("audit log holds checkpoint %llu (%s)\n",
                    static_cast<unsigned long long>(saved->sequence), checkpoint_file.c_str());
      } else {
        std::printf("audit log does NOT hold checkpoint %llu: %s\n",
                    static_cast<unsigned long long>(saved->sequence),
                    std::string(held.message()).c_str());
      }
      if (!held.ok()) resp.set_ok(false);
    }
    if (g.structured()) {
      std::fputs(g.Render({{"ok", resp.ok()},
                           {"records_checked", resp.records_checked()},
                           {"first_bad_sequence", resp.first_bad_sequence()},
                           {"problem", resp.problem()}})
                     .c_str(),
                 stdout);
    } else if (resp.ok()) {
      std::printf("audit log OK: %llu records verified\n",
                  static_cast<unsigned long long>(resp.records_checked()));
    } else {
      if (!resp.problem().empty()) {
        std::printf("audit log BROKEN at record %llu: %s\n",
                    static_cast<unsigned long long>(resp.first_bad_sequence()),
                    resp.problem().c_str());
      }
    }
    if (!kept.ok()) return Fail(kept);
    return resp.ok() ? 0 : 1;
  }
  return 2;
}
