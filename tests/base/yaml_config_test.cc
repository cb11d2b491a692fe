// --config FILE: YAML sections per subcommand, the command line winning, and
// a clear error for every kind of bad file.
#include "base/yaml_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/files.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace meshtrust {
namespace {

using ::meshtrust::testing::IsOk;
using ::testing::HasSubstr;

struct Flags {
  std::string level = "info";
  std::string listen = "127.0.0.1:8443";
  int seconds = 30;
  bool adopt = false;
  std::vector<std::string> names;
  std::string verify_key;
};

class YamlConfigTest : public ::testing::Test {
 protected:
  // Parses `args` (after the program name) with `yaml` as --config; returns
  // the error message, or "" on success.
  std::string Parse(const std::string& yaml, std::vector<std::string> args = {"serve"}) {
    std::string path = dir_.Sub("config.yaml");
    EXPECT_THAT(WriteFileAtomically(path, yaml, 0600), IsOk());
    CLI::App app{"test"};
    EnableYamlConfig(&app);
    app.add_option("--log-level", flags_.level);
    CLI::App* serve = app.add_subcommand("serve");
    serve->add_option("--listen", flags_.listen);
    serve->add_option("--seconds", flags_.seconds)->check(CLI::PositiveNumber);
    serve->add_flag("--adopt", flags_.adopt);
    serve->add_option("--names", flags_.names);
    CLI::App* audit = app.add_subcommand("audit");
    audit->add_subcommand("verify")->add_option("--public-key", flags_.verify_key);
    std::vector<std::string> argv = {"test", "--config", path};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<const char*> raw;
    for (const std::string& a : argv) raw.push_back(a.c_str());
    try {
      app.parse(static_cast<int>(raw.size()), raw.data());
    } catch (const CLI::Error& e) {
      return e.what();
    }
    return "";
  }

  testing::TempDir dir_;
  Flags flags_;
};

TEST_F(YamlConfigTest, ReadsSectionsListsFlagsAndNestedSubcommands) {
  EXPECT_EQ(Parse("log-level: debug\n"
                  "serve:\n  listen: 0.0.0.0:9443\n  seconds: 5\n  adopt: true\n"
                  "  names: [a, b]\n"
                  "audit:\n  verify:\n    public-key: /k\n"),
            "");
  EXPECT_EQ(flags_.level, "debug");
  EXPECT_EQ(flags_.listen, "0.0.0.0:9443");
  EXPECT_EQ(flags_.seconds, 5);
  EXPECT_TRUE(flags_.adopt);
  EXPECT_THAT(flags_.names, ::testing::ElementsAre("a", "b"));
  EXPECT_EQ(flags_.verify_key, "/k");
}

TEST_F(YamlConfigTest, TheCommandLineWins) {
  EXPECT_EQ(
      Parse("serve:\n  listen: 0.0.0.0:9443\n  seconds: 5\n", {"serve", "--listen", "127.0.0.1:1"}),
      "");
  EXPECT_EQ(flags_.listen, "127.0.0.1:1");
  EXPECT_EQ(flags_.seconds, 5);
  EXPECT_EQ(Parse(""), "") << "an empty file is no configuration";
}

TEST_F(YamlConfigTest, EveryKindOfBadFileIsNamed) {
  struct Case {
    std::string yaml, fragment;
  } cases[] = {
      {"serve:\n  listne: x\n", "unknown field \"serve.listne\""},
      {"serve:\n  config: other.yaml\n", "unknown field \"serve.config\""},
      {"bogus: 1\n", "unknown field \"bogus\""},
      {"nosuch:\n  a: 1\n", "\"nosuch\" is not a subcommand"},
      {"serve:\n  listen:\n    host: x\n", "\"serve.listen\" is not a subcommand"},
      {"serve:\n  names: [[a], b]\n", "\"serve.names\" must be a list of plain values"},
      {"serve:\n  listen:\n", "\"serve.listen\" has no value"},
      {"serve: [1, 2]\n", "unknown field \"serve\""},
      {"- a\n- b\n", "must be a map of flags and subcommand sections"},
      {"serve: {listen: [unclosed\n", "is not valid YAML"},
      {"serve:\n  seconds: many\n", "many"},
      {"serve:\n  seconds: -4\n", "-4"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.yaml);
    std::string error = Parse(c.yaml);
    EXPECT_THAT(error, HasSubstr(c.fragment));
    if (c.fragment != "many" && c.fragment != "-4") {
      EXPECT_THAT(error, HasSubstr("config file " + dir_.Sub("config.yaml")));
    }
  }
}

TEST_F(YamlConfigTest, AMissingFileIsAnError) {
  CLI::App app{"test"};
  EnableYamlConfig(&app);
  std::vector<const char*> argv = {"test", "--config", "/nonexistent/meshtrust.yaml"};
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
    ADD_FAILURE() << "a missing config file was accepted";
  } catch (const CLI::Error& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("/nonexistent/meshtrust.yaml"));
  }
}

}  // namespace
}  // namespace meshtrust
