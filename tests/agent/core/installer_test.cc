// The agent's installation logic against the real CA (gRPC, mTLS) and the
// Kubernetes API emulator.
#include "agent/core/installer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "agent/files/file_sink.h"
#include "agent/grpc/grpc_ca_connection.h"
#include "agent/kube/kubernetes_sink.h"
#include "pki/certificate.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/pem.h"
#include "tests/kube_emulator/kube_emulator.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::agent {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::KubeEmulator;
using ::meshtrust::testing::KubeRule;
using ::meshtrust::testing::StatusIs;
using ::testing::HasSubstr;
using json = nlohmann::json;

// Records every message the agent serialises towards the CA.
class WireRecorder {
 public:
  void Add(std::string bytes) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    messages_.push_back(std::move(bytes));
  }
  std::vector<std::string> messages() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return messages_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> messages_ ABSL_GUARDED_BY(mu_);
};

class RecordingInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit RecordingInterceptor(WireRecorder* recorder) : recorder_(recorder) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      if (grpc::ByteBuffer* buffer = methods->GetSerializedSendMessage()) {
        std::vector<grpc::Slice> slices;
        if (buffer->Dump(&slices).ok()) {
          std::string bytes;
          for (const auto& s : slices)
            bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
          recorder_->Add(std::move(bytes));
        }
      }
    }
    methods->Proceed();
  }

 private:
  WireRecorder* recorder_;
};

class RecordingFactory : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit RecordingFactory(WireRecorder* recorder) : recorder_(recorder) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new RecordingInterceptor(recorder_);  // gRPC takes ownership.
  }

 private:
  WireRecorder* recorder_;
};

// A CA connection that tampers with answers, as a compromised or buggy CA
// (or a man in the middle) would.
class TamperingConnection : public CaConnection {
 public:
  TamperingConnection(CaConnection* real, std::function<void(SignedIntermediate*)> tamper)
      : real_(real), tamper_(std::move(tamper)) {}
  absl::StatusOr<SignedIntermediate> SignIntermediate(const std::string& cluster,
                                                      const std::string& csr,
                                                      std::chrono::seconds ttl) override {
    auto r = real_->SignIntermediate(cluster, csr, ttl);
    if (r.ok()) tamper_(&*r);
    return r;
  }
  absl::StatusOr<TrustBundleInfo> GetTrustBundle() override { return real_->GetTrustBundle(); }
  absl::StatusOr<CrlSetInfo> GetCrls() override { return real_->GetCrls(); }
  absl::Status Watch(const std::string& cluster,
                     const std::function<void(CaEvent)>& on_event) override {
    return real_->Watch(cluster, on_event);
  }
  void CancelWatch() override { real_->CancelWatch(); }
  absl::Status Ack(const std::string& c, const std::string& s, const std::string& b,
                   const std::string& crl) override {
    return real_->Ack(c, s, b, crl);
  }
  absl::StatusOr<std::string> RenewIdentity(const std::string& csr_der) override {
    return real_->RenewIdentity(csr_der);
  }

 private:
  CaConnection* real_;
  std::function<void(SignedIntermediate*)> tamper_;
};

class InstallerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = testing::TestCa::Create();
    admin_ = ca_->EnrollOverGrpc(ca_->init().admin_token);
    auto e = KubeEmulator::Start();
    ASSERT_THAT(e, IsOk());
    kube_ = *std::move(e);
    // As in deploy/: create cannot be limited by resourceNames in Kubernetes RBAC.
    kube_->AddToken("agent", {"system:serviceaccount:istio-system:meshtrust-agent",
                              {KubeRule{"get,update", "secrets", "istio-system", "cacerts"},
                               KubeRule{"create", "secrets", "istio-system", "*"}}});
    kube_->AddToken("no-create",
                    {"limited", {KubeRule{"get", "secrets", "istio-system", "cacerts"}}});
    agent_ = ca_->EnrollOverGrpc(ca_->AddCluster("cluster1"));
    connection_ = std::make_unique<GrpcCaConnection>(
        client::CreateChannel(ca_->address(), agent_.control_ca_pem, &agent_, Interceptors()),
        std::chrono::seconds(10));
    kube_client_ = Client("agent");
    sink_ = std::make_unique<KubernetesSink>(kube_client_.get(), "istio-system");
  }

  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
  Interceptors() {
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> v;
    v.push_back(std::make_unique<RecordingFactory>(&wire_));
    return v;
  }

  std::unique_ptr<KubeClient> Client(const std::string& token) {
    KubeConfig config;
    config.server = kube_->server_url();
    config.ca_pem = kube_->ca_pem();
    config.token = token;
    return *KubeClient::Create(std::move(config), std::chrono::seconds(5));
  }

  InstallerOptions Options() {
    InstallerOptions o;
    o.cluster = "cluster1";
    return o;
  }

  std::optional<json> Cacerts() { return kube_->Get("secrets", "istio-system", "cacerts"); }

  std::unique_ptr<testing::TestCa> ca_;
  client::Identity admin_, agent_;
  std::unique_ptr<KubeEmulator> kube_;
  WireRecorder wire_;
  std::unique_ptr<GrpcCaConnection> connection_;
  std::unique_ptr<KubeClient> kube_client_;
  std::unique_ptr<KubernetesSink> sink_;
};

TEST_F(InstallerTest, InstallsVerifiesAndAcks) {
  Installer installer(connection_.get(), sink_.get(), &SystemClock::Get(), Options());
  ASSERT_OK_AND_ASSIGN(InstallResult result, installer.EnsureInstalled());
  EXPECT_TRUE(result.changed);
  auto secret = Cacerts();
  ASSERT_TRUE(secret.has_value());
  std::vector<std::string> keys;
  for (auto& [k, v] : (*secret)["data"].items()) keys.push_back(k);
  EXPECT_THAT(keys, ::testing::ElementsAre("ca-cert.pem", "ca-crl.pem", "ca-key.pem",
                                           "cert-chain.pem", "root-cert.pem"));
  EXPECT_EQ((*secret)["metadata"]["labels"]["app.kubernetes.io/managed-by"], "meshtrust");
  EXPECT_EQ((*secret)["metadata"]["annotations"]["meshtrust.io/serial"], result.serial);
  EXPECT_EQ((*secret)["metadata"]["annotations"]["meshtrust.io/bundle-sha256"],
            result.bundle_sha256);
  auto cluster = *ca_->store()->GetCluster("cluster1");
  EXPECT_EQ(cluster.acked_serial, result.serial);
  EXPECT_EQ(cluster.acked_bundle_sha256, result.bundle_sha256);

  // A second run finds it current and writes nothing.
  std::string rv = (*secret)["metadata"]["resourceVersion"];
  ASSERT_OK_AND_ASSIGN(InstallResult again, installer.EnsureInstalled());
  EXPECT_FALSE(again.changed);
  EXPECT_EQ((*Cacerts())["metadata"]["resourceVersion"], rv);
}

TEST_F(InstallerTest, AcknowledgesChangesAtOnceAndAnUnchangedSetHourly) {
  auto acks = [&] {
    int n = 0;
    auto records = ca_->store()->ReadAudit(0, 100000);
    for (const auto& r : *records) n += r.event.action == "Ack" && r.event.result == "ok";
    return n;
  };
  FakeClock clock;
  Installer installer(connection_.get(), sink_.get(), &clock, Options());
  ASSERT_THAT(installer.EnsureInstalled(), IsOk());
  EXPECT_EQ(acks(), 1);
  // Reconciles that find nothing new add no audit records.
  for (int i = 0; i < 3; ++i) ASSERT_THAT(installer.EnsureInstalled(), IsOk());
  EXPECT_EQ(acks(), 1);
  clock.Advance(std::chrono::minutes(61));
  ASSERT_THAT(installer.EnsureInstalled(), IsOk());
  EXPECT_EQ(acks(), 2);
  // A change is acknowledged at once.
  ASSERT_THAT(installer.EnsureInstalled(/*force_rekey=*/true), IsOk());
  EXPECT_EQ(acks(), 3);
  EXPECT_EQ(ca_->store()->GetCluster("cluster1")->acked_serial,
            ca_->store()->GetCluster("cluster1")->current_serial);
}

TEST_F(InstallerTest, PrivateKeyNeverTravelsToTheCa) {
  Installer installer(connection_.get(), sink_.get(), &SystemClock::Get(), Options());
  ASSERT_THAT(installer.EnsureInstalled(), IsOk());
  ASSERT_OK_AND_ASSIGN(auto installed, sink_->Read());
  ASSERT_OK_AND_ASSIGN(auto key, pki::PrivateKeyFromPem(installed->files.ca_key_pem));
  // The private scalar: no 12-byte run of it may appear in any message. (The
  // PKCS#8 wrapping shares OIDs and the public point with the CSR, so the
  // secret part is what is checked.)
  BIGNUM* raw_d = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(key.get(), "priv", &raw_d), 1);
  ossl::UniquePtr<BIGNUM> d(raw_d);
  std::string scalar(32, '\0');
  BN_bn2binpad(d.get(), reinterpret_cast<unsigned char*>(scalar.data()), 32);
  std::string pem(installed->files.ca_key_pem.UnsafeSecretString());
  std::string pem_body = pem.substr(pem.find('\n') + 1, 40);  // Base64 of the key's start.
  auto messages = wire_.messages();
  ASSERT_GE(messages.size(), 3u);  // GetTrustBundle, SignIntermediate, Ack.
  for (const std::string& m : messages) {
    for (size_t i = 0; i + 12 <= scalar.size(); i += 2) {
      ASSERT_EQ(m.find(scalar.substr(i, 12)), std::string::npos)
          << "private key bytes were sent to the CA";
    }
    ASSERT_EQ(m.find(pem_body), std::string::npos);
    ASSERT_EQ(m.find("PRIVATE KEY"), std::string::npos);
  }
  // The CSR (with the public key) did go out.
  ASSERT_OK_AND_ASSIGN(std::string spki, pki::PublicKeySpkiDer(key.get()));
  bool sent_public = false;
  for (const std::string& m : messages) sent_public |= m.find(spki) != std::string::npos;
  EXPECT_TRUE(sent_public);
}

TEST_F(InstallerTest, RetriesAfterAConflict) {
  Installer installer(connection_.get(), sink_.get(), &SystemClock::Get(), Options());
  ASSERT_THAT(installer.EnsureInstalled(), IsOk());
  // Force a renewal and make the first update race with another writer.
  auto secret = *Cacerts();
  secret["metadata"]["annotations"]["other"] = "writer";
  secret["data"]["root-cert.pem"] = "c3RhbGU=";  // "stale": no longer the CA's bundle
  kube_->Put("secrets", "istio-system", secret);
  int puts = 0;
  kube_->SetFault([&](const HttpRequest& req) -> std::optional<HttpResponse> {
    if (req.method == "PUT" && ++puts == 1) {
      return HttpResponse{
          409, "application/json",
          R"({"kind":"Status","reason":"Conflict","code":409,"message":"the object has been modified"})"};
    }
    return std::nullopt;
  });
  ASSERT_OK_AND_ASSIGN(InstallResult result, installer.EnsureInstalled());
  EXPECT_TRUE(result.changed);
  EXPECT_EQ(puts, 2);
  ASSERT_OK_AND_ASSIGN(auto installed, sink_->Read());
  EXPECT_EQ(installed->files.serial, result.serial);
  EXPECT_NE(installed->files.root_cert_pem, "stale");
}

TEST_F(InstallerTest, LeavesAForeignCacertsAlone) {
  kube_->Put("secrets", "istio-system",
             {{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"metadata", {{"name", "cacerts"}}},
              {"data", {{"ca-cert.pem", "dGhlaXJz"}}}});
  std::string rv = (*Cacerts())["metadata"]["resourceVersion"];
  Installer installer(connection_.get(), sink_.get(), &SystemClock::Get(), Options());
  EXPECT_THAT(
      installer.EnsureInstalled(),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr("Secret istio-system/cacerts exists and was not written by meshtrust; "
                         "leaving it untouched. Run with --adopt")));
  EXPECT_EQ((*Cacerts())["metadata"]["resourceVersion"], rv);
  EXPECT_TRUE(ca_->store()->ListCertificates({"cluster1", "intermediate", 10})->empty());

  InstallerOptions adopt = Options();
  adopt.adopt = true;
  Installer adopting(connection_.get(), sink_.get(), &SystemClock::Get(), adopt);
  ASSERT_OK_AND_ASSIGN(InstallResult result, adopting.EnsureInstalled());
  EXPECT_TRUE(result.changed);
  EXPECT_EQ((*Cacerts())["metadata"]["labels"]["app.kubernetes.io/managed-by"], "meshtrust");
}

TEST_F(InstallerTest, ApiServerDownFailsClearlyAndWritesNothing) {
  kube_->SetFault([](const HttpRequest&) -> std::optional<HttpResponse> {
    return HttpResponse{503, "text/plain", "unavailable"};
  });
  Installer installer(connection_.get(), sink_.get(), &SystemClock::Get(), Options());
  EXPECT_THAT(installer.EnsureInstalled(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("(503)")));
  kube_->SetFault(nullptr);
  EXPECT_FALSE(Cacerts().has_value());

  // And a server that is not there at all.
  KubeConfig gone;
  gone.server = "https://127.0.0.1:1";
  gone.token = "agent";
  auto client = *KubeClient::Create(std::move(gone), std::chrono::seconds(2));
  KubernetesSink sink(client.get(), "istio-system");
  Installer nowhere(connection_.get(), &sink, &SystemClock::Get(), Options());
  EXPECT_THAT(nowhere.EnsureInstalled(), StatusIs(absl::StatusCode::kUnavailable,
                                                  HasSubstr("cannot reach the Kubernetes API")));
}

// A broken or hostile API server: each fault is named, nothing is written
// while it lasts, and the agent installs normally once it is gone.
TEST_F(InstallerTest, ApiServerFaultsAreNamedAndChangeNothing) {
  struct Fault {
    std::string name;
    KubeEmulator::Fault fault;
    absl::StatusCode code;
    std::string fragment;
  };
  const std::string huge(5 << 20, 'x');
  std::vector<Fault> faults = {
      {"500",
       [](const HttpRequest&) -> std::optional<HttpResponse> {
         return HttpResponse{500, "application/json", R"({"message":"etcd is down"})"};
       },
       absl::StatusCode::kUnavailable, "(500)"},
      {"malformed JSON",
       [](const HttpRequest& r) -> std::optional<HttpResponse> {
         if (r.method != "GET") return std::nullopt;
         return HttpResponse{200, "application/json", R"({"metadata": {"name": "cacerts")"};
       },
       absl::StatusCode::kDataLoss, "malformed JSON for secret istio-system/cacerts"},
      {"JSON of the wrong shape",
       [](const HttpRequest& r) -> std::optional<HttpResponse> {
         if (r.method != "GET") return std::nullopt;
         return HttpResponse{200, "application/json", R"([{"metadata": 1}])"};
       },
       absl::StatusCode::kDataLoss, "malformed JSON"},
      {"a huge response",
       [&huge](const HttpRequest& r) -> std::optional<HttpResponse> {
         if (r.method != "GET") return std::nullopt;
         return HttpResponse{200, "application/json", huge};
       },
       absl::StatusCode::kResourceExhausted, "exceeded 4194304 bytes"},
      {"a slow server",
       [](const HttpRequest&) -> std::optional<HttpResponse> {
         std::this_thread::sleep_for(std::chrono::milliseconds(2500));
         return std::nullopt;
       },
       absl::StatusCode::kUnavailable, "cannot reach the Kubernetes API"},
  };
  KubeConfig config;
  config.server = kube_->server_url();
  config.ca_pem = kube_->ca_pem();
  config.token = "agent";
  auto impatient = *KubeClient::Create(std::move(config), std::chrono::seconds(1));
  KubernetesSink sink(impatient.get(), "istio-system");
  for (const Fault& f : faults) {
    SCOPED_TRACE(f.name);
    kube_->SetFault(f.fault);
    Installer installer(connection_.get(), &sink, &SystemClock::Get(), Options());
    EXPECT_THAT(installer.EnsureInstalled(), StatusIs(f.code, HasSubstr(f.fragment)));
    kube_->SetFault(nullptr);
    EXPECT_FALSE(Cacerts().has_value()) << "a fault let a write through";
  }
  EXPECT_EQ(ca_->store()->GetCluster("cluster1")->acked_serial, "");

  // The fault gone, the same agent installs.
  Installer installer(connection_.get(), &sink, &SystemClock::Get(), Options());
  ASSERT_THAT(installer.EnsureInstalled(), IsOk());
  ASSERT_TRUE(Cacerts().has_value());

  // A cacerts whose data is not base64 (a corrupt object from the server):
  // refused by name, and left exactly as it is.
  json corrupt = *Cacerts();
  corrupt["data"]["ca-key.pem"] = "%%% not base64 %%%";
  kube_->Put("secrets", "istio-system", corrupt);
  EXPECT_THAT(installer.EnsureInstalled(),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("secret istio-system/cacerts key \"ca-key.pem\" is not valid "
                                 "base64")));
  EXPECT_EQ(Cacerts()->at("data"), corrupt["data"]);
}

TEST_F(InstallerTest, RejectedCredentialsAndMissingRbacAreNamed) {
  auto bad_token = Client("expired-token");
  KubernetesSink sink401(bad_token.get(), "istio-system");
  Installer a(connection_.get(), &sink401, &SystemClock::Get(), Options());
  EXPECT_THAT(a.EnsureInstalled(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("invalid or expired")));

  auto limited = Client("no-create");
  KubernetesSink sink403(limited.get(), "istio-system");
  Installer b(connection_.get(), &sink403, &SystemClock::Get(), Options());
  EXPECT_THAT(
      b.EnsureInstalled(),
      StatusIs(
          absl::StatusCode::kPermissionDenied,
          HasSubstr(
              "grant the agent's service account the verb \"create\" on resource \"secrets\"")));
  EXPECT_FALSE(Cacerts().has_value());
}

TEST_F(InstallerTest, RefusesAnswersThatAreNotOursOrDoNotChain) {
  // A certificate for some other key (e.g. another cluster's).
  client::Identity other = ca_->EnrollOverGrpc(ca_->AddCluster("cluster2"));
  GrpcCaConnection other_conn(client::CreateChannel(ca_->address(), other.control_ca_pem, &other),
                              std::chrono::seconds(10));
  auto other_key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  auto foreign = *other_conn.SignIntermediate("cluster2", *pki::BuildCsrDer(other_key.get(), ""),
                                              std::chrono::seconds(0));
  TamperingConnection swap(connection_.get(), [&](SignedIntermediate* si) {
    si->certificate_pem = foreign.certificate_pem;
    si->chain_pem = foreign.chain_pem;
  });
  Installer a(&swap, sink_.get(), &SystemClock::Get(), Options());
  EXPECT_THAT(a.EnsureInstalled(), StatusIs(absl::StatusCode::kDataLoss,
                                            HasSubstr("not for the key this agent generated")));
  EXPECT_FALSE(Cacerts().has_value());

  // A bundle the certificate does not chain to.
  auto rogue_key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  pki::CertificateTemplate t;
  t.subject = {{"CN", "rogue root"}};
  t.not_before = std::chrono::system_clock::now() - std::chrono::hours(1);
  t.not_after = std::chrono::system_clock::now() + std::chrono::hours(24);
  t.is_ca = true;
  t.key_usage = pki::kKeyCertSign;
  auto rogue = *pki::IssueCertificate(t, rogue_key.get(), nullptr, rogue_key.get());
  TamperingConnection reroot(connection_.get(), [&](SignedIntermediate* si) {
    si->roots_pem = pki::CertificatePem(rogue.get());
  });
  Installer b(&reroot, sink_.get(), &SystemClock::Get(), Options());
  EXPECT_THAT(b.EnsureInstalled(), StatusIs(absl::StatusCode::kDataLoss, ::testing::_));
  EXPECT_FALSE(Cacerts().has_value());
}

TEST_F(InstallerTest, RenewsWithANewKeyWhenDueAndInstallsToAFileSink) {
  testing::TempDir dir;
  FileSink sink(dir.Sub("etc-cacerts"));
  FakeClock clock;
  InstallerOptions o = Options();
  o.ttl = std::chrono::hours(3);
  o.key_algorithm = pki::KeyAlgorithm::kEcdsaP384;
  Installer installer(connection_.get(), &sink, &clock, o);
  ASSERT_OK_AND_ASSIGN(InstallResult first, installer.EnsureInstalled());
  ASSERT_OK_AND_ASSIGN(auto installed1, sink.Read());
  clock.Advance(std::chrono::minutes(90));
  ASSERT_OK_AND_ASSIGN(InstallResult still, installer.EnsureInstalled());
  EXPECT_FALSE(still.reissued);  // Same key (its own CRL may be re-signed).
  EXPECT_EQ(still.serial, first.serial);
  clock.Advance(std::chrono::minutes(40));  // Past 2/3 of 3h (+5 min backdating).
  ASSERT_OK_AND_ASSIGN(InstallResult renewed, installer.EnsureInstalled());
  EXPECT_TRUE(renewed.changed);
  EXPECT_THAT(renewed.reason, HasSubstr("due for renewal"));
  EXPECT_NE(renewed.serial, first.serial);
  ASSERT_OK_AND_ASSIGN(auto installed2, sink.Read());
  EXPECT_FALSE(installed2->files.ca_key_pem.Equals(installed1->files.ca_key_pem));
  auto cert = *pki::ParseCertificatePem(installed2->files.ca_cert_pem);
  EXPECT_EQ(*pki::ClassifyKey(pki::PublicKeyOf(cert.get())), pki::KeyAlgorithm::kEcdsaP384);
}

}  // namespace
}  // namespace meshtrust::agent
