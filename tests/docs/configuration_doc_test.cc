// docs/configuration.md documents every command and every flag the binaries
// accept: each section's flags are checked against the binary's --help, and
// every subcommand a --help lists has its own section.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "base/files.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace meshtrust {
namespace {

const std::map<std::string, std::string> kBinaries = {{"meshtrust-ca", MESHTRUST_CA_BINARY},
                                                      {"meshtrust-agent", MESHTRUST_AGENT_BINARY},
                                                      {"meshtrustctl", MESHTRUST_CTL_BINARY}};

// Section heading ("meshtrust-ca serve") -> its text.
std::map<std::string, std::string> Sections(const std::string& doc) {
  std::map<std::string, std::string> out;
  std::string current;
  for (absl::string_view line : absl::StrSplit(doc, '\n')) {
    if (absl::StartsWith(line, "## `")) {
      current = std::string(line.substr(4, line.size() - 5));
      out[current];
    } else if (!current.empty()) {
      out[current] += std::string(line) + "\n";
    }
  }
  return out;
}

std::string Options(const std::string& help) {
  size_t from = help.find("Options:");
  size_t to = help.find("Subcommands:");
  return from == std::string::npos ? ""
                                   : help.substr(from, to == std::string::npos ? to : to - from);
}

TEST(ConfigurationDocTest, EveryCommandAndFlagIsDocumented) {
  std::string doc =
      ReadFile(std::string(MESHTRUST_SOURCE_DIR) + "/docs/configuration.md").value_or("");
  std::map<std::string, std::string> sections = Sections(doc);
  ASSERT_GE(sections.size(), 20u);
  for (const auto& [binary, path] : kBinaries) EXPECT_TRUE(sections.count(binary)) << binary;
  std::regex flag("--[a-z][a-z0-9-]+");
  std::regex subcommand("^  ([a-z][a-z-]*) ");
  for (const auto& [name, text] : sections) {
    std::vector<std::string> words = absl::StrSplit(name, ' ');
    ASSERT_TRUE(kBinaries.count(words[0])) << "unknown binary in heading " << name;
    std::string args;
    for (size_t i = 1; i < words.size(); ++i) args += " " + words[i];
    testing::CommandResult help = testing::RunCommand(kBinaries.at(words[0]) + args + " --help");
    ASSERT_EQ(help.exit_code, 0) << name << ": " << help.output;
    std::string options = Options(help.output);
    for (auto it = std::sregex_iterator(options.begin(), options.end(), flag);
         it != std::sregex_iterator(); ++it) {
      EXPECT_TRUE(absl::StrContains(text, it->str()))
          << it->str() << " of `" << name << "` is not in docs/configuration.md "
          << "(run scripts/gen-config-reference.sh)";
    }
    size_t subs = help.output.find("Subcommands:");
    if (subs == std::string::npos) continue;
    for (absl::string_view line : absl::StrSplit(help.output.substr(subs), '\n')) {
      std::smatch m;
      std::string l(line);
      if (!std::regex_search(l, m, subcommand)) continue;
      std::string child = name + " " + m[1].str();
      // Groups (cluster, token, ...) have no flags of their own; their leaves do.
      bool documented = sections.count(child) > 0;
      for (const auto& [other, unused] : sections)
        documented |= absl::StartsWith(other, child + " ");
      EXPECT_TRUE(documented) << "`" << child << "` has no section in docs/configuration.md";
    }
  }
}

// Each ```yaml example starts with "# <binary> --config <file> <subcommand>";
// the binary must accept it (a bad field would stop it before --help).
TEST(ConfigurationDocTest, ConfigFileExamplesAreAccepted) {
  std::string doc =
      ReadFile(std::string(MESHTRUST_SOURCE_DIR) + "/docs/configuration.md").value_or("");
  std::regex block("```yaml\n# (\\S+) --config \\S+ ([a-z -]+)\n([^`]*)```");
  testing::TempDir dir;
  int examples = 0;
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), block); it != std::sregex_iterator();
       ++it, ++examples) {
    std::string binary = (*it)[1], args = (*it)[2], yaml = (*it)[3];
    ASSERT_TRUE(kBinaries.count(binary)) << binary;
    std::string file = dir.Sub("example-" + std::to_string(examples) + ".yaml");
    ASSERT_TRUE(WriteFileAtomically(file, yaml, 0600).ok());
    testing::CommandResult r =
        testing::RunCommand(kBinaries.at(binary) + " --config " + file + " " + args + " --help");
    EXPECT_EQ(r.exit_code, 0) << binary << " refused its documented example:\n" << yaml << r.output;
  }
  EXPECT_GE(examples, 2);
}

}  // namespace
}  // namespace meshtrust
