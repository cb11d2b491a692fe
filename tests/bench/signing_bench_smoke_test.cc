// A short run of bench/signing_bench against the CA it starts, so the
// benchmark cannot rot: it must run, and print one well-formed JSON line per
// concurrency with every field bench/README.md documents. No figure is
// compared with a threshold; only that signings happened and were measured.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/files.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace meshtrust::bench {
namespace {

using ::meshtrust::testing::CommandResult;
using ::meshtrust::testing::RunCommand;

// The JSON lines in a benchmark's output (its progress lines are not JSON).
std::vector<nlohmann::json> JsonLines(const std::string& output) {
  std::vector<nlohmann::json> lines;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (line.empty() || line.front() != '{') continue;
    lines.push_back(nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false));
  }
  return lines;
}

TEST(SigningBenchSmokeTest, PrintsOneMeasuredLinePerConcurrency) {
  CommandResult run = RunCommand(absl::StrCat(
      SIGNING_BENCH_BINARY, " -c 1,2 --duration 1s --warmup 200ms --csr-pool 8 --tag smoke"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  std::vector<nlohmann::json> lines = JsonLines(run.output);
  ASSERT_EQ(lines.size(), 2u) << run.output;
  for (size_t i = 0; i < lines.size(); ++i) {
    const nlohmann::json& j = lines[i];
    ASSERT_TRUE(j.is_object()) << run.output;
    SCOPED_TRACE(j.dump());
    EXPECT_EQ(j.value("bench", ""), "signing");
    EXPECT_EQ(j.value("impl", ""), "meshtrust");
    EXPECT_EQ(j.value("ca", ""), "started");
    EXPECT_EQ(j.value("csr_key", ""), "ecdsa-p256");
    EXPECT_EQ(j.value("tag", ""), "smoke");
    EXPECT_EQ(j.value("concurrency", 0), i == 0 ? 1 : 2);
    // Signings happened inside the window, none refused (the bench lifted
    // its cluster's issuance limit).
    EXPECT_GT(j.value("signed", 0), 0);
    EXPECT_EQ(j.value("errors", -1), 0);
    EXPECT_FALSE(j.contains("first_error"));
    for (const char* field :
         {"window_s", "signed_per_s", "p50_ms", "p99_ms", "max_ms", "server_cpu_us_per_signing",
          "server_cpu_cores", "client_cpu_us_per_signing"}) {
      ASSERT_TRUE(j.contains(field)) << field;
      EXPECT_TRUE(j[field].is_number()) << field;
    }
    EXPECT_GT(j.value("signed_per_s", 0.0), 0.0);
    EXPECT_GT(j.value("max_ms", 0.0), 0.0);
    EXPECT_LE(j.value("p50_ms", 0.0), j.value("p99_ms", 0.0));
    EXPECT_LE(j.value("p99_ms", 0.0), j.value("max_ms", 0.0));
    // The CA's memory and threads, read from /proc.
    EXPECT_GT(j.value("ca_rss_kb", 0), 0);
    EXPECT_GE(j.value("ca_hwm_kb", 0), j.value("ca_rss_kb", 0));
    EXPECT_GT(j.value("ca_threads", 0), 0);
  }
}

TEST(SigningBenchSmokeTest, WritesCfsslSignRequestsForTheIntermediateProfile) {
  testing::TempDir dir;
  std::string path = dir.Sub("cfssl-requests.jsonl");
  CommandResult run =
      RunCommand(absl::StrCat(SIGNING_BENCH_BINARY, " --csr-pool 3 --write-cfssl-requests ", path));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  absl::StatusOr<std::string> written = ReadFile(path);
  ASSERT_TRUE(written.ok()) << written.status();
  std::vector<nlohmann::json> lines = JsonLines(*written);
  ASSERT_EQ(lines.size(), 3u) << *written;
  std::vector<std::string> csrs;
  for (const nlohmann::json& j : lines) {
    ASSERT_TRUE(j.is_object()) << *written;
    EXPECT_EQ(j.value("profile", ""), "intermediate");
    std::string csr = j.value("certificate_request", "");
    EXPECT_THAT(csr, ::testing::StartsWith("-----BEGIN CERTIFICATE REQUEST-----\n"));
    csrs.push_back(csr);
  }
  // A pool of distinct keys, not one CSR three times.
  EXPECT_NE(csrs[0], csrs[1]);
  EXPECT_NE(csrs[1], csrs[2]);
}

}  // namespace
}  // namespace meshtrust::bench
