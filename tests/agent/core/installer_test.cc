// The agent's installation logic against the real CA (gRPC, mTLS) and the
// Kubernetes API emulator.
#include "agent/core/installer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sodium.h>

#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "agent/files/file_sink.h"
#include "agent/grpc/grpc_ca_connection.h"
#include "agent/kube/kubernetes_sink.h"
#include "pki/certificate.h"
#include "pki/crl.h"
#include "pki/csr.h"
#include "pki/digest.h"
#include "pki/key.h"
#include "pki/pem.h"
#include "tests/kube_emulator/kube_emulator.h"
#include "tests/testing/hostile_inputs.h"
#include "tests/testing/mesh.h"
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

std::string Base64Of(const std::string& s) {
  std::string out(sodium_base64_encoded_len(s.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(s.data()),
                    s.size(), sodium_base64_VARIANT_ORIGINAL);
  out.pop_back();  // The NUL.
  return out;
}

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

// A sink whose writes fail (as a 403 or a 500 from the API server would)
// a given number of times before they reach the real one.
class FailingWritesSink : public SecretSink {
 public:
  FailingWritesSink(SecretSink* real, int failures) : real_(real), failures_(failures) {}
  absl::StatusOr<std::optional<InstalledCaCerts>> Read() override { return real_->Read(); }
  absl::Status Write(const CaCerts& certs, const std::string& expected_version) override {
    ++writes;
    if (failures_ > 0) {
      --failures_;
      return absl::UnavailableError("the Kubernetes API failed update secrets (500) (test)");
    }
    return real_->Write(certs, expected_version);
  }
  absl::Status CheckWritable() override { return real_->CheckWritable(); }
  std::string Describe() const override { return real_->Describe(); }
  int writes = 0;

 private:
  SecretSink* real_;
  int failures_;
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
    roots_ = testing::PinCaRoot(*ca_, roots_dir_.Sub("identity"));
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
  // Intermediates the CA signed for cluster1, from its audit log.
  int Signings() {
    int n = 0;
    auto records = ca_->store()->ReadAudit(0, 100000);
    for (const auto& r : *records)
      n += r.event.action == "SignIntermediate" && r.event.result == "ok";
    return n;
  }

  std::unique_ptr<testing::TestCa> ca_;
  client::Identity admin_, agent_;
  std::unique_ptr<KubeEmulator> kube_;
  WireRecorder wire_;
  std::unique_ptr<GrpcCaConnection> connection_;
  std::unique_ptr<KubeClient> kube_client_;
  std::unique_ptr<KubernetesSink> sink_;
  testing::TempDir roots_dir_;
  testing::PinnedRoots roots_;
};

TEST_F(InstallerTest, InstallsVerifiesAndAcks) {
  Installer installer(connection_.get(), sink_.get(), roots_.trust.get(), &SystemClock::Get(),
                      Options());
  ASSERT_OK_AND_ASSIGN(InstallResult result, installer.EnsureInstalled());
  EXPECT_TRUE(result.changed);
  auto secret = Cacerts();
  ASSERT_TRUE(secret.has_value());
  std::vector<std::string> keys;
  for (auto& [k, v] : (*secret)["data"].items()) keys.push_back(k);
  EXPECT_THAT(keys, ::testing::ElementsAre("ca-cert.pem", "ca-crl.pem", "ca-key.pem",
                                           "cert-chain.pem", "root-cert.pem"));
  EXPECT_EQ((*secret)["metadata"]["labels"]["app.kubernetes.io/managed-by"], "meshtrust");
  EXPECT_EQ((*secret)["metadata"]["managedFields"][0]["manager"], "meshtrust-agent");
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
  Installer installer(connection_.get(), sink_.get(), roots_.trust.get(), &clock, Options());
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
  Installer installer(connection_.get(), sink_.get(), roots_.trust.get(), &SystemClock::Get(),
                      Options());
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

// Another writer changes cacerts between the agent's read and its update.
// The emulator's own precondition check (not an injected answer) refuses the
// update, so this fails if the agent stops sending resourceVersion.
TEST_F(InstallerTest, RetriesAfterAConflict) {
  Installer installer(connection_.get(), sink_.get(), roots_.trust.get(), &SystemClock::Get(),
                      Options());
  ASSERT_THAT(installer.EnsureInstalled(), IsOk());
  // Force a renewal and make the first update race with another writer.
  auto secret = *Cacerts();
  secret["data"]["root-cert.pem"] = "c3RhbGU=";  // "stale": no longer the CA's bundle
  kube_->Put("secrets", "istio-system", secret);
  std::string read_version = (*Cacerts())["metadata"]["resourceVersion"];
  std::vector<std::string> sent_versions;
  std::string other_version;
  kube_->SetFault([&](const HttpRequest& req) -> std::optional<HttpResponse> {
    if (req.method != "PUT") return std::nullopt;
    sent_versions.push_back(json::parse(req.body)["metadata"].value("resourceVersion", ""));
    if (sent_versions.size() == 1) {
      json other = *Cacerts();
      other["metadata"]["annotations"]["other"] = "writer";
      kube_->Put("secrets", "istio-system", other);
      other_version = (*Cacerts())["metadata"]["resourceVersion"];
    }
    return std::nullopt;  // The emulator decides.
  });
  ASSERT_OK_AND_ASSIGN(InstallResult result, installer.EnsureInstalled());
  EXPECT_TRUE(result.changed);
  EXPECT_THAT(sent_versions, ::testing::ElementsAre(read_version, other_version));
  ASSERT_OK_AND_ASSIGN(auto installed, sink_->Read());
  EXPECT_EQ(installed->files.serial, result.serial);
  EXPECT_NE(installed->files.root_cert_pem, "stale");
}

TEST_F(InstallerTest, StopsWhenAForeignSetReplacesOursDuringAConflictRetry) {
  Installer installer(connection_.get(), sink_.get(), roots_.trust.get(), &SystemClock::Get(),
                      Options());
  ASSERT_THAT(installer.EnsureInstalled(), IsOk());
  json foreign = {{"apiVersion", "v1"},
                  {"kind", "Secret"},
                  {"metadata", {{"name", "cacerts"}}},
                  {"data", {{"ca-cert.pem", "dGhlaXJz"}}}};
  kube_->SetFault([&](const HttpRequest& req) -> std::optional<HttpResponse> {
    if (req.method == "PUT") kube_->Put("secrets", "istio-system", foreign);
    return std::nullopt;
  });
  EXPECT_THAT(installer.EnsureInstalled(/*force_rekey=*/true),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("was replaced by something meshtrust did not write; leaving it "
                                 "untouched")));
  kube_->SetFault(nullptr);
  EXPECT_EQ(Cacerts()->at("data"), foreign["data"]);
}

TEST_F(InstallerTest, GivesUpAfterMaxConflictRetries) {
  InstallerOptions o = Options();
  o.max_conflict_retries = 2;
  Installer installer(connection_.get(), sink_.get(), roots_.trust.get(), &SystemClock::Get(), o);
  ASSERT_THAT(installer.EnsureInstalled(), IsOk());
  int puts = 0;
  kube_->SetFault([&](const HttpRequest& req) -> std::optional<HttpResponse> {
    if (req.method != "PUT") return std::nullopt;
    ++puts;
    json other = *Cacerts();  // Someone else always writes first.
    other["metadata"]["annotations"]["other"] = absl::StrCat("writer-", puts);
    kube_->Put("secrets", "istio-system", other);
    return std::nullopt;
  });
  EXPECT_THAT(installer.EnsureInstalled(/*force_rekey=*/true),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("conflict on update secrets")));
  EXPECT_EQ(puts, 3);  // The first write and two retries.
}

TEST_F(InstallerTest, RefusesWhatTheReadBackDoesNotMatch) {
  Installer installer(connection_.get(), sink_.get(), roots_.trust.get(), &SystemClock::Get(),
                      Options());
  bool written = false;
  kube_->SetFault([&](const HttpRequest& req) -> std::optional<HttpResponse> {
    // The write itself (not an access review or a dry run).
    if (req.method == "POST" && absl::EndsWith(req.path, "/secrets") &&
        !absl::StrContains(req.query, "dryRun")) {
      written = true;
    }
    if (req.method != "GET" || !written) return std::nullopt;
    // The read-back answers with a set whose ca-cert.pem is not what was written.
    json altered = *Cacerts();
    altered["data"]["ca-cert.pem"] = "YWx0ZXJlZA==";
    return HttpResponse{200, "application/json", altered.dump()};
  });
  EXPECT_THAT(
      installer.EnsureInstalled(),
      StatusIs(absl::StatusCode::kDataLoss,
               HasSubstr("Secret istio-system/cacerts does not hold what was just written")));
  kube_->SetFault(nullptr);
  EXPECT_EQ(ca_->store()->GetCluster("cluster1")->acked_serial, "");  // Never acknowledged.
}

TEST_F(InstallerTest, ReissuesWhenTheInstalledSetIsDamaged) {
  Installer installer(connection_.get(), sink_.get(), roots_.trust.get(), &SystemClock::Get(),
                      Options());
  ASSERT_THAT(installer.EnsureInstalled(), IsOk());
  auto other_key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  std::string other_key_pem(pki::PrivateKeyToPkcs8Pem(other_key.get())->UnsafeSecretString());
  struct Damage {
    std::string name;
    std::function<void(json&)> apply;
    std::string reason;
  };
  std::vector<Damage> damages = {
      {"a key for another certificate",
       [&](json& s) { s["data"]["ca-key.pem"] = Base64Of(other_key_pem); },
       "the installed ca-key.pem does not match ca-cert.pem"},
      {"an unreadable key", [](json& s) { s["data"]["ca-key.pem"] = Base64Of("not a key"); },
       "the installed ca-key.pem does not match ca-cert.pem"},
      {"no cert-chain.pem", [](json& s) { s["data"].erase("cert-chain.pem"); },
       "the installed set is incomplete"},
      {"an unreadable ca-cert.pem", [](json& s) { s["data"]["ca-cert.pem"] = Base64Of("garbage"); },
       "the installed ca-cert.pem is unreadable"},
  };
  for (const Damage& d : damages) {
    SCOPED_TRACE(d.name);
    json secret = *Cacerts();
    std::string serial = secret["metadata"]["annotations"]["meshtrust.io/serial"];
    d.apply(secret);
    kube_->Put("secrets", "istio-system", secret);
    ASSERT_OK_AND_ASSIGN(InstallResult result, installer.EnsureInstalled());
    EXPECT_TRUE(result.reissued);
    EXPECT_EQ(result.reason, d.reason);
    EXPECT_NE(result.serial, serial);
    ASSERT_OK_AND_ASSIGN(auto installed, sink_->Read());
    EXPECT_TRUE(installed->complete);
  }
}

// A CA connection whose CRL set carries a root CRL signed by a key that is
// not a trusted root.
class ForgedCrlConnection : public TamperingConnection {
 public:
  ForgedCrlConnection(CaConnection* real, std::string forged_crl_pem)
      : TamperingConnection(real, [](SignedIntermediate*) {}),
        real_(real),
        forged_(std::move(forged_crl_pem)) {}
  absl::StatusOr<CrlSetInfo> GetCrls() override {
    absl::StatusOr<CrlSetInfo> crls = real_->GetCrls();
    if (crls.ok()) {
      crls->root_crls_pem += forged_;
      crls->sha256 = pki::Sha256Hex(crls->root_crls_pem + crls->intermediate_crls_pem);
    }
    return crls;
  }

 private:
  CaConnection* real_;
  std::string forged_;
};

// ca-crl.pem grows with every cluster in the mesh; a set past the API
// server's 1 MiB Secret limit is refused by name and the installed set stays.
class BigCrlSetConnection : public TamperingConnection {
 public:
  BigCrlSetConnection(CaConnection* real, size_t extra)
      : TamperingConnection(real, [](SignedIntermediate*) {}), extra_(extra), real_(real) {}
  absl::StatusOr<CrlSetInfo> GetCrls() override {
    absl::StatusOr<CrlSetInfo> crls = real_->GetCrls();
    if (crls.ok() && extra_ > 0) {
      // Valid CRLs (istiod would take them), so only the size is wrong.
      std::string padding;
      while (padding.size() < extra_) padding += crls->root_crls_pem;
      crls->intermediate_crls_pem += padding;
      crls->sha256 = pki::Sha256Hex(crls->root_crls_pem + crls->intermediate_crls_pem);
    }
    return crls;
  }
  size_t extra_;

 private:
  CaConnection* real_;
};

TEST_F(InstallerTest, ACacertsOverTheSecretSizeLimitIsRefusedByNameAndTheOldSetStays) {
  BigCrlSetConnection ca(connection_.get(), 0);
  Installer installer(&ca, sink_.get(), roots_.trust.get(), &SystemClock::Get(), Options());
  ASSERT_OK_AND_ASSIGN(InstallResult first, installer.EnsureInstalled());
  std::string rv = (*Cacerts())["metadata"]["resourceVersion"];
  ca.extra_ = 1 << 20;  // The mesh's CRLs alone now exceed 1 MiB.
  EXPECT_THAT(installer.EnsureInstalled(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("Secret \"cacerts\" is invalid: data: Too long: must have at "
                                 "most 1048576 bytes")));
  EXPECT_EQ((*Cacerts())["metadata"]["resourceVersion"], rv);
  ASSERT_OK_AND_ASSIGN(auto installed, sink_->Read());
  EXPECT_EQ(installed->files.serial, first.serial);
}

TEST_F(InstallerTest, LeavesOutARootCrlNotSignedByATrustedRoot) {
  testing::RogueRoot rogue = testing::MakeRogueRoot();
  pki::CrlTemplate crl;
  crl.number = 1;
  crl.this_update = std::chrono::system_clock::now();
  crl.next_update = crl.this_update + std::chrono::hours(24);
  auto forged = *pki::IssueCrl(crl, rogue.cert.get(), rogue.key.get());
  std::string forged_pem = pki::CrlPem(forged.get());
  ForgedCrlConnection forging(connection_.get(), forged_pem);
  Installer installer(&forging, sink_.get(), roots_.trust.get(), &SystemClock::Get(), Options());
  ASSERT_OK_AND_ASSIGN(InstallResult result, installer.EnsureInstalled());
  EXPECT_TRUE(result.changed);
  ASSERT_OK_AND_ASSIGN(auto installed, sink_->Read());
  EXPECT_THAT(installed->files.ca_crl_pem, ::testing::Not(HasSubstr(forged_pem)));
  EXPECT_EQ(installer.crl_repairs().at("dropped_untrusted"), 1);
  EXPECT_FALSE(IstiodVerdict(installed->files, std::nullopt, pki::RootBundleRule::kBytes,
                             std::chrono::system_clock::now())
                   .has_value());
}

// A CA connection whose CRL set is altered, as a CA with a damaged CRL, or
// one that has not signed a new root's CRL yet, would send it.
class CrlTamperingConnection : public TamperingConnection {
 public:
  CrlTamperingConnection(CaConnection* real, std::function<void(CrlSetInfo*)> tamper)
      : TamperingConnection(real, [](SignedIntermediate*) {}), real_(real), tamper_(tamper) {}
  absl::StatusOr<CrlSetInfo> GetCrls() override {
    absl::StatusOr<CrlSetInfo> crls = real_->GetCrls();
    if (crls.ok() && enabled) {
      tamper_(&*crls);
      crls->sha256 = pki::Sha256Hex(crls->root_crls_pem + crls->intermediate_crls_pem);
    }
    return crls;
  }
  bool enabled = true;

 private:
  CaConnection* real_;
  std::function<void(CrlSetInfo*)> tamper_;
};

void DropRootCrlsAndAddJunk(CrlSetInfo* crls) {
  crls->root_crls_pem.clear();
  crls->intermediate_crls_pem += pki::EncodePem("not a CRL", "X509 CRL");
}

TEST_F(InstallerTest, AKeyRotationNeverShipsACrlSetIstiodWouldRefuse) {
  // The CA offers no CRL of the root and nothing is installed to keep one
  // from: istiod would refuse the set ("missing CRL signed by
  // certificates"), so neither sink receives it.
  CrlTamperingConnection ca(connection_.get(), DropRootCrlsAndAddJunk);
  testing::TempDir dir;
  FileSink file_sink(dir.Sub("etc-cacerts"));
  for (SecretSink* sink : std::vector<SecretSink*>{sink_.get(), &file_sink}) {
    SCOPED_TRACE(sink->Describe());
    Installer installer(&ca, sink, roots_.trust.get(), &SystemClock::Get(), Options());
    EXPECT_THAT(installer.EnsureInstalled(),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr("istiod would refuse this cacerts (rule crl_missing): missing "
                                   "CRL signed by certificates")));
    EXPECT_EQ(installer.istiod_refusals().at("crl_missing"), 1);
    EXPECT_EQ(installer.crl_repairs().at("dropped_unparsable"), 1);
    ASSERT_OK_AND_ASSIGN(auto installed, sink->Read());
    EXPECT_FALSE(installed.has_value());
  }
  EXPECT_FALSE(Cacerts().has_value());
}

TEST_F(InstallerTest, ACrlProblemDoesNotHoldBackAKeyRotation) {
  testing::TempDir dir;
  FileSink file_sink(dir.Sub("etc-cacerts"));
  for (SecretSink* sink : std::vector<SecretSink*>{sink_.get(), &file_sink}) {
    SCOPED_TRACE(sink->Describe());
    CrlTamperingConnection ca(connection_.get(), DropRootCrlsAndAddJunk);
    ca.enabled = false;
    Installer installer(&ca, sink, roots_.trust.get(), &SystemClock::Get(), Options());
    ASSERT_OK_AND_ASSIGN(InstallResult first, installer.EnsureInstalled());
    ASSERT_OK_AND_ASSIGN(auto before, sink->Read());
    auto root_crls = *pki::ParseCrlsPem((*connection_->GetCrls()).root_crls_pem);
    ASSERT_EQ(root_crls.size(), 1u);
    std::string root_crl = pki::CrlPem(root_crls[0].get());

    // Now the CA's root CRL is gone and one CRL is junk; an operator asks
    // for a new key all the same.
    ca.enabled = true;
    ASSERT_OK_AND_ASSIGN(InstallResult rotated, installer.EnsureInstalled(/*force_rekey=*/true));
    EXPECT_TRUE(rotated.reissued);
    EXPECT_NE(rotated.serial, first.serial);
    ASSERT_OK_AND_ASSIGN(auto after, sink->Read());
    EXPECT_EQ(after->files.serial, rotated.serial);
    // The root's CRL istiod accepted last time is kept; the junk is left out.
    EXPECT_THAT(after->files.ca_crl_pem, HasSubstr(root_crl));
    EXPECT_THAT(after->files.ca_crl_pem,
                ::testing::Not(HasSubstr(pki::EncodePem("not a CRL", "X509 CRL"))));
    EXPECT_EQ(installer.crl_repairs().at("kept_installed"), 1);
    EXPECT_EQ(installer.crl_repairs().at("dropped_unparsable"), 1);
    EXPECT_TRUE(installer.istiod_refusals().empty());
    std::optional<InstalledCaCerts> held = std::move(*before);
    EXPECT_FALSE(IstiodVerdict(after->files, held, pki::RootBundleRule::kBytes,
                               std::chrono::system_clock::now())
                     .has_value());
    EXPECT_FALSE(IstiodVerdict(after->files, held, pki::RootBundleRule::kCertificateSet,
                               std::chrono::system_clock::now())
                     .has_value());
  }
}

CaCerts CopyOf(const CaCerts& c) {
  CaCerts out;
  out.ca_cert_pem = c.ca_cert_pem;
  out.ca_key_pem = SecretBytes::CopyOf(c.ca_key_pem.UnsafeSecretView());
  out.cert_chain_pem = c.cert_chain_pem;
  out.root_cert_pem = c.root_cert_pem;
  out.ca_crl_pem = c.ca_crl_pem;
  out.serial = c.serial;
  out.not_after = c.not_after;
  out.bundle_sha256 = c.bundle_sha256;
  out.crl_set_sha256 = c.crl_set_sha256;
  return out;
}

TEST_F(InstallerTest, EveryIstiodRuleKeepsARefusedSetOutOfEitherSink) {
  testing::TempDir dir;
  FileSink file_sink(dir.Sub("etc-cacerts"));
  testing::RogueRoot rogue = testing::MakeRogueRoot();
  std::string rogue_pem = pki::CertificatePem(rogue.cert.get());
  auto other_key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  // One way to break each rule, applied to the set installed now.
  std::vector<std::pair<std::string, std::function<void(CaCerts*)>>> breakers = {
      {"chain", [&](CaCerts* c) { c->ca_cert_pem = rogue_pem; }},
      {"chain", [&](CaCerts* c) { c->cert_chain_pem = "not PEM"; }},
      {"key",
       [&](CaCerts* c) {
         c->ca_key_pem =
             SecretBytes::CopyOf("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
       }},
      {"key_mismatch",
       [&](CaCerts* c) { c->ca_key_pem = *pki::PrivateKeyToPkcs8Pem(other_key.get()); }},
      {"crl_parse", [&](CaCerts* c) { c->ca_crl_pem += pki::EncodePem("not a CRL", "X509 CRL"); }},
      {"crl_missing",
       [&](CaCerts* c) {
         // The intermediate's own CRL only: none from the root.
         auto crls = *pki::ParseCrlsPem(c->ca_crl_pem);
         c->ca_crl_pem = pki::CrlPem(crls[0].get());
       }},
      {"root_bundle", [&](CaCerts* c) { c->root_cert_pem = rogue_pem; }},
  };
  for (SecretSink* sink : std::vector<SecretSink*>{sink_.get(), &file_sink}) {
    SCOPED_TRACE(sink->Describe());
    Installer installer(connection_.get(), sink, roots_.trust.get(), &SystemClock::Get(),
                        Options());
    ASSERT_THAT(installer.EnsureInstalled(), IsOk());
    ASSERT_OK_AND_ASSIGN(std::optional<InstalledCaCerts> installed, sink->Read());
    IstiodRefusals refusals;
    for (const auto& [rule, breaker] : breakers) {
      SCOPED_TRACE(rule);
      CaCerts broken = CopyOf(installed->files);
      broken.serial = "ffff";  // So that a write would show.
      breaker(&broken);
      for (pki::RootBundleRule bundle_rule :
           {pki::RootBundleRule::kBytes, pki::RootBundleRule::kCertificateSet}) {
        EXPECT_THAT(WriteIfIstiodAccepts(sink, broken, installed->version, installed, bundle_rule,
                                         std::chrono::system_clock::now(), &refusals),
                    StatusIs(absl::StatusCode::kFailedPrecondition,
                             HasSubstr(absl::StrCat("istiod would refuse this cacerts (rule ", rule,
                                                    "): "))));
      }
      ASSERT_OK_AND_ASSIGN(auto now_installed, sink->Read());
      EXPECT_EQ(now_installed->version, installed->version);
      EXPECT_EQ(now_installed->files.serial, installed->files.serial);
      EXPECT_EQ(now_installed->files.ca_crl_pem, installed->files.ca_crl_pem);
      EXPECT_TRUE(now_installed->files.ca_key_pem.Equals(installed->files.ca_key_pem));
    }
    EXPECT_EQ(refusals["chain"], 4);
    EXPECT_EQ(refusals["root_bundle"], 2);
    // The unbroken set goes through the same door.
    CaCerts same = CopyOf(installed->files);
    EXPECT_THAT(
        WriteIfIstiodAccepts(sink, same, installed->version, installed, pki::RootBundleRule::kBytes,
                             std::chrono::system_clock::now(), &refusals),
        IsOk());
  }
}

TEST_F(InstallerTest, LeavesAForeignCacertsAlone) {
  kube_->Put("secrets", "istio-system",
             {{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"metadata", {{"name", "cacerts"}}},
              {"data", {{"ca-cert.pem", "dGhlaXJz"}}}});
  std::string rv = (*Cacerts())["metadata"]["resourceVersion"];
  Installer installer(connection_.get(), sink_.get(), roots_.trust.get(), &SystemClock::Get(),
                      Options());
  EXPECT_THAT(
      installer.EnsureInstalled(),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr("Secret istio-system/cacerts exists and was not written by meshtrust; "
                         "leaving it untouched. Run with --adopt")));
  EXPECT_EQ((*Cacerts())["metadata"]["resourceVersion"], rv);
  EXPECT_TRUE(ca_->store()->ListCertificates({"cluster1", "intermediate", 10})->empty());

  InstallerOptions adopt = Options();
  adopt.adopt = true;
  Installer adopting(connection_.get(), sink_.get(), roots_.trust.get(), &SystemClock::Get(),
                     adopt);
  ASSERT_OK_AND_ASSIGN(InstallResult result, adopting.EnsureInstalled());
  EXPECT_TRUE(result.changed);
  EXPECT_EQ((*Cacerts())["metadata"]["labels"]["app.kubernetes.io/managed-by"], "meshtrust");
}

TEST_F(InstallerTest, ApiServerDownFailsClearlyAndWritesNothing) {
  kube_->SetFault([](const HttpRequest&) -> std::optional<HttpResponse> {
    return HttpResponse{503, "text/plain", "unavailable"};
  });
  Installer installer(connection_.get(), sink_.get(), roots_.trust.get(), &SystemClock::Get(),
                      Options());
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
  Installer nowhere(connection_.get(), &sink, roots_.trust.get(), &SystemClock::Get(), Options());
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
    std::function<void()> after_call;  // Runs once EnsureInstalled has returned.
  };
  const std::string huge(5 << 20, 'x');
  // The slow server holds every request until the client has given up, so
  // only the client's own timeout can end the call. Shared with the
  // emulator's handler threads; however the test ends, they are released
  // before the emulator stops.
  auto release = std::make_shared<absl::Notification>();
  absl::Cleanup release_at_exit = [release] {
    if (!release->HasBeenNotified()) release->Notify();
  };
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
       [release](const HttpRequest&) -> std::optional<HttpResponse> {
         // A safety net for a client that never gives up, not a timing.
         constexpr absl::Duration kSafetyBound = absl::Seconds(120);
         if (!release->WaitForNotificationWithTimeout(kSafetyBound)) {
           ADD_FAILURE() << "held a request " << kSafetyBound
                         << " waiting for the client to give up on it";
           return HttpResponse{504, "text/plain", "held too long"};
         }
         return std::nullopt;
       },
       absl::StatusCode::kDeadlineExceeded,
       "did not answer GET /api/v1/namespaces/istio-system/"
       "secrets/cacerts: timed out after 1 s",
       [release] { release->Notify(); }},
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
    Installer installer(connection_.get(), &sink, roots_.trust.get(), &SystemClock::Get(),
                        Options());
    EXPECT_THAT(installer.EnsureInstalled(), StatusIs(f.code, HasSubstr(f.fragment)));
    if (f.after_call) f.after_call();
    kube_->SetFault(nullptr);
    EXPECT_FALSE(Cacerts().has_value()) << "a fault let a write through";
  }
  EXPECT_EQ(ca_->store()->GetCluster("cluster1")->acked_serial, "");

  // The fault gone, the same agent installs.
  Installer installer(connection_.get(), &sink, roots_.trust.get(), &SystemClock::Get(), Options());
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
  Installer a(connection_.get(), &sink401, roots_.trust.get(), &SystemClock::Get(), Options());
  EXPECT_THAT(a.EnsureInstalled(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("invalid or expired")));

  auto limited = Client("no-create");
  KubernetesSink sink403(limited.get(), "istio-system");
  Installer b(connection_.get(), &sink403, roots_.trust.get(), &SystemClock::Get(), Options());
  EXPECT_THAT(
      b.EnsureInstalled(),
      StatusIs(
          absl::StatusCode::kPermissionDenied,
          HasSubstr(
              "grant the agent's service account the verb \"create\" on resource \"secrets\"")));
  EXPECT_FALSE(Cacerts().has_value());
}

// Every signing is an issued and audited intermediate: none is asked for
// while the agent could not install it.
TEST_F(InstallerTest, AsksForNoSignatureItCouldNotInstall) {
  auto limited = Client("no-create");
  KubernetesSink forbidden(limited.get(), "istio-system");
  Installer a(connection_.get(), &forbidden, roots_.trust.get(), &SystemClock::Get(), Options());
  EXPECT_THAT(a.EnsureInstalled(),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("not asking the CA for an intermediate: RBAC does not let the "
                                 "agent create secrets, update secrets \"cacerts\" in namespace "
                                 "istio-system")));
  kube_->DeleteNamespace("istio-system");
  Installer b(connection_.get(), sink_.get(), roots_.trust.get(), &SystemClock::Get(), Options());
  EXPECT_THAT(b.EnsureInstalled(),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("not asking the CA for an intermediate: namespace istio-system "
                                 "does not exist")));
  EXPECT_EQ(Signings(), 0);
  kube_->CreateNamespace("istio-system");
  EXPECT_THAT(b.EnsureInstalled(), IsOk());
  EXPECT_EQ(Signings(), 1);
}

// A write that fails after the CA signed: the retries install what was
// issued, with the key generated for it, and no second intermediate.
TEST_F(InstallerTest, RetriesInstallTheIntermediateAlreadyIssued) {
  FailingWritesSink flaky(sink_.get(), /*failures=*/3);
  Installer installer(connection_.get(), &flaky, roots_.trust.get(), &SystemClock::Get(),
                      Options());
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(installer.EnsureInstalled(),
                StatusIs(absl::StatusCode::kUnavailable, HasSubstr("(500)")));
  }
  EXPECT_FALSE(Cacerts().has_value());
  ASSERT_OK_AND_ASSIGN(InstallResult result, installer.EnsureInstalled());
  EXPECT_TRUE(result.changed);
  EXPECT_EQ(flaky.writes, 4);
  EXPECT_EQ(Signings(), 1);
  // What was installed is that one intermediate, with its own key.
  ASSERT_OK_AND_ASSIGN(auto installed, sink_->Read());
  ASSERT_TRUE(installed.has_value());
  EXPECT_EQ(installed->files.serial, ca_->store()->GetCluster("cluster1")->current_serial);
  ASSERT_OK_AND_ASSIGN(auto cert, pki::ParseCertificatePem(installed->files.ca_cert_pem));
  ASSERT_OK_AND_ASSIGN(auto key, pki::PrivateKeyFromPem(installed->files.ca_key_pem));
  EXPECT_TRUE(pki::SamePublicKey(key.get(), pki::PublicKeyOf(cert.get())));
  // Installed, it is not reused: a rotation gets a new one.
  ASSERT_THAT(installer.EnsureInstalled(/*force_rekey=*/true), IsOk());
  EXPECT_EQ(Signings(), 2);
}

TEST_F(InstallerTest, AnIssuedIntermediateDueForRenewalIsNotReused) {
  FakeClock clock;
  FailingWritesSink flaky(sink_.get(), /*failures=*/1);
  InstallerOptions options = Options();
  options.ttl = std::chrono::hours(3);
  Installer installer(connection_.get(), &flaky, roots_.trust.get(), &clock, options);
  EXPECT_THAT(installer.EnsureInstalled(), StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  EXPECT_EQ(Signings(), 1);
  // Two thirds of its life later, it would be renewed at once: a new one.
  clock.Advance(std::chrono::hours(2) + std::chrono::minutes(10));
  ASSERT_THAT(installer.EnsureInstalled(), IsOk());
  EXPECT_EQ(Signings(), 2);
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
  Installer a(&swap, sink_.get(), roots_.trust.get(), &SystemClock::Get(), Options());
  EXPECT_THAT(a.EnsureInstalled(), StatusIs(absl::StatusCode::kDataLoss,
                                            HasSubstr("not for the key this agent generated")));
  EXPECT_FALSE(Cacerts().has_value());

  // A bundle the certificate does not chain to.
  testing::RogueRoot rogue = testing::MakeRogueRoot();
  // The digest is recomputed so the answer passes the digest check.
  TamperingConnection reroot(connection_.get(), [&](SignedIntermediate* si) {
    si->roots_pem = pki::CertificatePem(rogue.cert.get());
    si->bundle_sha256 = pki::Sha256Hex(si->roots_pem);
  });
  Installer b(&reroot, sink_.get(), roots_.trust.get(), &SystemClock::Get(), Options());
  // The root trust refuses it before the chain is looked at.
  EXPECT_THAT(b.EnsureInstalled(),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("refused the CA's trust bundle: it does not contain the pinned "
                                 "mesh root sha256:")));
  EXPECT_FALSE(Cacerts().has_value());
}

// Whoever holds the CA's TLS server key (or the control CA key) answers as
// the CA: it appends a root of its own to the real bundle, and signs the
// agent's CSR with that root. Its answers are otherwise well-formed.
class ImpersonatingCa : public TamperingConnection {
 public:
  ImpersonatingCa(CaConnection* real, bool tamper_bundle)
      : TamperingConnection(real, [](SignedIntermediate*) {}),
        real_(real),
        tamper_bundle_(tamper_bundle) {
    key_ = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
    pki::CertificateTemplate t;
    t.subject = {{"O", "meshtrust"}, {"CN", "meshtrust mesh root CA 2"}};
    t.not_before = std::chrono::system_clock::now() - std::chrono::hours(1);
    t.not_after = std::chrono::system_clock::now() + std::chrono::hours(24 * 365);
    t.is_ca = true;
    t.path_len = 1;
    t.key_usage = pki::kKeyCertSign | pki::kCrlSign;
    root_ = *pki::IssueCertificate(t, key_.get(), nullptr, key_.get());
  }
  std::string RootPem() const { return pki::CertificatePem(root_.get()); }

  absl::StatusOr<TrustBundleInfo> GetTrustBundle() override {
    absl::StatusOr<TrustBundleInfo> b = real_->GetTrustBundle();
    if (b.ok() && tamper_bundle_) {
      b->roots_pem += RootPem();
      b->sha256 = pki::Sha256Hex(b->roots_pem);
    }
    return b;
  }
  absl::StatusOr<SignedIntermediate> SignIntermediate(const std::string& cluster,
                                                      const std::string& csr_der,
                                                      std::chrono::seconds) override {
    absl::StatusOr<TrustBundleInfo> real = real_->GetTrustBundle();
    if (!real.ok()) return real.status();
    auto csr = pki::ParseCsr(csr_der);
    if (!csr.ok()) return csr.status();
    pki::CertificateTemplate t;
    t.subject = {{"O", "meshtrust"}, {"CN", cluster + " intermediate"}};
    t.not_before = std::chrono::system_clock::now() - std::chrono::minutes(5);
    t.not_after = std::chrono::system_clock::now() + std::chrono::hours(24);
    t.is_ca = true;
    t.path_len = 0;
    t.key_usage = pki::kKeyCertSign | pki::kCrlSign | pki::kDigitalSignature;
    auto cert = pki::IssueCertificate(t, pki::PublicKeyOf(csr->get()), root_.get(), key_.get());
    if (!cert.ok()) return cert.status();
    SignedIntermediate si;
    si.certificate_pem = pki::CertificatePem(cert->get());
    si.chain_pem = si.certificate_pem + RootPem();
    si.roots_pem = real->roots_pem + RootPem();
    si.bundle_sha256 = pki::Sha256Hex(si.roots_pem);
    si.serial = pki::SerialHex(cert->get());
    return si;
  }

 private:
  CaConnection* real_;
  bool tamper_bundle_;
  ossl::UniquePtr<EVP_PKEY> key_;
  ossl::UniquePtr<X509> root_;
};

TEST_F(InstallerTest, AnImpersonatedCaCannotAddARootOrInstallAnIntermediateUnderIt) {
  Installer installer(connection_.get(), sink_.get(), roots_.trust.get(), &SystemClock::Get(),
                      Options());
  ASSERT_THAT(installer.EnsureInstalled(), IsOk());
  std::optional<json> before = Cacerts();
  ASSERT_TRUE(before.has_value());

  // A bundle with the impostor's root appended: not installed as a refresh.
  ImpersonatingCa appending(connection_.get(), /*tamper_bundle=*/true);
  Installer fooled(&appending, sink_.get(), roots_.trust.get(), &SystemClock::Get(), Options());
  std::string refusal = absl::StrCat("refused the CA's trust bundle: it adds root ",
                                     "\"CN=meshtrust mesh root CA 2,O=meshtrust\" (sha256:");
  EXPECT_THAT(fooled.EnsureInstalled(),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr(refusal)));
  EXPECT_THAT(fooled.EnsureInstalled(/*force_rekey=*/true),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr(refusal)));
  // The real bundle, then an intermediate for the agent's key under the
  // impostor's root.
  ImpersonatingCa signing(connection_.get(), /*tamper_bundle=*/false);
  Installer rekeyed(&signing, sink_.get(), roots_.trust.get(), &SystemClock::Get(), Options());
  EXPECT_THAT(rekeyed.EnsureInstalled(/*force_rekey=*/true),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("which no trusted root endorsed; nothing was installed")));
  EXPECT_EQ(roots_.trust->refusals(), 3);
  EXPECT_EQ(installer.trust_refusals(), 3);
  EXPECT_EQ(Cacerts()->at("data"), before->at("data"));
  ASSERT_OK_AND_ASSIGN(std::optional<std::string> kept, roots_.store->LoadTrustedRoots());
  ASSERT_OK_AND_ASSIGN(auto installed, sink_->Read());
  EXPECT_EQ(kept, installed->files.root_cert_pem);  // Only the real roots are kept.
}

// Answers made here, each with exactly one defect, so every refusal of
// VerifySignedIntermediate is seen by its own message.
class VerifySignedIntermediateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_key_ = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
    pki::CertificateTemplate r;
    r.subject = {{"CN", "test mesh root"}};
    r.not_before = now_ - std::chrono::hours(1);
    r.not_after = now_ + std::chrono::hours(48);
    r.is_ca = true;
    r.key_usage = pki::kKeyCertSign | pki::kCrlSign;
    root_ = *pki::IssueCertificate(r, root_key_.get(), nullptr, root_key_.get());
    key_ = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  }

  // The profile the agent accepts.
  pki::CertificateTemplate Profile() const {
    pki::CertificateTemplate t;
    t.subject = {{"O", "meshtrust"}, {"CN", "cluster1 intermediate"}};
    t.not_before = now_ - std::chrono::minutes(5);
    t.not_after = now_ + std::chrono::hours(24);
    t.is_ca = true;
    t.path_len = 0;
    t.key_usage = pki::kKeyCertSign | pki::kCrlSign | pki::kDigitalSignature;
    return t;
  }

  SignedIntermediate Answer(const pki::CertificateTemplate& t) const {
    auto cert = *pki::IssueCertificate(t, key_.get(), root_.get(), root_key_.get());
    SignedIntermediate si;
    si.certificate_pem = pki::CertificatePem(cert.get());
    si.roots_pem = pki::CertificatePem(root_.get());
    si.chain_pem = si.certificate_pem + si.roots_pem;
    si.bundle_sha256 = pki::Sha256Hex(si.roots_pem);
    return si;
  }

  absl::Status Verify(const SignedIntermediate& si) const {
    return VerifySignedIntermediate(si, key_.get(), now_);
  }

  TimePoint now_ = std::chrono::system_clock::now();
  ossl::UniquePtr<EVP_PKEY> root_key_, key_;
  ossl::UniquePtr<X509> root_;
};

TEST_F(VerifySignedIntermediateTest, AcceptsTheIntermediateProfile) {
  EXPECT_THAT(Verify(Answer(Profile())), IsOk());
}

TEST_F(VerifySignedIntermediateTest, RefusesACertificateThatIsNotAPathlenZeroCa) {
  pki::CertificateTemplate leaf = Profile();
  leaf.is_ca = false;
  leaf.path_len = -1;
  // (A leaf with keyCertSign is already refused by chain verification.)
  leaf.key_usage = pki::kDigitalSignature;
  EXPECT_THAT(Verify(Answer(leaf)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("is not a CA with pathlen:0")));
  pki::CertificateTemplate deep = Profile();
  deep.path_len = 1;
  EXPECT_THAT(Verify(Answer(deep)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("is not a CA with pathlen:0")));
  pki::CertificateTemplate unbounded = Profile();
  unbounded.path_len = -1;
  EXPECT_THAT(Verify(Answer(unbounded)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("is not a CA with pathlen:0")));
}

TEST_F(VerifySignedIntermediateTest, RefusesACertificateWithoutKeyCertSignOrCrlSign) {
  pki::CertificateTemplate no_crl = Profile();
  no_crl.key_usage = pki::kKeyCertSign | pki::kDigitalSignature;
  EXPECT_THAT(Verify(Answer(no_crl)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("lacks keyCertSign or cRLSign")));
  // A pathlen:0 CA without keyCertSign never gets this far: chain
  // verification refuses it first. Refused either way.
  pki::CertificateTemplate no_cert_sign = Profile();
  no_cert_sign.key_usage = pki::kCrlSign | pki::kDigitalSignature;
  EXPECT_THAT(Verify(Answer(no_cert_sign)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("keyCertSign")));
}

TEST_F(VerifySignedIntermediateTest, RefusesACertificateWithAnExtendedKeyUsage) {
  pki::CertificateTemplate eku = Profile();
  eku.extended_key_usage = {pki::ExtendedKeyUsage::kServerAuth};
  EXPECT_THAT(Verify(Answer(eku)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("has an extendedKeyUsage")));
}

TEST_F(VerifySignedIntermediateTest, RefusesAChainThatDoesNotStartWithTheCertificate) {
  SignedIntermediate si = Answer(Profile());
  SignedIntermediate other = Answer(Profile());  // Same key, another certificate.
  si.chain_pem = other.certificate_pem + si.roots_pem;
  EXPECT_THAT(Verify(si), StatusIs(absl::StatusCode::kDataLoss,
                                   HasSubstr("the chain does not start with the certificate")));
}

TEST_F(VerifySignedIntermediateTest, RefusesABundleWhoseDigestDoesNotMatch) {
  SignedIntermediate si = Answer(Profile());
  si.bundle_sha256 = std::string(64, '0');
  EXPECT_THAT(Verify(si), StatusIs(absl::StatusCode::kDataLoss,
                                   HasSubstr("the trust bundle digest does not match")));
}

TEST_F(InstallerTest, RenewsWithANewKeyWhenDueAndInstallsToAFileSink) {
  testing::TempDir dir;
  FileSink sink(dir.Sub("etc-cacerts"));
  FakeClock clock;
  InstallerOptions o = Options();
  o.ttl = std::chrono::hours(3);
  o.key_algorithm = pki::KeyAlgorithm::kEcdsaP384;
  Installer installer(connection_.get(), &sink, roots_.trust.get(), &clock, o);
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
