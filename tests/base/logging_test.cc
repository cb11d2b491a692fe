// JSON log lines are one valid JSON object each, whatever the message holds.
#include "base/logging.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/ostream_sink.h"

namespace meshtrust {
namespace {

TEST(LoggingTest, JsonLinesEscapeTheMessage) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("meshtrust-ca", sink);
  logger.set_formatter(JsonLogFormatter());
  logger.warn("refused \"cluster\\1\"\nnext line\t\x01 {}",
              absl::Status(absl::StatusCode::kInvalidArgument, "bad"));
  logger.info("plain");
  std::vector<std::string> lines = absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << out.str();
  nlohmann::json first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["level"], "warning");
  EXPECT_EQ(first["logger"], "meshtrust-ca");
  EXPECT_EQ(first["msg"], "refused \"cluster\\1\"\nnext line\t\x01 INVALID_ARGUMENT: bad");
  EXPECT_THAT(first["time"].get<std::string>(), ::testing::MatchesRegex("20[0-9-]+T[0-9:.]+Z"));
  EXPECT_EQ(nlohmann::json::parse(lines[1])["msg"], "plain");
}

TEST(LoggingTest, RejectsUnknownFormatsAndLevels) {
  EXPECT_FALSE(ConfigureLogging("logging-test", "xml", "info").ok());
  EXPECT_FALSE(ConfigureLogging("logging-test", "json", "loud").ok());
  EXPECT_TRUE(ConfigureLogging("logging-test", "json", "warn").ok());
  EXPECT_TRUE(ConfigureLogging("logging-test", "text", "info").ok());
}

}  // namespace
}  // namespace meshtrust
