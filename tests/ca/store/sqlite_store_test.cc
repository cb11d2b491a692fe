#include "ca/store/sqlite_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "ca/audit/audit_verify.h"
#include "pki/key.h"
#include "pki/signer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/switchable_signer.h"
#include "tests/testing/temp_dir.h"

namespace meshtrust::ca {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::meshtrust::testing::TempDir;
using ::testing::HasSubstr;

void Sql(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << msg;
}

AuditEvent Ok(const std::string& action) {
  AuditEvent e;
  e.time = std::chrono::system_clock::now();
  e.caller = "test";
  e.action = action;
  e.result = "ok";
  return e;
}

CertificateRecord Cert(const std::string& serial, const std::string& cluster) {
  CertificateRecord c;
  c.serial = serial;
  c.kind = std::string(kKindIntermediate);
  c.subject_name = cluster;
  c.subject = "CN=x";
  c.certificate_pem = "pem";
  c.issued_at = std::chrono::system_clock::now();
  return c;
}

// cluster1 and its first join token, as AddCluster stores them.
std::pair<ClusterRecord, JoinTokenRecord> Cluster1() {
  ClusterRecord c;
  c.name = "cluster1";
  c.created = std::chrono::system_clock::now();
  JoinTokenRecord t;
  t.hash = "tokenhash";
  t.subject = "spiffe://meshtrust/cluster/cluster1";
  t.created = c.created;
  t.expires = c.created + std::chrono::hours(1);
  return {c, t};
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signer_ = *AuditSigner::FromSeed(AuditSigner::GenerateSeed());
    auto store = SqliteStore::Open(db_path(), signer_.get());
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
    auto [c, t] = Cluster1();
    ASSERT_THAT(store_->AddCluster(c, t, Ok("AddCluster")), IsOk());
  }
  std::string db_path() const { return dir_.Sub("ca.db"); }
  TempDir dir_;
  std::unique_ptr<AuditSigner> signer_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteStoreTest, RecordsCertificateWithAuditAtomically) {
  ASSERT_THAT(store_->RecordCertificate(Cert("aa01", "cluster1"), Ok("SignIntermediate")), IsOk());
  EXPECT_EQ(store_->Head().sequence, 2u);
  ASSERT_OK_AND_ASSIGN(ClusterRecord c, store_->GetCluster("cluster1"));
  EXPECT_EQ(c.current_serial, "aa01");
  // The same serial twice is refused, and nothing is audited for it.
  EXPECT_THAT(store_->RecordCertificate(Cert("aa01", "cluster1"), Ok("SignIntermediate")),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("already issued")));
  EXPECT_EQ(store_->Head().sequence, 2u);
  // A certificate for an unknown cluster rolls back entirely.
  EXPECT_THAT(store_->RecordCertificate(Cert("aa02", "nope"), Ok("SignIntermediate")),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(store_->GetCertificate("aa02"), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

// Each refusal of the Store contract: its code and text, and nothing
// recorded for it, not even an audit record.
TEST_F(SqliteStoreTest, RefusalsSayWhatIsWrongAndRecordNothing) {
  using absl::StatusCode;
  ASSERT_THAT(store_->RecordCertificate(Cert("ee01", "cluster1"), Ok("SignIntermediate")), IsOk());
  ASSERT_THAT(store_->RevokeCertificate("ee01", 1, std::chrono::system_clock::now(), Ok("Revoke")),
              IsOk());
  CrlRecord crl;
  crl.root_key_id = "root-1";
  crl.number = 2;
  ASSERT_THAT(store_->SaveCrl(crl, Ok("SaveCrl")), IsOk());
  CertificateRecord identity = Cert("ee02", "cluster1");
  identity.kind = std::string(kKindAgentIdentity);
  ASSERT_THAT(store_->RedeemJoinToken("tokenhash", std::chrono::system_clock::now(), identity,
                                      Ok("Enroll")),
              IsOk());
  const uint64_t head = store_->Head().sequence;

  ClusterRecord again;
  again.name = "cluster1";
  JoinTokenRecord token;
  token.hash = "other";
  EXPECT_THAT(store_->AddCluster(again, token, Ok("AddCluster")),
              StatusIs(StatusCode::kAlreadyExists, "cluster \"cluster1\" already exists"));
  EXPECT_THAT(store_->GetCluster("nope"),
              StatusIs(StatusCode::kNotFound, "cluster \"nope\" is not registered"));
  EXPECT_THAT(store_->SetClusterEnabled("nope", false, Ok("Disable")),
              StatusIs(StatusCode::kNotFound, "cluster \"nope\" is not registered"));
  EXPECT_THAT(
      store_->RecordAck("nope", "ee01", "", {}, std::chrono::system_clock::now(), Ok("Ack")),
      StatusIs(StatusCode::kNotFound, "cluster \"nope\" is not registered"));
  EXPECT_THAT(store_->RevokeCluster("nope", 1, std::chrono::system_clock::now(), Ok("Revoke")),
              StatusIs(StatusCode::kNotFound, "cluster \"nope\" is not registered"));
  EXPECT_THAT(store_->GetJoinToken("nope"),
              StatusIs(StatusCode::kNotFound, "join token is not known"));
  identity.serial = "ee03";
  EXPECT_THAT(store_->RedeemJoinToken("tokenhash", std::chrono::system_clock::now(), identity,
                                      Ok("Enroll")),
              StatusIs(StatusCode::kAlreadyExists, "join token was already used"));
  EXPECT_THAT(store_->GetCertificate("ff"),
              StatusIs(StatusCode::kNotFound, "no certificate with serial ff"));
  EXPECT_THAT(store_->RevokeCertificate("ff", 1, std::chrono::system_clock::now(), Ok("Revoke")),
              StatusIs(StatusCode::kNotFound, "no certificate with serial ff"));
  EXPECT_THAT(store_->RevokeCertificate("ee01", 1, std::chrono::system_clock::now(), Ok("Revoke")),
              StatusIs(StatusCode::kAlreadyExists, "certificate ee01 is already revoked"));
  EXPECT_THAT(store_->RecordCertificate(Cert("ee01", "cluster1"), Ok("SignIntermediate")),
              StatusIs(StatusCode::kAlreadyExists, "serial ee01 was already issued"));
  EXPECT_THAT(
      store_->SaveCrl(crl, Ok("SaveCrl")),
      StatusIs(StatusCode::kFailedPrecondition, "CRL number 2 is not above the stored one"));
  EXPECT_THAT(store_->UpdateRoots({{"root-9", "trusted"}}, "begun", Ok("Rotate")),
              StatusIs(StatusCode::kNotFound, "no root root-9"));
  EXPECT_EQ(store_->Head().sequence, head);
  EXPECT_EQ(*store_->RotationState(), "");
}

TEST_F(SqliteStoreTest, FailingAuditWriteFailsClosedAndRecovers) {
  // Another process makes the audit table refuse writes (think: disk full).
  Sql(db_path(),
      "CREATE TRIGGER audit_fault BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk full'); "
      "END;");
  EXPECT_THAT(store_->RecordCertificate(Cert("bb01", "cluster1"), Ok("SignIntermediate")),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("audit log write failed")));
  EXPECT_THAT(store_->GetCertificate("bb01"), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  ASSERT_OK_AND_ASSIGN(ClusterRecord c, store_->GetCluster("cluster1"));
  EXPECT_EQ(c.current_serial, "");
  EXPECT_EQ(store_->Head().sequence, 1u);

  Sql(db_path(), "DROP TRIGGER audit_fault;");
  EXPECT_THAT(store_->RecordCertificate(Cert("bb01", "cluster1"), Ok("SignIntermediate")), IsOk());
  ASSERT_OK_AND_ASSIGN(AuditVerification v, VerifyStoredAudit(store_.get(), signer_->public_key()));
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records_checked, 2u);
}

TEST(SqliteStoreAuditKeyTest, AnAuditKeyThatCannotSignRecordsNothing) {
  TempDir dir;
  auto key = std::make_shared<meshtrust::testing::SwitchableSigner>(
      *pki::NewInMemorySigner(*pki::GenerateEd25519Key()), nullptr,
      "the audit key's token is gone");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<AuditSigner> signer, AuditSigner::Create(key));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteStore> store,
                       SqliteStore::Open(dir.Sub("ca.db"), signer.get()));
  auto [c, t] = Cluster1();
  key->set_off(true);
  EXPECT_THAT(store->AddCluster(c, t, Ok("AddCluster")),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("audit log write failed, so nothing was done: signing the "
                                 "record: the audit key's token is gone")));
  EXPECT_THAT(store->GetCluster("cluster1"), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_EQ(store->Head().sequence, 0u);
  EXPECT_THAT(signer->SignCheckpoint(store->Head()),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("token is gone")));
  key->set_off(false);
  EXPECT_THAT(store->AddCluster(c, t, Ok("AddCluster")), IsOk());
  ASSERT_OK_AND_ASSIGN(AuditVerification v, VerifyStoredAudit(store.get(), signer->public_key()));
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records_checked, 1u);
}

TEST(SqliteStoreAuditKeyTest, OnlyAnEd25519KeySignsTheAuditLog) {
  EXPECT_THAT(AuditSigner::Create(
                  *pki::NewInMemorySigner(*pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("must be an Ed25519 key")));
}

TEST_F(SqliteStoreTest, TokenRedeemsExactlyOnceUnderConcurrency) {
  constexpr int kThreads = 32;
  std::atomic<int> ok{0}, used{0};
  std::vector<std::thread> threads;
  TimePoint now = std::chrono::system_clock::now();
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      CertificateRecord c = Cert("cc" + std::to_string(i), "cluster1");
      c.kind = std::string(kKindAgentIdentity);
      absl::Status s = store_->RedeemJoinToken("tokenhash", now, c, Ok("Enroll"));
      if (s.ok()) ++ok;
      if (absl::IsAlreadyExists(s)) ++used;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(used.load(), kThreads - 1);
  ASSERT_OK_AND_ASSIGN(
      auto certs, store_->ListCertificates({"cluster1", std::string(kKindAgentIdentity), 100}));
  EXPECT_EQ(certs.size(), 1u);
}

// Concurrent writes share transactions (group commit), yet each is its own:
// a refused write in a batch leaves the others, every accepted write has its
// record, and the chain stays gapless and verifies.
TEST_F(SqliteStoreTest, ConcurrentWritesCommitTogetherYetStandAlone) {
  constexpr int kThreads = 16;
  constexpr int kWrites = 40;
  std::atomic<int> accepted{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) {
        // Every fifth write names a cluster that does not exist; every
        // seventh repeats a serial another write already took.
        std::string serial = absl::StrCat("f", t, "x", i % 7 == 6 ? i - 1 : i);
        std::string cluster = i % 5 == 4 ? "nope" : "cluster1";
        absl::Status s = store_->RecordCertificate(Cert(serial, cluster), Ok("SignIntermediate"));
        if (s.ok()) {
          ++accepted;
        } else {
          EXPECT_TRUE(absl::IsNotFound(s) || absl::IsAlreadyExists(s)) << s;
          ++refused;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted + refused, kThreads * kWrites);
  EXPECT_GT(refused.load(), 0);
  EXPECT_EQ(store_->Head().sequence, 1u + accepted);
  ASSERT_OK_AND_ASSIGN(auto certs,
                       store_->ListCertificates({"", std::string(kKindIntermediate), 100000}));
  EXPECT_EQ(static_cast<int>(certs.size()), accepted.load());
  ASSERT_OK_AND_ASSIGN(AuditVerification v, VerifyStoredAudit(store_.get(), signer_->public_key()));
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records_checked, 1u + accepted);
  // What the store says after a restart is what it said before.
  AuditHead head = store_->Head();
  store_.reset();
  ASSERT_OK_AND_ASSIGN(store_, SqliteStore::Open(db_path(), signer_.get()));
  EXPECT_EQ(store_->Head().sequence, head.sequence);
  EXPECT_EQ(store_->Head().hash, head.hash);
}

TEST_F(SqliteStoreTest, ExpiredTokenIsRefused) {
  TimePoint later = std::chrono::system_clock::now() + std::chrono::hours(2);
  EXPECT_THAT(store_->RedeemJoinToken("tokenhash", later, Cert("dd01", "cluster1"), Ok("Enroll")),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("expired")));
}

TEST_F(SqliteStoreTest, ReopenKeepsHeadAndIntegrity) {
  ASSERT_THAT(store_->AppendAudit(Ok("Read")), IsOk());
  AuditHead head = store_->Head();
  store_.reset();
  ASSERT_OK_AND_ASSIGN(auto reopened, SqliteStore::Open(db_path(), signer_.get()));
  EXPECT_EQ(reopened->Head().sequence, head.sequence);
  EXPECT_EQ(reopened->Head().hash, head.hash);
  EXPECT_EQ(*reopened->IntegrityCheck(), "ok");
  ASSERT_OK_AND_ASSIGN(auto read_only, SqliteStore::Open(db_path(), nullptr));
  EXPECT_THAT(read_only->AppendAudit(Ok("Read")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("read-only")));
}

TEST_F(SqliteStoreTest, RefusesADatabaseWithAnUnknownSchemaVersion) {
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path().c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, "UPDATE meta SET value = '2' WHERE key = 'schema_version'", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  EXPECT_THAT(SqliteStore::Open(db_path(), signer_.get()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("database schema version is not 1; this meshtrust-ca is too old "
                                 "for it")));
}

// A database from before rotation requests and issuance limits: the table
// is created when it is opened, and the stored policy takes the default
// limit. A request is completed only by an acknowledged intermediate
// recorded after it.
TEST_F(SqliteStoreTest, RotationRequestsWorkOnADatabaseFromBeforeThem) {
  store_.reset();
  Sql(db_path(),
      "DROP TABLE rotation_requests; UPDATE clusters SET policy = "
      "'{\"trust_domain\":\"cluster.local\",\"allowed_keys\":[\"ecdsa-p256\"],"
      "\"max_ttl_seconds\":86400,\"name_constraints\":false}'");
  ASSERT_OK_AND_ASSIGN(store_, SqliteStore::Open(db_path(), signer_.get()));
  ASSERT_OK_AND_ASSIGN(ClusterRecord c, store_->GetCluster("cluster1"));
  EXPECT_FALSE(c.rotation_requested);
  EXPECT_EQ(c.policy.issuance, IssuanceLimit{});

  ASSERT_THAT(store_->RecordCertificate(Cert("01", "cluster1"), Ok("SignIntermediate")), IsOk());
  TimePoint at = std::chrono::system_clock::now();
  ASSERT_THAT(store_->RequestRotation("cluster1", at, Ok("RotateIntermediate")), IsOk());
  EXPECT_THAT(store_->RequestRotation("nope", at, Ok("RotateIntermediate")),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  ASSERT_THAT(store_->RecordAck("cluster1", "01", "b", {}, at, Ok("Ack")), IsOk());
  c = *store_->GetCluster("cluster1");
  EXPECT_TRUE(c.rotation_requested) << "01 was issued before the request";
  EXPECT_FALSE(c.rotation_issued);
  ASSERT_THAT(store_->RecordCertificate(Cert("02", "cluster1"), Ok("SignIntermediate")), IsOk());
  c = *store_->GetCluster("cluster1");
  EXPECT_TRUE(c.rotation_requested);
  EXPECT_TRUE(c.rotation_issued);
  EXPECT_EQ(c.current_serial, "02");
  EXPECT_EQ(c.acked_serial, "01");
  ASSERT_THAT(store_->RecordAck("cluster1", "02", "b", {}, at, Ok("Ack")), IsOk());
  EXPECT_FALSE(store_->GetCluster("cluster1")->rotation_requested);
}

}  // namespace
}  // namespace meshtrust::ca
