// End to end over the real gRPC server with real mTLS: enrollment, signing,
// the admin API, and the checks only the transport can make.
#include "ca/server/grpc_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "base/files.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "pki/certificate.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::ca {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::RunCommand;
using ::meshtrust::testing::TestCa;
using ::testing::HasSubstr;
using ::testing::Not;

class GrpcServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = TestCa::Create();
    admin_ = ca_->EnrollOverGrpc(ca_->init().admin_token);
    admin_stub_ = ca_->AdminStub(admin_);
  }

  std::string AddCluster(const std::string& name) { return ca_->AddClusterOverGrpc(admin_, name); }

  grpc::Status Sign(v1::TrustAuthority::Stub* stub, const std::string& cluster,
                    const std::string& csr, v1::SignIntermediateResponse* resp) {
    v1::SignIntermediateRequest req;
    req.set_cluster(cluster);
    req.set_csr_der(csr);
    auto ctx = client::NewContext();
    return stub->SignIntermediate(ctx.get(), req, resp);
  }

  std::unique_ptr<TestCa> ca_;
  client::Identity admin_;
  std::unique_ptr<v1::Admin::Stub> admin_stub_;
};

TEST_F(GrpcServiceTest, SignsOverMutualTlsAndOpensslAgrees) {
  client::Identity agent = ca_->EnrollOverGrpc(AddCluster("cluster1"));
  EXPECT_EQ(agent.identity, "spiffe://meshtrust/cluster/cluster1");
  auto stub = ca_->AgentStub(agent);
  auto key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  v1::SignIntermediateResponse resp;
  grpc::Status status = Sign(stub.get(), "cluster1", *pki::BuildCsrDer(key.get(), ""), &resp);
  ASSERT_TRUE(status.ok()) << status.error_message();

  testing::TempDir dir;
  ASSERT_THAT(WriteFileAtomically(dir.Sub("ca-cert.pem"), resp.certificate_pem(), 0644), IsOk());
  ASSERT_THAT(WriteFileAtomically(dir.Sub("root-cert.pem"), resp.bundle().roots_pem(), 0644),
              IsOk());
  ASSERT_THAT(WriteFileAtomically(dir.Sub("cert-chain.pem"), resp.chain_pem(), 0644), IsOk());

  auto verify = RunCommand("openssl verify -x509_strict -CAfile " + dir.Sub("root-cert.pem") + " " +
                           dir.Sub("ca-cert.pem"));
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_THAT(verify.output, HasSubstr(": OK"));

  auto text = RunCommand("openssl x509 -noout -text -in " + dir.Sub("ca-cert.pem"));
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_THAT(text.output,
              HasSubstr("X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:0"));
  EXPECT_THAT(text.output, HasSubstr("X509v3 Key Usage: critical\n                Digital "
                                     "Signature, Certificate Sign, CRL Sign"));
  EXPECT_THAT(text.output, HasSubstr("X509v3 Subject Key Identifier"));
  EXPECT_THAT(text.output, HasSubstr("X509v3 Authority Key Identifier"));
  EXPECT_THAT(text.output, Not(HasSubstr("Extended Key Usage")));
  EXPECT_THAT(text.output,
              HasSubstr("Subject: O = meshtrust, OU = cluster1, CN = cluster1 intermediate CA"));

  // The chain file is intermediate then root, exactly what Istio reads.
  auto chain = *pki::ParseCertificateChainPem(resp.chain_pem());
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(pki::CertificatePem(chain[1].get()), resp.bundle().roots_pem());

  // A workload certificate signed by the intermediate verifies with openssl
  // through the chain, as istiod's would.
  auto wl_key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  auto intermediate = *pki::ParseCertificatePem(resp.certificate_pem());
  pki::CertificateTemplate wl;
  wl.not_before = std::chrono::system_clock::now() - std::chrono::minutes(1);
  wl.not_after = std::chrono::system_clock::now() + std::chrono::hours(1);
  wl.key_usage = pki::kDigitalSignature;
  wl.extended_key_usage = {pki::ExtendedKeyUsage::kServerAuth, pki::ExtendedKeyUsage::kClientAuth};
  wl.uris = {"spiffe://cluster.local/ns/default/sa/app"};
  auto workload = *pki::IssueCertificate(wl, wl_key.get(), intermediate.get(), key.get());
  ASSERT_THAT(
      WriteFileAtomically(dir.Sub("workload.pem"), pki::CertificatePem(workload.get()), 0644),
      IsOk());
  auto wl_verify =
      RunCommand("openssl verify -CAfile " + dir.Sub("root-cert.pem") + " -untrusted " +
                 dir.Sub("ca-cert.pem") + " " + dir.Sub("workload.pem"));
  EXPECT_EQ(wl_verify.exit_code, 0) << wl_verify.output;

  // Ack, then the operator sees it.
  v1::AckRequest ack;
  ack.set_cluster("cluster1");
  ack.set_serial(resp.serial());
  ack.set_bundle_sha256(resp.bundle().sha256());
  v1::AckResponse ack_resp;
  auto ctx = client::NewContext();
  ASSERT_TRUE(stub->Ack(ctx.get(), ack, &ack_resp).ok());
  v1::ListClustersResponse clusters;
  auto ctx2 = client::NewContext();
  ASSERT_TRUE(admin_stub_->ListClusters(ctx2.get(), {}, &clusters).ok());
  ASSERT_EQ(clusters.clusters_size(), 1);
  EXPECT_EQ(clusters.clusters(0).acked_serial(), resp.serial());
  EXPECT_EQ(clusters.clusters(0).current_serial(), resp.serial());
}

TEST_F(GrpcServiceTest, AgentCallsWithoutClientCertificateAreRefused) {
  AddCluster("cluster1");
  auto stub = v1::TrustAuthority::NewStub(
      client::CreateChannel(ca_->address(), admin_.control_ca_pem, nullptr));
  v1::SignIntermediateResponse resp;
  grpc::Status s =
      Sign(stub.get(), "cluster1",
           *pki::BuildCsrDer(pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256)->get(), ""), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("anonymous is not a cluster agent"));
  auto admin_anon =
      v1::Admin::NewStub(client::CreateChannel(ca_->address(), admin_.control_ca_pem, nullptr));
  v1::ListClustersResponse clusters;
  auto ctx = client::NewContext();
  EXPECT_EQ(admin_anon->ListClusters(ctx.get(), {}, &clusters).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

// An istiod holds its cluster's intermediate key. A client certificate it
// mints claiming a meshtrust identity must be useless: the control CA is a
// separate trust domain, so TLS refuses it before any handler runs.
TEST_F(GrpcServiceTest, MeshIntermediateCannotMintControlIdentities) {
  client::Identity agent = ca_->EnrollOverGrpc(AddCluster("cluster1"));
  AddCluster("cluster2");
  auto stub = ca_->AgentStub(agent);
  auto intermediate_key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  v1::SignIntermediateResponse resp;
  ASSERT_TRUE(
      Sign(stub.get(), "cluster1", *pki::BuildCsrDer(intermediate_key.get(), ""), &resp).ok());
  auto intermediate = *pki::ParseCertificatePem(resp.certificate_pem());

  auto forged_key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  pki::CertificateTemplate t;
  t.not_before = std::chrono::system_clock::now() - std::chrono::minutes(1);
  t.not_after = std::chrono::system_clock::now() + std::chrono::hours(1);
  t.key_usage = pki::kDigitalSignature;
  t.extended_key_usage = {pki::ExtendedKeyUsage::kClientAuth};
  t.uris = {"spiffe://meshtrust/cluster/cluster2"};
  auto forged =
      *pki::IssueCertificate(t, forged_key.get(), intermediate.get(), intermediate_key.get());
  client::Identity fake{"spiffe://meshtrust/cluster/cluster2",
                        pki::CertificatePem(forged.get()) + resp.chain_pem(),
                        *pki::PrivateKeyToPkcs8Pem(forged_key.get()), agent.control_ca_pem};
  auto forged_stub = ca_->AgentStub(fake);
  v1::SignIntermediateResponse forged_resp;
  grpc::Status s = Sign(
      forged_stub.get(), "cluster2",
      *pki::BuildCsrDer(pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256)->get(), ""), &forged_resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  auto issued = *ca_->store()->ListCertificates({"cluster2", "intermediate", 10});
  EXPECT_TRUE(issued.empty());
}

TEST_F(GrpcServiceTest, ExpiredAndNotYetValidIdentitiesAreRefusedByTls) {
  AddCluster("cluster1");
  auto control = *ca_->state().LoadControlCa();
  for (auto [from, to] : {std::pair{std::chrono::hours(-48), std::chrono::hours(-24)},
                          std::pair{std::chrono::hours(24), std::chrono::hours(48)}}) {
    auto key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
    pki::CertificateTemplate t;
    t.not_before = std::chrono::system_clock::now() + from;
    t.not_after = std::chrono::system_clock::now() + to;
    t.key_usage = pki::kDigitalSignature;
    t.extended_key_usage = {pki::ExtendedKeyUsage::kClientAuth};
    t.uris = {"spiffe://meshtrust/cluster/cluster1"};
    auto cert = *pki::IssueCertificate(t, key.get(), control.certificate.get(), *control.signer);
    client::Identity id{"", pki::CertificatePem(cert.get()), *pki::PrivateKeyToPkcs8Pem(key.get()),
                        admin_.control_ca_pem};
    auto stub = ca_->AgentStub(id);
    v1::SignIntermediateResponse resp;
    grpc::Status s =
        Sign(stub.get(), "cluster1",
             *pki::BuildCsrDer(pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256)->get(), ""), &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  }
}

TEST_F(GrpcServiceTest, ConcurrentEnrollOverGrpcWithOneTokenSucceedsOnce) {
  constexpr int kCallers = 16;
  std::string token = AddCluster("cluster1");
  std::atomic<int> ok{0}, refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&] {
      // A transport failure under load is retried, as a real agent would;
      // it says nothing about the token.
      absl::StatusOr<client::Identity> id;
      for (int attempt = 0; attempt < 3; ++attempt) {
        id = client::Enroll(ca_->address(), ca_->pin(), token, pki::KeyAlgorithm::kEcdsaP256);
        if (!absl::IsUnavailable(id.status()) && !absl::IsDeadlineExceeded(id.status())) break;
      }
      if (id.ok()) ++ok;
      if (!id.ok() && absl::IsUnauthenticated(id.status())) ++refused;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(refused.load(), kCallers - 1);
}

TEST_F(GrpcServiceTest, WrongPinIsRefusedBeforeEnrolling) {
  std::string token = AddCluster("cluster1");
  std::string wrong = "sha256:" + std::string(64, 'a');
  auto id = client::Enroll(ca_->address(), wrong, token, pki::KeyAlgorithm::kEcdsaP256);
  EXPECT_THAT(id,
              testing::StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("matches the pin")));
  // The token was never sent, so it still works.
  EXPECT_THAT(client::Enroll(ca_->address(), ca_->pin(), token, pki::KeyAlgorithm::kEcdsaP256),
              IsOk());
}

TEST_F(GrpcServiceTest, OversizedMessagesAreRejected) {
  client::Identity agent = ca_->EnrollOverGrpc(AddCluster("cluster1"));
  auto stub = ca_->AgentStub(agent);
  v1::SignIntermediateResponse resp;
  grpc::Status s = Sign(stub.get(), "cluster1", std::string(1 << 20, '\x30'), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
}

TEST_F(GrpcServiceTest, AdminApiListsAndVerifies) {
  AddCluster("cluster1");
  v1::CreateJoinTokenRequest treq;
  treq.set_cluster("cluster1");
  v1::JoinToken token;
  auto c1 = client::NewContext();
  ASSERT_TRUE(admin_stub_->CreateJoinToken(c1.get(), treq, &token).ok());
  EXPECT_EQ(token.cluster(), "cluster1");
  ca_->EnrollOverGrpc(token.token());

  v1::ListCertificatesRequest creq;
  creq.set_cluster("cluster1");
  v1::ListCertificatesResponse certs;
  auto c2 = client::NewContext();
  ASSERT_TRUE(admin_stub_->ListCertificates(c2.get(), creq, &certs).ok());
  ASSERT_EQ(certs.certificates_size(), 1);
  EXPECT_EQ(certs.certificates(0).kind(), "agent-identity");

  v1::VerifyAuditResponse verify;
  auto c3 = client::NewContext();
  ASSERT_TRUE(admin_stub_->VerifyAudit(c3.get(), {}, &verify).ok());
  EXPECT_TRUE(verify.ok()) << verify.problem();
  EXPECT_GT(verify.records_checked(), 4u);
  EXPECT_TRUE(
      VerifyAuditCheckpoint(ca_->state().audit_signer->public_key(),
                            {verify.checkpoint().sequence(), verify.checkpoint().head_hash(),
                             verify.checkpoint().signature()}));

  v1::ListAuditResponse audit;
  auto c4 = client::NewContext();
  ASSERT_TRUE(admin_stub_->ListAudit(c4.get(), {}, &audit).ok());
  EXPECT_EQ(audit.records(0).action(), "CreateRoot");

  v1::AddClusterRequest bad;
  bad.set_name("cluster1");
  v1::AddClusterResponse bad_resp;
  auto c5 = client::NewContext();
  grpc::Status s = admin_stub_->AddCluster(c5.get(), bad, &bad_resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  bad.set_name("c2");
  bad.mutable_policy()->add_allowed_key_algorithms("dsa-1024");
  auto c6 = client::NewContext();
  s = admin_stub_->AddCluster(c6.get(), bad, &bad_resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("unknown key algorithm \"dsa-1024\""));
}

TEST_F(GrpcServiceTest, HealthServiceReportsServing) {
  auto health = grpc::health::v1::Health::NewStub(
      client::CreateChannel(ca_->address(), admin_.control_ca_pem, nullptr));
  grpc::health::v1::HealthCheckResponse resp;
  auto ctx = client::NewContext();
  grpc::Status s = health->Check(ctx.get(), {}, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(GrpcServiceTest, OnlineAuditVerifyNamesTheFirstBadRecord) {
  AddCluster("cluster1");
  AddCluster("cluster2");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((ca_->state_dir() + "/ca.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "UPDATE audit SET target = 'cluster9' WHERE action = 'AddCluster' AND "
                         "target = 'cluster2'",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  v1::ListAuditResponse audit;
  auto c1 = client::NewContext();
  ASSERT_TRUE(admin_stub_->ListAudit(c1.get(), {}, &audit).ok());
  uint64_t tampered = 0;
  for (const auto& r : audit.records()) {
    if (r.target() == "cluster9") tampered = r.sequence();
  }
  ASSERT_NE(tampered, 0u);
  v1::VerifyAuditResponse verify;
  auto c2 = client::NewContext();
  ASSERT_TRUE(admin_stub_->VerifyAudit(c2.get(), {}, &verify).ok());
  EXPECT_FALSE(verify.ok());
  EXPECT_EQ(verify.first_bad_sequence(), tampered);
  EXPECT_THAT(verify.problem(), HasSubstr("does not match its hash"));
}

// No file the CA writes holds a private key in the clear: scan the whole
// state directory (database, WAL, keystore) after a full run.
TEST_F(GrpcServiceTest, NoFileInTheStateDirectoryHoldsAPlaintextKey) {
  client::Identity agent = ca_->EnrollOverGrpc(AddCluster("cluster1"));
  auto stub = ca_->AgentStub(agent);
  auto key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  v1::SignIntermediateResponse resp;
  ASSERT_TRUE(Sign(stub.get(), "cluster1", *pki::BuildCsrDer(key.get(), ""), &resp).ok());

  std::vector<std::string> secrets;  // PKCS#8 DER of every key the CA holds, and the audit seed.
  for (const std::string& id : ca_->state().keys->List()) {
    auto entry = *ca_->state().keys->GetSecret(id);
    secrets.emplace_back(entry.secret.UnsafeSecretString());
  }
  ASSERT_EQ(secrets.size(), 4u);
  size_t scanned = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(ca_->state_dir())) {
    if (!entry.is_regular_file()) continue;
    std::string data = *ReadFile(entry.path().string(), 64 << 20);
    ++scanned;
    EXPECT_EQ(data.find("PRIVATE KEY"), std::string::npos) << entry.path();
    for (const std::string& secret : secrets) {
      for (size_t i = 0; i + 16 <= secret.size(); i += 8) {
        ASSERT_EQ(data.find(secret.substr(i, 16)), std::string::npos)
            << entry.path() << " holds key material";
      }
    }
  }
  EXPECT_GE(scanned, 8u);
}

}  // namespace
}  // namespace meshtrust::ca
