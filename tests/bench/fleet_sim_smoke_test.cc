// A short run of bench/fleet_sim with five simulated agents against the CA
// it starts, so the simulator cannot rot: it must get through every phase
// and print one well-formed JSON line per measurement. No figure is compared
// with a threshold.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"

namespace meshtrust::bench {
namespace {

using ::meshtrust::testing::CommandResult;
using ::meshtrust::testing::RunCommand;

TEST(FleetSimBenchSmokeTest, GoesThroughEveryPhaseWithFiveAgents) {
  CommandResult run =
      RunCommand(absl::StrCat(FLEET_SIM_BINARY, " --agents 5 --idle 1s --phase-timeout 120s"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  std::map<std::string, nlohmann::json> by_measure;
  for (absl::string_view line : absl::StrSplit(run.output, '\n')) {
    if (line.empty() || line.front() != '{') continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_EQ(j.value("bench", ""), "fleet") << line;
    EXPECT_EQ(j.value("agents", 0), 5) << line;
    EXPECT_EQ(j.value("errors", -1), 0) << line;
    std::string key = j.value("measure", "");
    if (key == "root_rotation") key += "/" + j.value("phase", "");
    EXPECT_TRUE(by_measure.emplace(key, j).second) << "twice: " << key;
  }
  std::vector<std::string> keys;
  for (const auto& [key, j] : by_measure) keys.push_back(key);
  EXPECT_THAT(keys,
              ::testing::UnorderedElementsAre("setup", "idle", "rotate_intermediate_all",
                                              "root_rotation/begin", "root_rotation/activate",
                                              "root_rotation/finish", "revocation", "ca_crl_pem"))
      << run.output;

  const nlohmann::json& idle = by_measure["idle"];
  EXPECT_EQ(idle.value("streams", 0), 5);
  EXPECT_GT(idle.value("ca_rss_kb", 0), 0);
  EXPECT_GT(idle.value("ca_threads", 0), 0);
  EXPECT_GT(idle.value("ca_threads_before_streams", 0), 0);
  ASSERT_TRUE(idle.contains("ca_idle_cpu_percent"));
  EXPECT_TRUE(idle["ca_idle_cpu_percent"].is_number());

  // Every timed phase says when every cluster was done, after its median.
  for (const char* key : {"rotate_intermediate_all", "root_rotation/begin",
                          "root_rotation/activate", "root_rotation/finish", "revocation"}) {
    const nlohmann::json& j = by_measure[key];
    SCOPED_TRACE(j.dump());
    for (const char* field : {"p50_s", "p99_s", "all_s"}) {
      ASSERT_TRUE(j.contains(field)) << field;
      EXPECT_TRUE(j[field].is_number()) << field;
    }
    EXPECT_LE(j.value("p50_s", 0.0), j.value("all_s", 0.0));
  }
  EXPECT_EQ(by_measure["rotate_intermediate_all"].value("rotate_rpcs_refused", -1), 0);

  // ca-crl.pem: the agent's own CRL, the root CRL and every cluster's
  // intermediate CRLs (three intermediates each by then: the first, the
  // rotated one and the one under the new root).
  const nlohmann::json& crl = by_measure["ca_crl_pem"];
  EXPECT_GT(crl.value("bytes", 0), 0);
  EXPECT_GE(crl.value("crls", 0), 1 + 1 + 5);
}

}  // namespace
}  // namespace meshtrust::bench
