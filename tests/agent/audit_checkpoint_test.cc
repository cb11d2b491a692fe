// An agent that saw a later audit checkpoint refuses a CA whose log was
// shortened behind it, installs nothing from that answer, and counts it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/core/agent_metrics.h"
#include "base/files.h"
#include "base/metrics.h"
#include "ca/state/published_checkpoint.h"
#include "tests/testing/mesh.h"
#include "tests/testing/status_matchers.h"

namespace meshtrust::agent {
namespace {

using ::meshtrust::testing::StatusIs;
using ::testing::HasSubstr;

TEST(AgentAuditCheckpointTest, TruncatedLogIsRefusedAndNothingInstalled) {
  auto ca = testing::TestCa::Create();
  testing::TempDir dir;
  auto cluster = testing::JoinMesh(ca.get(), dir, "cluster1");
  MetricsRegistry registry;
  RegisterAuditCheckpointMetrics(&registry, &cluster->checkpoints);
  ASSERT_TRUE(cluster->audit_guard->verifying());
  auto installed = cluster->installer->EnsureInstalled(false);
  ASSERT_TRUE(installed.ok()) << installed.status();
  std::string serial = cluster->Serial();
  uint64_t seen = cluster->checkpoints.kept_sequence;
  ASSERT_GT(seen, 6u);
  // Kept beside the identity, for the agent's next start.
  auto kept = cluster->identity_store->LoadCheckpoint();
  ASSERT_TRUE(kept.ok() && kept->has_value());
  EXPECT_EQ((*kept)->sequence, seen);

  // The log is cut back by SQL, and the file the CA would refuse to start
  // on is rewritten too (the attacker controls the state directory).
  ca->StopServer();
  ASSERT_TRUE(ca->ExecSql("DELETE FROM audit WHERE seq > 3").ok());
  ca->state().published_checkpoint.reset();  // Writes it one last time.
  std::remove((ca->state_dir() + "/" + ca::kPublishedCheckpointFile).c_str());
  ASSERT_TRUE(ca->Reopen().ok());

  auto refused = cluster->installer->EnsureInstalled(/*rekey=*/true);
  EXPECT_THAT(refused.status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr(absl::StrCat("refusing the CA's answer to SignIntermediate: "
                                              "audit log rolled back: the CA's checkpoint is at "
                                              "record "))));
  EXPECT_THAT(refused.status().message(),
              HasSubstr(absl::StrCat("but a checkpoint at record ", seen, " was seen before")));
  EXPECT_EQ(cluster->Serial(), serial);
  EXPECT_EQ(cluster->checkpoints.refused.load(), 1);
  EXPECT_EQ(cluster->checkpoints.kept_sequence.load(), seen);
  EXPECT_THAT(registry.Render(), HasSubstr("meshtrust_agent_audit_checkpoint_refusals_total 1"));
  kept = cluster->identity_store->LoadCheckpoint();
  ASSERT_TRUE(kept.ok() && kept->has_value());
  EXPECT_EQ((*kept)->sequence, seen);
}

TEST(AgentAuditCheckpointTest, IdentityWithoutAuditKeyVerifiesNothingAndSaysSo) {
  testing::TempDir dir;
  FileIdentityStore store(dir.Sub("identity"));
  AuditCheckpointCounters counters;
  auto guard = AuditCheckpointGuard::Create(&store, "", &counters);
  ASSERT_TRUE(guard.ok()) << guard.status();
  EXPECT_FALSE((*guard)->verifying());
  EXPECT_FALSE(counters.verifying.load());
  MetricsRegistry registry;
  RegisterAuditCheckpointMetrics(&registry, &counters);
  EXPECT_THAT(registry.Render(), HasSubstr("meshtrust_agent_audit_checkpoints_verified 0"));
}

}  // namespace
}  // namespace meshtrust::agent
