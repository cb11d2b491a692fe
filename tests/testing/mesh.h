// A mesh for tests: clusters whose agents install into file sinks (Istio's
// /etc/cacerts) from a TestCa over real mTLS gRPC, workloads signed with an
// installed intermediate as istiod would sign them, and mutual-TLS handshakes
// between workloads with the real openssl s_server/s_client.
#ifndef MESHTRUST_TESTS_TESTING_MESH_H_
#define MESHTRUST_TESTS_TESTING_MESH_H_

#include <memory>
#include <string>

#include "agent/core/audit_checkpoint_guard.h"
#include "agent/core/installer.h"
#include "agent/core/root_trust.h"
#include "agent/files/file_identity_store.h"
#include "agent/files/file_sink.h"
#include "agent/grpc/grpc_ca_connection.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::testing {

// What an agent of `ca` trusts at first: the CA's mesh root, pinned by its
// fingerprint, the trusted roots kept in the directory `dir` from then on.
struct PinnedRoots {
  std::unique_ptr<agent::FileIdentityStore> store;
  std::unique_ptr<agent::RootTrust> trust;
};
PinnedRoots PinCaRoot(const TestCa& ca, const std::string& dir,
                      const Clock* clock = &SystemClock::Get());

struct MeshCluster {
  std::string name;
  std::string dir;  // The file sink: what istiod mounts at /etc/cacerts.
  client::Identity identity;
  // The agent's identity directory (<dir>-identity), holding the audit
  // checkpoint its guard keeps; every answer's checkpoint is checked.
  std::unique_ptr<agent::FileIdentityStore> identity_store;
  agent::AuditCheckpointCounters checkpoints;
  std::unique_ptr<agent::AuditCheckpointGuard> audit_guard;
  std::unique_ptr<agent::GrpcCaConnection> ca;
  std::unique_ptr<agent::FileSink> sink;
  PinnedRoots roots;  // The CA's root, pinned.
  std::unique_ptr<agent::Installer> installer;

  // The serial of the installed intermediate; "" when none is.
  std::string Serial() const;
};

// Registers `name` at the CA, enrolls its agent over gRPC and builds its
// installer; nothing is installed yet. Files go under `dir`.
std::unique_ptr<MeshCluster> JoinMesh(TestCa* ca, const TempDir& dir, const std::string& name,
                                      agent::InstallerOptions options = {});

// A workload's files. The chain is a copy of the intermediate that signed the
// workload, so the workload keeps presenting it after its cluster re-keys.
struct Workload {
  std::string cert;
  std::string key;
  std::string chain;
};

// A workload certificate signed with `cluster`'s installed intermediate.
Workload IssueWorkload(const MeshCluster& cluster, const std::string& label);

// The trust file a proxy of `cluster` loads now: root-cert.pem, followed by
// ca-crl.pem when `with_crls`. Written next to the sink under `label`.
std::string TrustFile(const MeshCluster& cluster, const std::string& label, bool with_crls);

// One mutual-TLS handshake; each side verifies the other against its own
// trust file (and the CRLs in it, with `check_crls`). The output holds both
// sides' transcripts.
CommandResult Handshake(const Workload& server, const std::string& server_trust,
                        const Workload& client, const std::string& client_trust,
                        bool check_crls = false);

}  // namespace meshtrust::testing

#endif  // MESHTRUST_TESTS_TESTING_MESH_H_
