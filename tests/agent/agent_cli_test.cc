// meshtrust-agent as operators run it: the real binary against the real CA
// and the Kubernetes API emulator.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <random>
#include <set>
#include <thread>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/files.h"
#include "base/version.h"
#include "nlohmann/json.hpp"
#include "pki/certificate.h"
#include "pki/chain.h"
#include "pki/key.h"
#include "tests/kube_emulator/kube_emulator.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::agent {
namespace {

using ::meshtrust::testing::CommandResult;
using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::RunCommand;
using ::testing::HasSubstr;
using ::testing::Not;

class AgentCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = testing::TestCa::Create();
    auto e = testing::KubeEmulator::Start();
    ASSERT_THAT(e, IsOk());
    kube_ = *std::move(e);
    kube_->AddToken("admin", {"admin", {testing::KubeRule{}}});
    ASSERT_THAT(kube_->WriteKubeconfig(dir_.Sub("kubeconfig"), "admin"), IsOk());
  }
  std::string TokenFile(const std::string& cluster) {
    std::string path = dir_.Sub(cluster + ".token");
    EXPECT_THAT(WriteFileAtomically(path, ca_->AddCluster(cluster) + "\n", 0600), IsOk());
    return path;
  }
  CommandResult Agent(const std::string& args) {
    return RunCommand(
        absl::StrCat(MESHTRUST_AGENT_BINARY, " once --ca ", ca_->address(), " ", args));
  }
  int Enrollments(const std::string& cluster) {
    int n = 0;
    // Held in a local: a range-for over *temporary would dangle.
    auto records = ca_->store()->ReadAudit(0, 10000);
    EXPECT_THAT(records, IsOk());
    for (const auto& r : *records) {
      if (r.event.action == "Enroll" && r.event.result == "ok" &&
          r.event.target == "spiffe://meshtrust/cluster/" + cluster) {
        ++n;
      }
    }
    return n;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::TestCa> ca_;
  std::unique_ptr<testing::KubeEmulator> kube_;
};

TEST_F(AgentCliTest, EnrollsOnceAndRestartsWithoutReenrolling) {
  std::string kube = " --kubeconfig " + dir_.Sub("kubeconfig");
  auto first = Agent("--cluster cluster1 --pin " + ca_->pin() + " --root-fingerprint " +
                     ca_->root_fingerprint() + " --token-file " + TokenFile("cluster1") + kube);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_THAT(first.output, HasSubstr("installed intermediate"));
  EXPECT_TRUE(kube_->Get("secrets", "meshtrust-system", "meshtrust-agent-identity").has_value());

  // Restarts: no token needed, no new enrollment.
  for (int i = 0; i < 2; ++i) {
    auto again = Agent("--cluster cluster1" + kube);
    ASSERT_EQ(again.exit_code, 0) << again.output;
    EXPECT_THAT(again.output, HasSubstr("already holds a current intermediate"));
  }
  EXPECT_EQ(Enrollments("cluster1"), 1);
  auto cluster = *ca_->store()->GetCluster("cluster1");
  EXPECT_FALSE(cluster.acked_serial.empty());

  // A Job-mode rotation: a new key and intermediate although the old is current.
  auto rekeyed = Agent("--cluster cluster1 --rekey" + kube);
  ASSERT_EQ(rekeyed.exit_code, 0) << rekeyed.output;
  EXPECT_THAT(rekeyed.output, HasSubstr("installed intermediate"));
  EXPECT_NE(ca_->store()->GetCluster("cluster1")->acked_serial, cluster.acked_serial);
}

// A first run that cannot write must fail before it enrolls: the join token
// is single-use, and the next run (once the cluster is fixed) needs it.
TEST_F(AgentCliTest, AMissingIstioNamespaceFailsBeforeEnrollingAndKeepsTheToken) {
  kube_->DeleteNamespace("istio-system");
  std::string args = "--cluster cluster1 --pin " + ca_->pin() + " --root-fingerprint " +
                     ca_->root_fingerprint() + " --token-file " + TokenFile("cluster1") +
                     " --kubeconfig " + dir_.Sub("kubeconfig");
  auto first = Agent(args);
  EXPECT_EQ(first.exit_code, 1) << first.output;
  EXPECT_THAT(first.output,
              HasSubstr("not enrolling (the join token was not used): namespace istio-system "
                        "does not exist, so Secret istio-system/cacerts cannot be written: create "
                        "it (kubectl create namespace istio-system)"));
  EXPECT_EQ(Enrollments("cluster1"), 0);
  EXPECT_FALSE(kube_->Get("secrets", "meshtrust-system", "meshtrust-agent-identity").has_value());

  // The operator does what the message says, with the real kubectl.
  auto created = RunCommand("kubectl --kubeconfig " + dir_.Sub("kubeconfig") +
                            " create namespace istio-system");
  ASSERT_EQ(created.exit_code, 0) << created.output;
  auto second = Agent(args);  // The same token file.
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_THAT(second.output, HasSubstr("installed intermediate"));
  EXPECT_EQ(Enrollments("cluster1"), 1);
}

TEST_F(AgentCliTest, AForbiddenIdentitySecretFailsBeforeEnrollingAndKeepsTheToken) {
  // deploy/agent/rbac, less the create on the agent's own namespace.
  std::vector<testing::KubeRule> rules = {
      {"get,update", "secrets", "istio-system", "cacerts"},
      {"create", "secrets", "istio-system", "*"},
      {"get,update", "secrets", "meshtrust-system", "meshtrust-agent-identity"}};
  kube_->AddToken("agent", {"system:serviceaccount:meshtrust-system:meshtrust-agent", rules});
  ASSERT_THAT(kube_->WriteKubeconfig(dir_.Sub("agent.kubeconfig"), "agent"), IsOk());
  std::string args = "--cluster cluster1 --pin " + ca_->pin() + " --root-fingerprint " +
                     ca_->root_fingerprint() + " --token-file " + TokenFile("cluster1") +
                     " --kubeconfig " + dir_.Sub("agent.kubeconfig");
  auto first = Agent(args);
  EXPECT_EQ(first.exit_code, 1) << first.output;
  EXPECT_THAT(first.output,
              HasSubstr("not enrolling (the join token was not used): RBAC does not let the "
                        "agent create secrets in namespace meshtrust-system"));
  EXPECT_THAT(first.output, HasSubstr("grant the agent's service account the verb \"create\" on "
                                      "resource \"secrets\" in namespace meshtrust-system in a "
                                      "rule without resourceNames"));
  EXPECT_EQ(Enrollments("cluster1"), 0);

  rules.push_back({"create", "secrets", "meshtrust-system", "*"});
  kube_->AddToken("agent", {"system:serviceaccount:meshtrust-system:meshtrust-agent", rules});
  auto second = Agent(args);
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_EQ(Enrollments("cluster1"), 1);
}

// Each call answers within --timeout, but slowly: the run as a whole is
// held to --deadline, and says so.
TEST_F(AgentCliTest, ARunThatOutlivesItsDeadlineGivesUpAndSaysSo) {
  kube_->SetFault([](const HttpRequest&) -> std::optional<HttpResponse> {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    return std::nullopt;
  });
  auto slow = Agent("--cluster cluster1 --pin " + ca_->pin() + " --root-fingerprint " +
                    ca_->root_fingerprint() + " --token-file " + TokenFile("cluster1") +
                    " --kubeconfig " + dir_.Sub("kubeconfig") + " --timeout 10 --deadline 3");
  kube_->SetFault(nullptr);
  EXPECT_EQ(slow.exit_code, 1) << slow.output;
  EXPECT_THAT(slow.output, HasSubstr("meshtrust-agent once did not finish within its deadline "
                                     "(--deadline 3 s); giving up"));
  EXPECT_EQ(Enrollments("cluster1"), 0);
}

// The API server learns who writes: every write names meshtrust-agent as
// its field manager, and every request carries meshtrust-agent/<version>.
TEST_F(AgentCliTest, NamesItselfToTheApiServer) {
  std::vector<std::string> seen;
  absl::Mutex mu;
  kube_->SetFault([&](const HttpRequest& r) -> std::optional<HttpResponse> {
    absl::MutexLock lock(&mu);
    seen.push_back(
        absl::StrCat(r.method, " ", r.path, "?", r.query, " UA=", r.Header("user-agent")));
    return std::nullopt;
  });
  kube_->Put("deployments", "istio-system", nlohmann::json::parse(R"({
      "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "istiod"},
      "spec": {"template": {"metadata": {"annotations": {}}}}})"));
  auto r = Agent("--cluster cluster1 --pin " + ca_->pin() + " --root-fingerprint " +
                 ca_->root_fingerprint() + " --token-file " + TokenFile("cluster1") +
                 " --restart-istiod --kubeconfig " + dir_.Sub("kubeconfig"));
  kube_->SetFault(nullptr);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  absl::MutexLock lock(&mu);
  int writes = 0;
  for (const std::string& request : seen) {
    EXPECT_THAT(request, HasSubstr(" UA=meshtrust-agent/" + std::string(kVersion)));
    bool write = !absl::StartsWith(request, "GET ");
    if (write && !absl::StrContains(request, "selfsubjectaccessreviews")) {
      ++writes;
      EXPECT_THAT(request, HasSubstr("fieldManager=meshtrust-agent"));
    }
  }
  EXPECT_GE(writes, 3);  // The identity Secret, cacerts, istiod.
  for (auto [resource, ns, name] :
       {std::tuple{"secrets", "istio-system", "cacerts"},
        std::tuple{"secrets", "meshtrust-system", "meshtrust-agent-identity"},
        std::tuple{"deployments", "istio-system", "istiod"}}) {
    auto object = kube_->Get(resource, ns, name);
    ASSERT_TRUE(object.has_value()) << name;
    bool named = false;
    for (const auto& m : (*object)["metadata"]["managedFields"])
      named |= m.value("manager", "") == "meshtrust-agent";
    EXPECT_TRUE(named) << name << ": " << (*object)["metadata"].dump();
  }
}

TEST_F(AgentCliTest, FileSinkAndFileIdentity) {
  std::string args = absl::StrCat("--cluster c2 --pin ", ca_->pin(), " --root-fingerprint ",
                                  ca_->root_fingerprint(), " --token-file ", TokenFile("c2"),
                                  " --sink file --dir ", dir_.Sub("cacerts"), " --identity-dir ",
                                  dir_.Sub("identity"), " --key-algorithm rsa-3072");
  auto r = Agent(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  struct stat st;
  ASSERT_EQ(::stat(dir_.Sub("identity/identity.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto key = ReadFile(dir_.Sub("cacerts/ca-key.pem"));
  ASSERT_THAT(key, IsOk());
  EXPECT_THAT(*key, ::testing::StartsWith("-----BEGIN PRIVATE KEY-----"));
  auto again = Agent(absl::StrCat("--cluster c2 --sink file --dir ", dir_.Sub("cacerts"),
                                  " --identity-dir ", dir_.Sub("identity")));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(Enrollments("c2"), 1);
}

// What a reader of the directory sees must be one whole set: the key is the
// certificate's, the chain starts with it and verifies to the bundle.
void ExpectWholeSet(const std::string& dir, std::set<std::string>* serials) {
  auto cert_pem = ReadFile(dir + "/ca-cert.pem");
  auto key_pem = ReadSecretFile(dir + "/ca-key.pem");
  auto chain_pem = ReadFile(dir + "/cert-chain.pem");
  auto roots_pem = ReadFile(dir + "/root-cert.pem");
  ASSERT_TRUE(cert_pem.ok() && key_pem.ok() && chain_pem.ok() && roots_pem.ok())
      << "a file of the set is missing";
  auto cert = pki::ParseCertificatePem(*cert_pem);
  auto key = pki::PrivateKeyFromPem(*key_pem);
  auto chain = pki::ParseCertificateChainPem(*chain_pem);
  auto roots = pki::ParseCertificateChainPem(*roots_pem);
  ASSERT_TRUE(cert.ok() && key.ok() && chain.ok() && roots.ok()) << "a file is torn";
  EXPECT_TRUE(pki::SamePublicKey(key->get(), pki::PublicKeyOf(cert->get())))
      << "ca-key.pem and ca-cert.pem are from different sets";
  EXPECT_EQ(pki::CertificateDer((*chain)[0].get()), pki::CertificateDer(cert->get()));
  std::vector<X509*> anchors;
  for (auto& r : *roots) anchors.push_back(r.get());
  EXPECT_THAT(pki::VerifyChain(cert->get(), {}, anchors, {}), IsOk());
  serials->insert(pki::SerialHex(cert->get()));
}

TEST_F(AgentCliTest, KillNineDuringAWriteLeavesTheOldSetOrTheNew) {
  std::string out = dir_.Sub("cacerts");
  std::vector<std::string> argv = {MESHTRUST_AGENT_BINARY,
                                   "once",
                                   "--ca",
                                   ca_->address(),
                                   "--cluster",
                                   "cluster1",
                                   "--sink",
                                   "file",
                                   "--dir",
                                   out,
                                   "--identity-dir",
                                   dir_.Sub("identity")};
  auto first =
      Agent(absl::StrCat("--cluster cluster1 --pin ", ca_->pin(), " --root-fingerprint ",
                         ca_->root_fingerprint(), " --token-file ", TokenFile("cluster1"),
                         " --sink file --dir ", out, " --identity-dir ", dir_.Sub("identity")));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  argv.push_back("--rekey");
  // Every run asks for an intermediate, far past the default issuance limit.
  ca::IssuanceLimit unlimited;
  unlimited.unlimited = true;
  ASSERT_THAT(ca_->authority()->SetIssuanceLimit(ca_->LocalOperator(), "cluster1", unlimited),
              IsOk());
  // Kill at random moments within one and a half times what a whole run
  // takes on this machine, so some runs die mid-way and some finish.
  auto started = std::chrono::steady_clock::now();
  testing::ChildProcess timed(argv, dir_.Sub("kill.log"));
  ASSERT_EQ(timed.Wait(), 0) << ReadFile(dir_.Sub("kill.log")).value_or("");
  auto run_us = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - started)
                    .count();
  std::set<std::string> serials;
  unsigned seed = std::random_device{}();
  std::mt19937 random(seed);
  SCOPED_TRACE(absl::StrCat("random seed ", seed));
  // Where a kill lands depends on how fast each run is, so the test does not
  // count on a share of them: it goes on (25 runs at least) until it has
  // seen a kill mid-run and a new set written, both events. The cap is a
  // safety net.
  constexpr int kMinRuns = 25, kMaxRuns = 500;
  int runs = 0, killed_running = 0;
  for (; runs < kMinRuns || ((killed_running == 0 || serials.size() < 2) && runs < kMaxRuns);
       ++runs) {
    testing::ChildProcess agent(argv, dir_.Sub("kill.log"));
    std::this_thread::sleep_for(std::chrono::microseconds(
        std::uniform_int_distribution<int64_t>(0, run_us * 3 / 2)(random)));
    int status = agent.Kill(SIGKILL);
    killed_running += WIFSIGNALED(status);
    ExpectWholeSet(out, &serials);
    if (HasFatalFailure()) return;
  }
  // Some kills landed mid-run and some runs wrote a new set: both the old
  // and new sets were seen, never a mix.
  EXPECT_GT(killed_running, 0) << "in " << runs << " runs, no kill landed before the run ended";
  EXPECT_GT(serials.size(), 1u) << "in " << runs << " runs, none wrote a new set before its kill";
  auto last = Agent(absl::StrCat("--cluster cluster1 --sink file --dir ", out, " --identity-dir ",
                                 dir_.Sub("identity")));
  EXPECT_EQ(last.exit_code, 0) << last.output;
  ExpectWholeSet(out, &serials);
  std::printf("%d of %d agent runs killed mid-run; %zu distinct intermediates seen, all whole\n",
              killed_running, runs, serials.size());
}

TEST_F(AgentCliTest, ReadsItsFlagsFromAYamlConfigFile) {
  std::string config = dir_.Sub("agent.yaml");
  ASSERT_THAT(WriteFileAtomically(config,
                                  absl::StrCat("log-format: json\n"
                                               "once:\n"
                                               "  ca: ",
                                               ca_->address(),
                                               "\n"
                                               "  cluster: c3\n"
                                               "  pin: ",
                                               ca_->pin(),
                                               "\n"
                                               "  root-fingerprint: [",
                                               ca_->root_fingerprint(),
                                               "]\n"
                                               "  token-file: ",
                                               TokenFile("c3"),
                                               "\n"
                                               "  sink: file\n"
                                               "  dir: ",
                                               dir_.Sub("c3"),
                                               "\n"
                                               "  identity-dir: ",
                                               dir_.Sub("c3-id"), "\n"),
                                  0600),
              IsOk());
  auto r = RunCommand(absl::StrCat(MESHTRUST_AGENT_BINARY, " --config ", config, " once"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("\"msg\":\"installed intermediate"));
  EXPECT_TRUE(PathExists(dir_.Sub("c3/ca-cert.pem")));

  // A typo is named, and nothing runs.
  ASSERT_THAT(WriteFileAtomically(config, "once:\n  clustr: c3\n", 0600), IsOk());
  auto typo = RunCommand(absl::StrCat(MESHTRUST_AGENT_BINARY, " --config ", config, " once"));
  EXPECT_NE(typo.exit_code, 0);
  EXPECT_THAT(typo.output, HasSubstr("unknown field \"once.clustr\""));
}

TEST_F(AgentCliTest, ExplainsWhyItStopped) {
  std::string kube = " --kubeconfig " + dir_.Sub("kubeconfig");
  // No identity, no token.
  auto no_token = Agent("--cluster cluster1" + kube);
  EXPECT_EQ(no_token.exit_code, 1);
  EXPECT_THAT(no_token.output, HasSubstr("no join token: give --token-file"));
  // A token that is not valid.
  ca_->AddCluster("cluster1");
  ASSERT_THAT(WriteFileAtomically(dir_.Sub("bad"),
                                  "mtj1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0600),
              IsOk());
  auto bad = Agent("--cluster cluster1 --pin " + ca_->pin() + " --root-fingerprint " +
                   ca_->root_fingerprint() + " --token-file " + dir_.Sub("bad") + kube);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.output, HasSubstr("enrollment refused: join token is not valid"));
  // Another cluster's token.
  auto other = Agent("--cluster cluster1 --pin " + ca_->pin() + " --root-fingerprint " +
                     ca_->root_fingerprint() + " --token-file " + TokenFile("cluster2") + kube);
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_THAT(other.output, HasSubstr("belongs to another cluster (the token was not used)"));
  auto rightful = Agent(
      absl::StrCat("--cluster cluster2 --pin ", ca_->pin(), " --root-fingerprint ",
                   ca_->root_fingerprint(), " --token-file ", dir_.Sub("cluster2.token"),
                   " --sink file --dir ", dir_.Sub("c2"), " --identity-dir ", dir_.Sub("c2-id")));
  EXPECT_EQ(rightful.exit_code, 0) << "the refused attempt spent cluster2's token\n"
                                   << rightful.output;
  // A foreign cacerts.
  kube_->Put("secrets", "istio-system",
             nlohmann::json::parse(
                 R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"cacerts"},"data":{}})"));
  auto token =
      ca_->authority()->CreateJoinToken(ca_->LocalOperator(), "cluster1", std::chrono::hours(1));
  ASSERT_THAT(token, IsOk());
  ASSERT_THAT(WriteFileAtomically(dir_.Sub("t1"), token->token, 0600), IsOk());
  auto foreign = Agent("--cluster cluster1 --pin " + ca_->pin() + " --root-fingerprint " +
                       ca_->root_fingerprint() + " --token-file " + dir_.Sub("t1") + kube);
  EXPECT_EQ(foreign.exit_code, 1);
  EXPECT_THAT(foreign.output,
              HasSubstr("was not written by meshtrust; leaving it untouched. Run with --adopt"));
  // Enrolled, but nothing installed and no root kept: the root must be named.
  auto unpinned = Agent("--cluster cluster1 --adopt" + kube);
  EXPECT_EQ(unpinned.exit_code, 1);
  EXPECT_THAT(unpinned.output, HasSubstr("no mesh root is pinned: give --root-fingerprint"));
  EXPECT_THAT(kube_->Get("secrets", "istio-system", "cacerts")->at("data"), ::testing::IsEmpty());
  auto adopted =
      Agent("--cluster cluster1 --adopt --root-fingerprint " + ca_->root_fingerprint() + kube);
  EXPECT_EQ(adopted.exit_code, 0) << adopted.output;
}

TEST_F(AgentCliTest, RestartsIstiodOnlyWhenItInstalledSomethingNew) {
  kube_->Put("deployments", "istio-system", nlohmann::json::parse(R"({
      "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "istiod"},
      "spec": {"template": {"metadata": {"annotations": {}}}}})"));
  auto restarted_at = [&] {
    auto d = kube_->Get("deployments", "istio-system", "istiod");
    return d->value(
        "/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt"_json_pointer,
        std::string());
  };
  std::string args = " --restart-istiod --kubeconfig " + dir_.Sub("kubeconfig");
  auto first = Agent("--cluster cluster1 --pin " + ca_->pin() + " --root-fingerprint " +
                     ca_->root_fingerprint() + " --token-file " + TokenFile("cluster1") + args);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  std::string stamp = restarted_at();
  EXPECT_FALSE(stamp.empty()) << "the first install did not restart istiod";
  kube_->Put("deployments", "istio-system", nlohmann::json::parse(R"({
      "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "istiod"},
      "spec": {"template": {"metadata": {"annotations": {}}}}})"));
  auto again = Agent("--cluster cluster1" + args);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(restarted_at(), "") << "istiod was restarted although nothing changed";
  // A missing Deployment is reported with what to fix.
  auto wrong = Agent("--cluster cluster1 --rekey --istiod-deployment nope" + args);
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_THAT(wrong.output, HasSubstr("restarting istiod"));
  EXPECT_THAT(wrong.output, HasSubstr("nope"));
}

// `meshtrust-agent run` in the background with a file sink in cacerts/.
class RunningAgentCliTest : public AgentCliTest {
 protected:
  void TearDown() override {
    if (pid_ > 0) {
      RunCommand(absl::StrCat("kill ", pid_));
      EXPECT_TRUE(WaitFor("the agent to exit on SIGTERM", [&] { return ::kill(pid_, 0) != 0; }));
    }
  }
  void StartAgent(const std::string& extra) {
    auto started = RunCommand(absl::StrCat(
        MESHTRUST_AGENT_BINARY, " run --ca ", ca_->address(), " --cluster cluster1 --pin ",
        ca_->pin(), " --root-fingerprint ", ca_->root_fingerprint(), " --token-file ",
        TokenFile("cluster1"), " --sink file --dir ", cacerts_, " --identity-dir ",
        dir_.Sub("identity"), " ", extra, " >", Log(), " 2>&1 & echo $!"));
    pid_ = std::atoi(started.output.c_str());
    ASSERT_GT(pid_, 0) << started.output;
    ASSERT_TRUE(WaitFor("the first install", [&] { return !Serial().empty(); }))
        << ReadFile(Log()).value_or("");
  }
  std::string Log() const { return dir_.Sub("run.log"); }
  std::string Serial() const {
    auto pem = ReadFile(cacerts_ + "/ca-cert.pem");
    auto cert = pem.ok() ? pki::ParseCertificatePem(*pem) : pem.status();
    return cert.ok() ? pki::SerialHex(cert->get()) : "";
  }
  // Waits for an event (a file, a log line, a counter). The bound is a
  // safety net against a hung agent, generous for a loaded sanitizer build;
  // nothing here depends on how fast the agent is.
  template <typename Pred>
  static ::testing::AssertionResult WaitFor(const std::string& what, Pred pred) {
    constexpr std::chrono::seconds kSafetyBound(120);
    for (auto end = std::chrono::steady_clock::now() + kSafetyBound;
         std::chrono::steady_clock::now() < end;) {
      if (pred()) return ::testing::AssertionSuccess();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (pred()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "waited " << kSafetyBound.count() << " s for " << what;
  }

  std::string cacerts_ = dir_.Sub("cacerts");
  int pid_ = 0;
};

TEST_F(RunningAgentCliTest, RenewsItsIdentityBeforeItExpires) {
  testing::TestCaOptions options;
  options.authority.identity_ttl = std::chrono::seconds(6);
  options.authority.backdate = std::chrono::seconds(0);
  ca_ = testing::TestCa::Create(options);
  auto renewals = [&] {
    int n = 0;
    auto records = ca_->store()->ReadAudit(0, 10000);
    for (const auto& r : records.value_or(std::vector<ca::AuditRecord>{}))
      n += r.event.action == "RenewIdentity" && r.event.result == "ok";
    return n;
  };
  StartAgent("--metrics-listen 127.0.0.1:0");
  // The first identity was issued before StartAgent returned, unbackdated.
  auto first_expired = std::chrono::system_clock::now() + std::chrono::seconds(6);
  // Wait (for events, not for a fixed time) until the agent has renewed its
  // identity twice and its first identity has expired.
  ASSERT_TRUE(WaitFor("two identity renewals and the first identity's expiry", [&] {
    return renewals() >= 2 && std::chrono::system_clock::now() > first_expired;
  })) << ReadFile(Log()).value_or("");
  // The CA records a renewal after the agent has closed the Watch stream of
  // the old identity; wait until the stream of the renewed one is open.
  std::string port;
  ASSERT_TRUE(WaitFor("the log line naming the metrics port", [&] {
    std::string log = ReadFile(Log()).value_or("");
    size_t at = log.find("/readyz on port ");
    if (at == std::string::npos) return false;
    port = log.substr(at + 16, log.find('\n', at) - at - 16);
    return true;
  }));
  ASSERT_TRUE(WaitFor("the renewed identity's Watch stream", [&] {
    return RunCommand(absl::StrCat("curl -s http://127.0.0.1:", port, "/metrics"))
               .output.find("meshtrust_agent_watch_connected 1") != std::string::npos;
  }));
  // The agent still reaches the CA: it re-keys when told to over a Watch
  // stream held with a renewed identity. With a 6 s identity the agent may
  // be between two streams right now (0 listening); the re-key stays
  // pending and reaches the next stream, so only the new intermediate counts.
  std::string before = Serial();
  ASSERT_THAT(ca_->authority()->RotateIntermediate(ca_->LocalOperator(), "cluster1"), IsOk());
  EXPECT_TRUE(WaitFor("a new intermediate after the rotation request", [&] {
    return Serial() != before;
  })) << ReadFile(Log()).value_or("");
  EXPECT_GE(renewals(), 2);
  EXPECT_THAT(ReadFile(Log()).value_or(""), HasSubstr("renewed the agent identity"));
}

TEST_F(RunningAgentCliTest, ServesMetricsAndReadiness) {
  StartAgent("--metrics-listen 127.0.0.1:0 --reconcile-seconds 1");
  std::string port;
  ASSERT_TRUE(WaitFor("the log line naming the metrics port", [&] {
    std::string log = ReadFile(Log()).value_or("");
    size_t at = log.find("/readyz on port ");
    if (at == std::string::npos) return false;
    port = log.substr(at + 16, log.find('\n', at) - at - 16);
    return true;
  }));
  auto get = [&](const std::string& path) {
    return RunCommand(
        absl::StrCat("curl -s -w ' HTTP %{http_code}' http://127.0.0.1:", port, path));
  };
  // The Watch stream may open before the first install has finished.
  ASSERT_TRUE(WaitFor("meshtrust_agent_watch_connected 1 after a first success", [&] {
    std::string text = get("/metrics").output;
    return text.find("meshtrust_agent_watch_connected 1") != std::string::npos &&
           text.find("meshtrust_agent_last_success_timestamp_seconds 0\n") == std::string::npos;
  }));
  std::string metrics = get("/metrics").output;
  EXPECT_THAT(metrics, HasSubstr("meshtrust_agent_info{cluster=\"cluster1\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("meshtrust_agent_errors_total 0\n"));
  EXPECT_THAT(metrics, HasSubstr("meshtrust_agent_consecutive_failures 0\n"));
  EXPECT_THAT(metrics, Not(HasSubstr("meshtrust_agent_last_success_timestamp_seconds 0\n")));
  EXPECT_THAT(get("/readyz").output, HasSubstr("ready\n HTTP 200"));
  EXPECT_THAT(get("/healthz").output, HasSubstr("HTTP 200"));

  // The CA goes away: errors are counted, the installed set stays ready.
  ca_->StopServer();
  ASSERT_TRUE(WaitFor("a counted error once the CA is away", [&] {
    return get("/metrics").output.find("meshtrust_agent_errors_total 0\n") == std::string::npos;
  }));
  EXPECT_THAT(get("/metrics").output, HasSubstr("meshtrust_agent_watch_connected 0\n"));
  EXPECT_THAT(get("/readyz").output, HasSubstr("HTTP 200"));
}

}  // namespace
}  // namespace meshtrust::agent
