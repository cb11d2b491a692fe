#include "tests/testing/test_ca.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "absl/strings/str_cat.h"
#include "base/files.h"
#include "pki/certificate.h"
#include "pki/csr.h"

namespace meshtrust::testing {
namespace {

void Die(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    ADD_FAILURE() << what << ": " << s;
    std::abort();
  }
}

}  // namespace

std::string FreshCsr(pki::KeyAlgorithm alg) {
  auto key = pki::GenerateKey(alg);
  Die(key.status(), "key");
  auto csr = pki::BuildCsrDer(key->get(), "ignored");
  Die(csr.status(), "CSR");
  return *csr;
}

ca::Caller CallerOf(const std::string& certificate_pem) {
  auto cert = pki::ParseCertificatePem(certificate_pem);
  Die(cert.status(), "parse identity");
  auto caller = ca::CallerFromCertificate(cert->get());
  Die(caller.status(), "identity of certificate");
  return *caller;
}

std::unique_ptr<TestCa> TestCa::Create(TestCaOptions options) {
  std::unique_ptr<TestCa> t(new TestCa());
  const Clock* clock = options.clock != nullptr ? options.clock : &SystemClock::Get();
  t->clock_ = clock;
  t->state_dir_ = t->dir_.Sub("state");
  t->kek_file_ = t->dir_.Sub("kek");
  Die(WriteFileAtomically(t->kek_file_, std::string(32, '\x17'), 0600), "write kek");
  ca::InitOptions init;
  init.state_dir = t->state_dir_;
  init.kek = keystore::KekSource::KeyFile(t->kek_file_);
  init.hsm_uri = options.hsm_uri;
  init.hsm_control_ca = options.hsm_control_ca;
  auto result = ca::InitializeStateDir(init, *clock);
  Die(result.status(), "init");
  t->init_ = *result;
  t->authority_options_ = options.authority;
  t->serve_ = options.serve;
  t->hsm_uri_ = options.hsm_uri;
  auto opened = ca::OpenCa(t->state_dir_, init.kek, clock, options.authority, options.hsm_uri);
  Die(opened.status(), "open CA");
  t->state_ = std::move(opened->state);
  t->authority_ = std::move(opened->authority);
  if (options.serve) t->RestartServer();
  return t;
}

TestCa::~TestCa() { StopServer(); }

absl::Status TestCa::ExecSql(const std::string& statements) {
  sqlite3* db = nullptr;
  if (sqlite3_open((state_dir_ + "/ca.db").c_str(), &db) != SQLITE_OK) {
    sqlite3_close(db);
    return absl::InternalError("cannot open " + state_dir_ + "/ca.db");
  }
  char* err = nullptr;
  int rc = sqlite3_exec(db, statements.c_str(), nullptr, nullptr, &err);
  std::string message = err != nullptr ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  if (rc != SQLITE_OK) return absl::InternalError(absl::StrCat(statements, ": ", message));
  return absl::OkStatus();
}

absl::Status TestCa::Reopen() {
  StopServer();
  authority_.reset();
  state_ = ca::CaState();
  auto opened = ca::OpenCa(state_dir_, keystore::KekSource::KeyFile(kek_file_), clock_,
                           authority_options_, hsm_uri_);
  if (!opened.ok()) return opened.status();
  state_ = std::move(opened->state);
  authority_ = std::move(opened->authority);
  if (serve_) RestartServer();
  return absl::OkStatus();
}

void TestCa::RestartServer() {
  ca::ServerOptions server;
  server.listen_address = absl::StrCat("127.0.0.1:", port_);
  server.server_chain_pem = state_.server_chain_pem;
  server.server_key_pem = &state_.server_key_pem;
  server.client_ca_pem = state_.control_ca_pem;
  auto started = ca::CaServer::Start(authority_.get(), server);
  Die(started.status(), "server");
  server_ = *std::move(started);
  port_ = server_->port();
}

void TestCa::StopServer() {
  if (server_ != nullptr) server_->Shutdown(std::chrono::milliseconds(100));
  server_.reset();
}

std::string TestCa::address() const {
  return absl::StrCat("127.0.0.1:", server_ != nullptr ? server_->port() : 0);
}

ca::Caller TestCa::LocalOperator() {
  if (operator_.has_value() && clock_->Now() < operator_not_after_) return *operator_;
  std::string name = absl::StrCat("op", admin_count_++);
  auto token =
      authority_->CreateAdminToken({ca::CallerKind::kOperator, name}, std::chrono::hours(1));
  Die(token.status(), "admin token");
  auto key = pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  auto csr = pki::BuildCsrDer(key->get(), "");
  auto issued = authority_->Enroll(token->token, *csr);
  Die(issued.status(), "admin enroll");
  operator_ = CallerOf(issued->certificate_pem);
  operator_not_after_ = pki::NotAfter(pki::ParseCertificatePem(issued->certificate_pem)->get());
  return *operator_;
}

std::string TestCa::AddCluster(const std::string& name, const ca::ClusterPolicy& policy) {
  auto result = authority_->AddCluster(LocalOperator(), name, policy, std::chrono::hours(1));
  Die(result.status(), "add cluster");
  return result->token.token;
}

ca::Caller TestCa::LocalAgent(const std::string& cluster) {
  auto token = authority_->CreateJoinToken(LocalOperator(), cluster, std::chrono::hours(1));
  Die(token.status(), "join token");
  auto key = pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  auto csr = pki::BuildCsrDer(key->get(), "");
  auto issued = authority_->Enroll(token->token, *csr);
  Die(issued.status(), "agent enroll");
  return CallerOf(issued->certificate_pem);
}

client::Identity TestCa::EnrollOverGrpc(const std::string& token, pki::KeyAlgorithm alg) {
  auto identity = client::Enroll(address(), pin(), token, alg);
  Die(identity.status(), "enroll over gRPC");
  return *std::move(identity);
}

std::unique_ptr<v1::Admin::Stub> TestCa::AdminStub(const client::Identity& identity) {
  return v1::Admin::NewStub(client::CreateChannel(address(), identity.control_ca_pem, &identity));
}

std::string TestCa::AddClusterOverGrpc(const client::Identity& admin, const std::string& name) {
  v1::AddClusterRequest req;
  req.set_name(name);
  v1::AddClusterResponse resp;
  grpc::Status s = AdminStub(admin)->AddCluster(client::NewContext().get(), req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp.token().token();
}

std::unique_ptr<v1::TrustAuthority::Stub> TestCa::AgentStub(const client::Identity& identity) {
  return v1::TrustAuthority::NewStub(
      client::CreateChannel(address(), identity.control_ca_pem, &identity));
}

}  // namespace meshtrust::testing
