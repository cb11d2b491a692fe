// Crash consistency of the real meshtrust-ca: kill -9 at random moments
// during a concurrent signing load over mTLS, restart, and check that
// nothing a client was given is missing from the store or the audit log,
// that no serial was issued twice, that the audit chain verifies and that
// SQLite's integrity check passes. Several rounds on one state directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "base/files.h"
#include "ca/state/state_dir.h"
#include "ca/store/sqlite_store.h"
#include "client/ca_client.h"
#include "meshtrust/v1/meshtrust.grpc.pb.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "tests/testing/ca_process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace meshtrust::ca {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::RunCommand;
using ::testing::HasSubstr;

constexpr int kRounds = 5;
constexpr int kSigners = 8;
constexpr int kClusters = 4;

class CrashConsistencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = dir_.Sub("state");
    kek_ = dir_.Sub("kek");
    ASSERT_THAT(WriteFileAtomically(kek_, std::string(32, '\x5a'), 0600), IsOk());
    InitOptions init;
    init.state_dir = state_;
    init.kek = keystore::KekSource::KeyFile(kek_);
    ASSERT_OK_AND_ASSIGN(init_, InitializeStateDir(init, SystemClock::Get()));
  }

  std::string StartCa() {
    if (ca_ == nullptr) {
      ca_ = std::make_unique<testing::CaProcess>(
          testing::CaProcessOptions{MESHTRUST_CA_BINARY, state_, kek_, dir_.path(), {}});
    }
    std::string error;
    std::string address = ca_->Start(&error);
    if (address.empty()) ADD_FAILURE() << error;
    return address;
  }

  testing::TempDir dir_;
  std::string state_, kek_;
  InitResult init_;
  std::unique_ptr<testing::CaProcess> ca_;
};

struct Received {
  absl::Mutex mu;
  // serial -> PEM, as clients got them.
  std::map<std::string, std::string> certificates ABSL_GUARDED_BY(mu);
  int duplicates ABSL_GUARDED_BY(mu) = 0;
  std::atomic<int> this_round{0};  // Certificates received in the current round.
  // Errors other than the CA going away.
  std::vector<std::string> unexpected ABSL_GUARDED_BY(mu);
};

// Signs as fast as it can until the CA goes away. Only the errors of a
// killed server end the loop quietly; any other refusal (PERMISSION_DENIED,
// INTERNAL, ...) is recorded, so a CA that refuses everything after a
// restart fails the test instead of looking like a kill.
void SignUntilTheCaIsGone(const std::string& address, const client::Identity& agent,
                          const std::string& cluster, Received* received) {
  auto stub =
      v1::TrustAuthority::NewStub(client::CreateChannel(address, agent.control_ca_pem, &agent));
  auto key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  std::string csr = *pki::BuildCsrDer(key.get(), "");
  for (;;) {
    v1::SignIntermediateRequest req;
    req.set_cluster(cluster);
    req.set_csr_der(csr);
    v1::SignIntermediateResponse resp;
    auto ctx = client::NewContext(std::chrono::seconds(30));
    grpc::Status s = stub->SignIntermediate(ctx.get(), req, &resp);
    if (!s.ok()) {
      if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
          s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        return;  // The CA was killed.
      }
      absl::MutexLock lock(&received->mu);
      received->unexpected.push_back(
          absl::StrCat(cluster, ": code ", s.error_code(), ": ", s.error_message()));
      return;
    }
    absl::MutexLock lock(&received->mu);
    if (!received->certificates.emplace(resp.serial(), resp.certificate_pem()).second) {
      ++received->duplicates;
    }
    ++received->this_round;
  }
}

TEST_F(CrashConsistencyTest, KillNineDuringConcurrentSigningLosesNothing) {
  std::string address = StartCa();
  ASSERT_FALSE(address.empty());
  client::Identity admin = *client::Enroll(address, init_.control_ca_pin, init_.admin_token,
                                           pki::KeyAlgorithm::kEcdsaP256);
  auto admin_stub =
      v1::Admin::NewStub(client::CreateChannel(address, admin.control_ca_pem, &admin));
  std::vector<client::Identity> agents;
  for (int c = 1; c <= kClusters; ++c) {
    v1::AddClusterRequest add;
    add.set_name(absl::StrCat("cluster", c));
    // Signing as fast as it can is what this test does, not a runaway agent.
    add.mutable_policy()->mutable_issuance()->set_unlimited(true);
    v1::AddClusterResponse added;
    ASSERT_TRUE(admin_stub->AddCluster(client::NewContext().get(), add, &added).ok());
    ASSERT_OK_AND_ASSIGN(client::Identity agent,
                         client::Enroll(address, init_.control_ca_pin, added.token().token(),
                                        pki::KeyAlgorithm::kEcdsaP256));
    agents.push_back(std::move(agent));
  }

  unsigned seed = std::random_device{}();
  std::mt19937 random(seed);
  SCOPED_TRACE(absl::StrCat("random seed ", seed));
  Received received;
  for (int round = 0; round < kRounds; ++round) {
    if (round > 0) address = StartCa();
    ASSERT_FALSE(address.empty());
    received.this_round = 0;
    std::vector<std::thread> signers;
    for (int i = 0; i < kSigners; ++i) {
      signers.emplace_back([&, i] {
        SignUntilTheCaIsGone(address, agents[i % kClusters],
                             absl::StrCat("cluster", i % kClusters + 1), &received);
      });
    }
    // The kill comes at a random moment once the (re)started CA has signed
    // as many certificates as there are signers (a round in which it signs
    // nothing would test nothing), however long that takes on a loaded
    // machine.
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    auto refused = [&] {
      absl::MutexLock lock(&received.mu);
      return !received.unexpected.empty();
    };
    while (received.this_round < kSigners && !refused() && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    {
      absl::MutexLock lock(&received.mu);
      EXPECT_GE(received.this_round, kSigners)
          << "round " << round << ": the CA did not sign under load; refusals: "
          << absl::StrJoin(received.unexpected, "; ");
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 500)(random)));
    int status = ca_->process()->Kill(SIGKILL);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the CA was not running when killed; its log:\n"
        << ca_->log();
    for (auto& t : signers) t.join();
    {
      absl::MutexLock lock(&received.mu);
      EXPECT_THAT(received.unexpected, ::testing::IsEmpty())
          << "round " << round << ": refusals other than the CA going away";
      received.unexpected.clear();
    }
  }
  std::map<std::string, std::string> certificates;
  {
    absl::MutexLock lock(&received.mu);
    EXPECT_EQ(received.duplicates, 0);
    certificates = received.certificates;
  }
  ASSERT_GT(certificates.size(), static_cast<size_t>(kRounds))
      << "the load was too light to test anything";

  // Offline: the store after the last kill, exactly as it was left.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteStore> store,
                       SqliteStore::Open(state_ + "/ca.db", /*signer=*/nullptr));
  absl::StatusOr<std::string> integrity = store->IntegrityCheck();
  EXPECT_THAT(integrity, IsOk());
  EXPECT_EQ(integrity.value_or(""), "ok");
  ASSERT_OK_AND_ASSIGN(std::vector<CertificateRecord> stored,
                       store->ListCertificates({"", "intermediate", 1000000}));
  std::set<std::string> stored_serials;
  std::map<std::string, std::string> stored_pem;
  for (const CertificateRecord& c : stored) {
    EXPECT_TRUE(stored_serials.insert(c.serial).second) << "serial " << c.serial << " twice";
    stored_pem[c.serial] = c.certificate_pem;
  }
  std::set<std::string> audited;
  for (uint64_t after = 0;;) {
    ASSERT_OK_AND_ASSIGN(std::vector<AuditRecord> page, store->ReadAudit(after, 1000));
    if (page.empty()) break;
    for (const AuditRecord& r : page) {
      if (r.event.action == "SignIntermediate" && r.event.result == "ok") {
        EXPECT_TRUE(audited.insert(r.event.serial).second) << "serial audited twice";
      }
      after = r.sequence;
    }
  }
  size_t missing = 0;
  for (const auto& [serial, pem] : certificates) {
    missing += stored_pem.count(serial) == 0 || stored_pem[serial] != pem || !audited.count(serial);
  }
  EXPECT_EQ(missing, 0u) << "certificates clients received are missing from the store or audit";
  // Nothing was issued that the audit log does not know of.
  EXPECT_EQ(audited, stored_serials);
  std::printf("%zu certificates received over %d kill -9 rounds; %zu stored\n", certificates.size(),
              kRounds, stored_serials.size());

  auto verify = RunCommand(absl::StrCat(MESHTRUST_CA_BINARY, " audit verify --state-dir ", state_));
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_THAT(verify.output, HasSubstr("audit log OK"));

  // And the CA starts and signs again on the state the crashes left.
  address = StartCa();
  auto stub = v1::TrustAuthority::NewStub(
      client::CreateChannel(address, agents[0].control_ca_pem, &agents[0]));
  v1::SignIntermediateRequest req;
  req.set_cluster("cluster1");
  req.set_csr_der(*pki::BuildCsrDer(pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256)->get(), ""));
  v1::SignIntermediateResponse resp;
  grpc::Status s = stub->SignIntermediate(client::NewContext().get(), req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  ca_->process()->Kill(SIGTERM);
}

}  // namespace
}  // namespace meshtrust::ca
