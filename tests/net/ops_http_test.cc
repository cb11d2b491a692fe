// The operations endpoint: /metrics, /healthz and /readyz.
#include "net/ops_http.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/metrics.h"

namespace meshtrust {
namespace {

using ::testing::HasSubstr;

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
