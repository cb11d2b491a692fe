// The Prometheus text format as scrapers parse it, and the ops endpoint.
#include "base/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/ops_http.h"

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

TEST(OpsHttpTest, ServesMetricsHealthAndReadiness) {
  MetricsRegistry registry;
  registry.AddCounter("demo_total", "Demo")->Add({});
  absl::Status ready = absl::UnavailableError("keystore: cannot unseal mesh-root-1");
  auto get = [&](const std::string& path) {
    HttpRequest req;
    req.method = "GET";
    req.path = path;
    return HandleOpsHttp(
        registry, [&] { return ready; }, req);
  };
  HttpResponse metrics = get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.content_type, HasSubstr("version=0.0.4"));
  EXPECT_THAT(metrics.body, HasSubstr("demo_total 1\n"));
  EXPECT_EQ(get("/healthz").status, 200);
  HttpResponse not_ready = get("/readyz");
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_THAT(not_ready.body, HasSubstr("cannot unseal mesh-root-1"));
  ready = absl::OkStatus();
  EXPECT_EQ(get("/readyz").status, 200);
  EXPECT_EQ(get("/nope").status, 404);
  HttpRequest post;
  post.method = "POST";
  post.path = "/metrics";
  EXPECT_EQ(HandleOpsHttp(
                registry, [] { return absl::OkStatus(); }, post)
                .status,
            405);
}

}  // namespace
}  // namespace meshtrust
