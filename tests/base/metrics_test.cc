// The Prometheus text format as scrapers parse it.
#include "base/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace meshtrust {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsTest, RendersCountersGaugesAndCumulativeHistograms) {
  MetricsRegistry registry;
  CounterFamily* calls = registry.AddCounter("demo_calls_total", "Calls by result");
  calls->Add({{"result", "ok"}});
  calls->Add({{"result", "ok"}});
  calls->Add({{"result", "refused"}, {"reason", "say \"no\"\\\n"}}, 3);
  Histogram* latency = registry.AddHistogram("demo_seconds", "Latency", {0.1, 1});
  latency->Observe(0.05);
  latency->Observe(0.5);
  latency->Observe(5);
  int reads = 0;
  registry.AddGauge("demo_clusters", "Clusters", [&] {
    ++reads;
    return std::vector<MetricSample>{{{{"cluster", "c1"}}, 1.5}, {{{"cluster", "c2"}}, -2}};
  });
  std::string text = registry.Render();
  EXPECT_EQ(reads, 1);
  EXPECT_THAT(text, HasSubstr("# HELP demo_calls_total Calls by result\n"
                              "# TYPE demo_calls_total counter\n"));
  EXPECT_THAT(text, HasSubstr("demo_calls_total{result=\"ok\"} 2\n"));
  EXPECT_THAT(
      text, HasSubstr("demo_calls_total{result=\"refused\",reason=\"say \\\"no\\\"\\\\\\n\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE demo_seconds histogram\n"
                              "demo_seconds_bucket{le=\"0.1\"} 1\n"
                              "demo_seconds_bucket{le=\"1\"} 2\n"
                              "demo_seconds_bucket{le=\"+Inf\"} 3\n"
                              "demo_seconds_sum 5.55\n"
                              "demo_seconds_count 3\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE demo_clusters gauge\ndemo_clusters{cluster=\"c1\"} 1.5\n"
                              "demo_clusters{cluster=\"c2\"} -2\n"));
}

}  // namespace
}  // namespace meshtrust
