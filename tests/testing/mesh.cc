#include "tests/testing/mesh.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "base/files.h"
#include "pki/certificate.h"
#include "pki/key.h"

namespace meshtrust::testing {

std::string MeshCluster::Serial() const {
  absl::StatusOr<std::string> pem = ReadFile(dir + "/ca-cert.pem");
  if (!pem.ok()) return "";
  absl::StatusOr<ossl::UniquePtr<X509>> cert = pki::ParseCertificatePem(*pem);
  return cert.ok() ? pki::SerialHex(cert->get()) : "";
}

PinnedRoots PinCaRoot(const TestCa& ca, const std::string& dir, const Clock* clock) {
  PinnedRoots p;
  p.store = std::make_unique<agent::FileIdentityStore>(dir);
  p.trust = std::make_unique<agent::RootTrust>(
      p.store.get(), std::vector<std::string>{ca.init().root_fingerprint}, clock);
  return p;
}

std::unique_ptr<MeshCluster> JoinMesh(TestCa* ca, const TempDir& dir, const std::string& name,
                                      agent::InstallerOptions options) {
  auto c = std::make_unique<MeshCluster>();
  c->name = name;
  c->dir = dir.Sub(name);
  c->identity = ca->EnrollOverGrpc(ca->AddCluster(name));
  c->identity_store = std::make_unique<agent::FileIdentityStore>(c->dir + "-identity");
  EXPECT_TRUE(c->identity_store->Save(c->identity).ok());
  auto guard = agent::AuditCheckpointGuard::Create(c->identity_store.get(),
                                                   c->identity.audit_public_key, &c->checkpoints);
  EXPECT_TRUE(guard.ok()) << guard.status();
  if (guard.ok()) c->audit_guard = *std::move(guard);
  c->ca = std::make_unique<agent::GrpcCaConnection>(
      client::CreateChannel(ca->address(), c->identity.control_ca_pem, &c->identity),
      std::chrono::seconds(10), c->audit_guard.get());
  c->sink = std::make_unique<agent::FileSink>(c->dir);
  options.cluster = name;
  c->roots = PinCaRoot(*ca, dir.Sub(name + "-identity"));
  c->installer = std::make_unique<agent::Installer>(
      c->ca.get(), c->sink.get(), c->roots.trust.get(), &SystemClock::Get(), options);
  return c;
}

Workload IssueWorkload(const MeshCluster& cluster, const std::string& label) {
  Workload w;
  std::string base = absl::StrCat(cluster.dir, "-", label);
  w.cert = base + ".pem";
  w.key = base + ".key";
  w.chain = base + "-chain.pem";
  absl::StatusOr<std::string> ca_pem = ReadFile(cluster.dir + "/ca-cert.pem");
  absl::StatusOr<SecretBytes> ca_key_pem = ReadSecretFile(cluster.dir + "/ca-key.pem");
  if (!ca_pem.ok() || !ca_key_pem.ok()) {
    ADD_FAILURE() << cluster.name << " has no installed intermediate to sign a workload";
    return w;
  }
  auto ca_cert = pki::ParseCertificatePem(*ca_pem);
  auto ca_key = pki::PrivateKeyFromPem(*ca_key_pem);
  auto key = pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  if (!ca_cert.ok() || !ca_key.ok() || !key.ok()) {
    ADD_FAILURE() << "cannot read " << cluster.name << "'s intermediate";
    return w;
  }
  pki::CertificateTemplate t;
  t.not_before = std::chrono::system_clock::now() - std::chrono::minutes(1);
  t.not_after = std::chrono::system_clock::now() + std::chrono::hours(1);
  t.key_usage = pki::kDigitalSignature;
  t.extended_key_usage = {pki::ExtendedKeyUsage::kServerAuth, pki::ExtendedKeyUsage::kClientAuth};
  t.uris = {absl::StrCat("spiffe://cluster.local/ns/", cluster.name, "/sa/", label)};
  auto cert = pki::IssueCertificate(t, key->get(), ca_cert->get(), ca_key->get());
  auto key_pem = pki::PrivateKeyToPkcs8Pem(key->get());
  if (!cert.ok() || !key_pem.ok()) {
    ADD_FAILURE() << "cannot issue a workload certificate in " << cluster.name;
    return w;
  }
  EXPECT_TRUE(WriteFileAtomically(w.cert, pki::CertificatePem(cert->get()), 0644).ok());
  EXPECT_TRUE(WriteFileAtomically(w.key, key_pem->UnsafeSecretString(), 0600).ok());
  EXPECT_TRUE(WriteFileAtomically(w.chain, *ca_pem, 0644).ok());
  return w;
}

std::string TrustFile(const MeshCluster& cluster, const std::string& label, bool with_crls) {
  std::string path = absl::StrCat(cluster.dir, "-trust-", label, ".pem");
  std::string contents = ReadFile(cluster.dir + "/root-cert.pem").value_or("");
  if (with_crls) contents += ReadFile(cluster.dir + "/ca-crl.pem").value_or("");
  EXPECT_TRUE(WriteFileAtomically(path, contents, 0644).ok());
  return path;
}

CommandResult Handshake(const Workload& server, const std::string& server_trust,
                        const Workload& client, const std::string& client_trust, bool check_crls) {
  TempDir log_dir;
  std::string log = log_dir.Sub("handshake.log");
  CommandResult r = RunCommand(absl::StrCat(
      "HANDSHAKE_LOG=", log, " ", MESHTRUST_SOURCE_DIR, "/scripts/mtls-handshake.sh ", server.cert,
      " ", server.key, " ", server.chain, " ", server_trust, " ", client.cert, " ", client.key, " ",
      client.chain, " ", client_trust, check_crls ? " crl" : ""));
  r.output += ReadFile(log).value_or("");
  return r;
}

}  // namespace meshtrust::testing
