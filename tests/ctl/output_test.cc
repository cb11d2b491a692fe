// meshtrustctl's table, JSON and YAML renderings.
#include "ctl/output.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace meshtrust::ctl {
namespace {

TEST(OutputTest, YamlQuotesStringsThatWouldReadAsOtherTypes) {
  nlohmann::json doc = {{"name", "cluster1"}, {"enabled", true}, {"serial", "1234"},
                        {"note", "yes"},      {"count", 3},      {"roots", {"a", "b"}},
                        {"empty", ""}};
  EXPECT_EQ(RenderYaml(doc),
            "count: 3\n"
            "empty: \"\"\n"
            "enabled: true\n"
            "name: \"cluster1\"\n"
            "note: \"yes\"\n"
            "roots:\n"
            "  - \"a\"\n"
            "  - \"b\"\n"
            "serial: \"1234\"\n");
  EXPECT_EQ(RenderDocument(doc, Format::kJson), doc.dump(2) + "\n");
}

TEST(OutputTest, TablesAlignColumns) {
  EXPECT_EQ(RenderTable({"NAME", "ENABLED"}, {{"cluster1", "yes"}, {"c2", "no"}}),
            "NAME      ENABLED\n"
            "cluster1  yes\n"
            "c2        no\n");
}

}  // namespace
}  // namespace meshtrust::ctl
