// JSON log lines are one valid JSON object each, whatever the message holds.
#include "base/logging.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdio.h>
#include <unistd.h>

#include <fstream>
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

// Logs `message` through ConfigureLogging's own stderr logger in `format`
// and returns what reached stderr.
std::string LogThroughConfiguredLogger(const std::string& format, const std::string& message) {
  std::string program = "logging-test-" + format;
  EXPECT_TRUE(ConfigureLogging(program, format, "info").ok());
  std::string path = ::testing::TempDir() + "/" + program + ".log";
  fflush(stderr);
  int saved = dup(STDERR_FILENO);
  FILE* file = fopen(path.c_str(), "w");
  dup2(fileno(file), STDERR_FILENO);
  spdlog::warn("refused {} for \"{}\"", "SignIntermediate", message);
  spdlog::default_logger()->flush();
  fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  fclose(file);
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

const std::string kForging =
    std::string("c1\n[2026-01-01 00:00:00.000] [meshtrust-ca] [info] ok\r") + std::string(1, '\0') +
    "\x1b[2J\t\x7f\xff";

TEST(LoggingTest, TextLinesEscapeControlAndNonPrintableBytes) {
  std::string out = LogThroughConfiguredLogger("text", kForging);
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u) << out;
  EXPECT_THAT(lines[0],
              ::testing::EndsWith(
                  "[logging-test-text] [warning] refused SignIntermediate for \"c1\\n[2026-01-01 "
                  "00:00:00.000] [meshtrust-ca] [info] ok\\r\\0\\x1b[2J\\t\\x7f\\xff\""));
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_EQ(out.find('\0'), std::string::npos);
  EXPECT_EQ(out.find('\x1b'), std::string::npos);
}

TEST(LoggingTest, JsonLinesStayValidJsonWhateverTheBytes) {
  std::string out = LogThroughConfiguredLogger("json", kForging);
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u) << out;
  nlohmann::json line = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(line["logger"], "logging-test-json");
  // Control characters round-trip as JSON escapes; a byte that is not UTF-8
  // arrives as the text \xff.
  EXPECT_EQ(line["msg"],
            "refused SignIntermediate for \"c1\n[2026-01-01 00:00:00.000] "
            "[meshtrust-ca] [info] ok\r" +
                std::string(1, '\0') + "\x1b[2J\t\x7f\\xff\"");
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_EQ(out.find('\0'), std::string::npos);
  EXPECT_EQ(out.find('\x1b'), std::string::npos);
}

TEST(LoggingTest, RejectsUnknownFormatsAndLevels) {
  EXPECT_FALSE(ConfigureLogging("logging-test", "xml", "info").ok());
  EXPECT_FALSE(ConfigureLogging("logging-test", "json", "loud").ok());
  EXPECT_TRUE(ConfigureLogging("logging-test", "json", "warn").ok());
  EXPECT_TRUE(ConfigureLogging("logging-test", "text", "info").ok());
}

}  // namespace
}  // namespace meshtrust
