// The CA's metrics and readiness, through the real gRPC server: signings and
// refusals counted by reason, latency observed, gauges read from the store.
#include "ca/server/ca_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>

#include "ca/core/trust_state.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/switchable_signer.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::ca {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(CaMetricsTest, CountsSigningsAndRefusalsAndReadsStateOnScrape) {
  MetricsRegistry registry;
  // A clock that stands still on a whole second (certificates keep whole
  // seconds), so the gauges of time left read exactly, however long the
  // test takes.
  FakeClock clock(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
  testing::TestCaOptions options;
  options.serve = false;
  options.clock = &clock;
  auto ca = testing::TestCa::Create(options);
  CaMetrics metrics(&registry, ca->authority(), ca->store(), &clock);
  ServerOptions server;
  server.listen_address = "127.0.0.1:0";
  server.server_chain_pem = ca->state().server_chain_pem;
  server.server_key_pem = &ca->state().server_key_pem;
  server.client_ca_pem = ca->state().control_ca_pem;
  server.metrics = &metrics;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<CaServer> running, CaServer::Start(ca->authority(), server));
  std::string address = absl::StrCat("127.0.0.1:", running->port());
  auto identity =
      client::Enroll(address, ca->pin(), ca->AddCluster("cluster1"), pki::KeyAlgorithm::kEcdsaP256);
  ASSERT_THAT(identity, IsOk());
  auto stub = v1::TrustAuthority::NewStub(
      client::CreateChannel(address, identity->control_ca_pem, &*identity));

  auto sign = [&](const std::string& cluster, const std::string& csr) {
    v1::SignIntermediateRequest req;
    req.set_cluster(cluster);
    req.set_csr_der(csr);
    v1::SignIntermediateResponse resp;
    auto ctx = client::NewContext();
    return stub->SignIntermediate(ctx.get(), req, &resp);
  };
  auto key = pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  EXPECT_TRUE(sign("cluster1", *pki::BuildCsrDer(key->get(), "")).ok());
  EXPECT_FALSE(sign("cluster1", "not a CSR").ok());
  EXPECT_FALSE(sign("cluster2", *pki::BuildCsrDer(key->get(), "")).ok());
  ASSERT_THAT(ca->authority()->RefreshCrls(), IsOk());

  std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("meshtrust_ca_signings_total{result=\"issued\",reason=\"\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("meshtrust_ca_signings_total{result=\"refused\",reason=\"invalid_"
                              "argument\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("meshtrust_ca_signings_total{result=\"refused\",reason=\"permission_"
                              "denied\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("meshtrust_ca_signing_duration_seconds_count 3\n"));
  // Signed but not installed: no expiry to report yet, and out of sync.
  EXPECT_THAT(text, Not(HasSubstr("meshtrust_ca_intermediate_expiry_seconds{")));
  EXPECT_THAT(text, HasSubstr("meshtrust_ca_cluster_in_sync{cluster=\"cluster1\"} 0\n"));
  EXPECT_THAT(text,
              HasSubstr("meshtrust_ca_issuance_throttled_clusters{kind=\"intermediate\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("meshtrust_ca_clusters{state=\"enabled\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("meshtrust_ca_crl_number{root=\"mesh-root-1\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("meshtrust_ca_crl_next_update_seconds{root=\"mesh-root-1\"} 604800\n"));
  EXPECT_THAT(text, HasSubstr("meshtrust_ca_root_rotation_phase{phase=\"idle\"} 1\n"));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("meshtrust_ca_audit_head_sequence ",
                                           ca->store()->Head().sequence, "\n")));
  EXPECT_THAT(text, HasSubstr("meshtrust_ca_watch_streams 0\n"));
  EXPECT_THAT(text, HasSubstr("meshtrust_ca_enroll_throttled_sources 0\n"));

  // Installed: the 720 h policy maximum, all of it left.
  ca::ClusterRecord cluster1 = *ca->store()->GetCluster("cluster1");
  ASSERT_THAT(
      ca->authority()->Ack(testing::CallerOf(identity->certificate_pem), "cluster1",
                           cluster1.current_serial, ca->authority()->CurrentBundle().sha256),
      IsOk());
  text = registry.Render();
  EXPECT_THAT(text, HasSubstr("meshtrust_ca_intermediate_expiry_seconds{cluster=\"cluster1\"} "
                              "2592000\n"));
  EXPECT_THAT(text, HasSubstr("meshtrust_ca_cluster_in_sync{cluster=\"cluster1\"} 1\n"));
  running->Shutdown(std::chrono::milliseconds(100));
}

// A keystore whose signers can be switched off, as a token that was pulled.
class SwitchableKeyStore : public keystore::KeyStore {
 public:
  explicit SwitchableKeyStore(keystore::KeyStore* real) : real_(real) {}
  absl::StatusOr<std::shared_ptr<const pki::Signer>> GenerateSigningKey(
      absl::string_view id, keystore::KeyType type) override {
    return real_->GenerateSigningKey(id, type);
  }
  absl::Status ImportSigningKey(absl::string_view id, EVP_PKEY* key) override {
    return real_->ImportSigningKey(id, key);
  }
  absl::StatusOr<std::shared_ptr<const pki::Signer>> GetSigner(
      absl::string_view id) const override {
    absl::StatusOr<std::shared_ptr<const pki::Signer>> real = real_->GetSigner(id);
    if (!real.ok()) return real.status();
    return std::make_shared<meshtrust::testing::SwitchableSigner>(*std::move(real), &off);
  }
  bool Contains(absl::string_view id) const override { return real_->Contains(id); }
  std::vector<std::string> List() const override { return real_->List(); }
  std::atomic<bool> off{false};

 private:
  keystore::KeyStore* real_;
};

// Readiness proves that the active root's key signs, through the signer the
// CA holds: it unseals nothing per probe, so the keystore's files may be
// away, but a signer that cannot sign makes the CA unready.
TEST(CaMetricsTest, ReadinessNeedsASignerThatSigns) {
  testing::TestCaOptions options;
  options.serve = false;
  auto ca = testing::TestCa::Create(options);
  SwitchableKeyStore keys(ca->state().keys.get());
  TrustState trust(ca->store(), &keys);
  ASSERT_THAT(trust.Reload(), IsOk());
  EXPECT_THAT(trust.CheckReady(), IsOk());
  std::string dir = ca->state_dir() + "/keys";
  std::filesystem::rename(dir, dir + ".away");
  EXPECT_THAT(trust.CheckReady(), IsOk());
  EXPECT_THAT(ca->authority()->CheckReady(), IsOk());
  std::filesystem::rename(dir + ".away", dir);
  keys.off = true;
  EXPECT_THAT(trust.CheckReady(),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("keystore: the key of mesh-root-1 cannot sign: the token was "
                                 "removed")));
  keys.off = false;
  EXPECT_THAT(trust.CheckReady(), IsOk());
}

}  // namespace
}  // namespace meshtrust::ca
