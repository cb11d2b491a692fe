// docs/threat-model.md names the test that shows each mitigation: every
// test and fuzz target it names exists, and every fuzz target is named.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <set>

#include "base/files.h"

namespace meshtrust {
namespace {

const std::string kSource = MESHTRUST_SOURCE_DIR;

std::set<std::string> Matches(const std::string& text, const std::regex& re, int group = 1) {
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
       ++it) {
    out.insert((*it)[group]);
  }
  return out;
}

// "Suite.Test" for every TEST, TEST_F and TEST_P in tests/.
std::set<std::string> DefinedTests() {
  std::set<std::string> out;
  std::regex test(R"(TEST(?:_F|_P)?\((\w+),\s*(\w+)\))");
  for (const auto& entry : std::filesystem::recursive_directory_iterator(kSource + "/tests")) {
    if (entry.path().extension() != ".cc") continue;
    std::string text = ReadFile(entry.path().string()).value_or("");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), test);
         it != std::sregex_iterator(); ++it) {
      out.insert(std::string((*it)[1]) + "." + std::string((*it)[2]));
    }
  }
  return out;
}

TEST(ThreatModelDocTest, EveryNamedTestExists) {
  std::string doc = ReadFile(kSource + "/docs/threat-model.md").value_or("");
  ASSERT_FALSE(doc.empty());
  std::set<std::string> defined = DefinedTests();
  std::set<std::string> named = Matches(doc, std::regex(R"(`([A-Z]\w+\.(?:\w+|\*))`)"));
  EXPECT_GE(named.size(), 40u);
  for (const std::string& name : named) {
    if (name.size() > 2 && name.substr(name.size() - 2) == ".*") {
      std::string suite = name.substr(0, name.size() - 1);
      bool any = false;
      for (const std::string& d : defined) any = any || d.rfind(suite, 0) == 0;
      EXPECT_TRUE(any) << "docs/threat-model.md names suite " << name << ", which has no tests";
    } else {
      EXPECT_TRUE(defined.count(name))
          << "docs/threat-model.md names " << name << ", which is not a test";
    }
  }
}

TEST(ThreatModelDocTest, EveryFuzzTargetIsNamedAndExists) {
  std::string doc = ReadFile(kSource + "/docs/threat-model.md").value_or("");
  std::set<std::string> named = Matches(doc, std::regex(R"(`(\w+_fuzz)`)"));
  std::set<std::string> targets;
  for (const auto& entry : std::filesystem::directory_iterator(kSource + "/tests/fuzz")) {
    std::string stem = entry.path().stem().string();
    if (entry.path().extension() == ".cc" && stem.size() > 5 &&
        stem.substr(stem.size() - 5) == "_fuzz") {
      targets.insert(stem);
    }
  }
  // ...and every source is built as a fuzzer.
  std::string cmake = ReadFile(kSource + "/tests/fuzz/CMakeLists.txt").value_or("");
  std::set<std::string> built = Matches(cmake, std::regex(R"(\nmeshtrust_fuzzer\((\w+))"));
  EXPECT_FALSE(targets.empty());
  EXPECT_EQ(named, targets);
  EXPECT_EQ(built, targets);
}

}  // namespace
}  // namespace meshtrust
