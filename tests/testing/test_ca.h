// A complete CA for tests: a state directory made by InitializeStateDir in a
// temporary directory, opened as the server opens it, with an Authority and,
// optionally, the real gRPC server on a loopback port chosen by the kernel.
#ifndef MESHTRUST_TESTS_TESTING_TEST_CA_H_
#define MESHTRUST_TESTS_TESTING_TEST_CA_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "ca/core/authority.h"
#include "ca/server/server.h"
#include "ca/state/state_dir.h"
#include "client/ca_client.h"
#include "meshtrust/v1/meshtrust.grpc.pb.h"
#include "tests/testing/temp_dir.h"

namespace meshtrust::testing {

struct TestCaOptions {
  bool serve = true;
  const Clock* clock = nullptr;  // Default: the system clock.
  ca::AuthorityOptions authority;
  // A pkcs11: URI: the mesh roots (and with hsm_control_ca the control CA)
  // are made in that token.
  std::string hsm_uri;
  bool hsm_control_ca = false;
};

class TestCa {
 public:
  static std::unique_ptr<TestCa> Create(TestCaOptions options = {});
  ~TestCa();

  const std::string& state_dir() const { return state_dir_; }
  const std::string& kek_file() const { return kek_file_; }
  const ca::InitResult& init() const { return init_; }
  ca::CaState& state() { return state_; }
  ca::Authority* authority() { return authority_.get(); }
  ca::SqliteStore* store() { return state_.store.get(); }
  std::string address() const;
  const std::string& pin() const { return init_.control_ca_pin; }
  // The mesh root's fingerprint, "sha256:<hex>", as agents pin it.
  std::string root_fingerprint() const { return "sha256:" + init_.root_fingerprint; }

  // Directly through the Authority (no network): an operator caller whose
  // identity certificate the CA issued (enrolled again once it expires).
  ca::Caller LocalOperator();
  // A cluster added by LocalOperator(); returns its join token.
  std::string AddCluster(const std::string& name, const ca::ClusterPolicy& policy = {});
  // An agent caller for `cluster`, enrolled directly through the Authority.
  ca::Caller LocalAgent(const std::string& cluster);

  // Over gRPC with real mTLS.
  client::Identity EnrollOverGrpc(const std::string& token,
                                  pki::KeyAlgorithm alg = pki::KeyAlgorithm::kEcdsaP256);
  std::unique_ptr<v1::Admin::Stub> AdminStub(const client::Identity& identity);
  std::unique_ptr<v1::TrustAuthority::Stub> AgentStub(const client::Identity& identity);
  // Registers `name` through the Admin API as `admin`; returns its join token.
  std::string AddClusterOverGrpc(const client::Identity& admin, const std::string& name);

  // The gRPC server, null unless serving.
  ca::CaServer* server() { return server_.get(); }
  void StopServer();
  // Serves again on the port it had before StopServer().
  void RestartServer();
  // Closes the state directory as a stopping CA does, and opens it again as
  // a starting one (serving again when it served). An error leaves the CA
  // closed: the start-up refused.
  absl::Status Reopen();
  // Runs `statements` on the real SQLite file (ca.db) through a connection
  // of its own, as someone with the state directory could.
  absl::Status ExecSql(const std::string& statements);

 private:
  TestCa() = default;
  TempDir dir_;
  std::string state_dir_, kek_file_;
  ca::InitResult init_;
  ca::CaState state_;
  std::unique_ptr<ca::Authority> authority_;
  std::unique_ptr<ca::CaServer> server_;
  int port_ = 0;
  const Clock* clock_ = nullptr;
  ca::AuthorityOptions authority_options_;
  std::string hsm_uri_;
  bool serve_ = false;
  std::optional<ca::Caller> operator_;
  TimePoint operator_not_after_;
  int admin_count_ = 0;
};

// A caller for a certificate PEM (as the gRPC layer derives it).
ca::Caller CallerOf(const std::string& certificate_pem);

// A well-formed CSR for a fresh key of `alg` (the key is dropped).
std::string FreshCsr(pki::KeyAlgorithm alg = pki::KeyAlgorithm::kEcdsaP256);

// A CA driven directly through its Authority on a fake clock, with clusters
// cluster1 and cluster2 registered and an agent of cluster1 enrolled.
class LocalCaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestCaOptions options;
    options.serve = false;
    options.clock = &clock_;
    ca_ = TestCa::Create(options);
    ca_->AddCluster("cluster1");
    ca_->AddCluster("cluster2");
    agent1_ = ca_->LocalAgent("cluster1");
  }

  // The newest audit record.
  ca::AuditRecord LastAudit() {
    uint64_t head = ca_->store()->Head().sequence;
    auto records = ca_->store()->ReadAudit(head - 1, 1);
    EXPECT_TRUE(records.ok()) << records.status();
    return records.ok() && !records->empty() ? records->front() : ca::AuditRecord{};
  }

  FakeClock clock_;
  std::unique_ptr<TestCa> ca_;
  ca::Caller agent1_;
};

}  // namespace meshtrust::testing

#endif  // MESHTRUST_TESTS_TESTING_TEST_CA_H_
