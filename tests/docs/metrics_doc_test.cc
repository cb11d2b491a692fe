// docs/metrics.md lists every metric the binaries export, and the example
// alert rules use only metrics that exist.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "agent/core/agent_metrics.h"
#include "base/files.h"
#include "ca/server/ca_metrics.h"
#include "tests/testing/test_ca.h"
#include "yaml-cpp/yaml.h"

namespace meshtrust {
namespace {

std::set<std::string> Exported() {
  testing::TestCaOptions options;
  options.serve = true;  // For the connection metrics of the gRPC listener.
  auto ca = testing::TestCa::Create(options);
  MetricsRegistry registry;
  ca::CaMetrics metrics(&registry, ca->authority(), ca->store(), &SystemClock::Get());
  ca->server()->RegisterMetrics(&registry);
  agent::RegisterAgentMetrics(&registry, "cluster1", [] { return agent::RunnerStatus{}; });
  agent::AuditCheckpointCounters checkpoints;
  agent::RegisterAuditCheckpointMetrics(&registry, &checkpoints);
  std::set<std::string> names;
  std::string text = registry.Render();
  std::regex type_line("# TYPE ([a-z_]+) ");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), type_line);
       it != std::sregex_iterator(); ++it) {
    names.insert((*it)[1]);
  }
  return names;
}

TEST(MetricsDocTest, EveryExportedMetricIsDocumented) {
  std::string doc = ReadFile(std::string(MESHTRUST_SOURCE_DIR) + "/docs/metrics.md").value_or("");
  std::set<std::string> exported = Exported();
  EXPECT_GE(exported.size(), 19u);
  for (const std::string& name : exported) {
    EXPECT_NE(doc.find("`" + name + "`"), std::string::npos)
        << name << " is not in docs/metrics.md";
  }
  // And nothing documented that is not exported.
  std::regex documented("`(meshtrust_[a-z_]+)`");
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), documented);
       it != std::sregex_iterator(); ++it) {
    EXPECT_TRUE(exported.count((*it)[1])) << (*it)[1] << " is documented but not exported";
  }
}

TEST(MetricsDocTest, AlertRulesUseExistingMetrics) {
  YAML::Node rules =
      YAML::LoadFile(std::string(MESHTRUST_SOURCE_DIR) + "/deploy/prometheus/alerts.yaml");
  std::set<std::string> exported = Exported();
  int alerts = 0;
  for (const auto& group : rules["groups"]) {
    for (const auto& rule : group["rules"]) {
      ++alerts;
      std::string expr = rule["expr"].as<std::string>();
      EXPECT_FALSE(rule["annotations"]["summary"].as<std::string>().empty());
      std::regex metric("meshtrust_[a-z_]+");
      int used = 0;
      for (auto it = std::sregex_iterator(expr.begin(), expr.end(), metric);
           it != std::sregex_iterator(); ++it, ++used) {
        EXPECT_TRUE(exported.count(it->str()))
            << rule["alert"].as<std::string>() << " uses unknown metric " << it->str();
      }
      EXPECT_GT(used, 0) << rule["alert"].as<std::string>();
    }
  }
  EXPECT_GE(alerts, 4);
}

}  // namespace
}  // namespace meshtrust
