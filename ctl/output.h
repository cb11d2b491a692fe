// Table and JSON output for meshtrustctl.
#ifndef MESHTRUST_CTL_OUTPUT_H_
#define MESHTRUST_CTL_OUTPUT_H_

#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace meshtrust::ctl {

enum class Format { kTable, kJson, kYaml };

// Rows of string cells under `headers`, aligned in columns.
std::string RenderTable(const std::vector<std::string>& headers,
                        const std::vector<std::vector<std::string>>& rows);

// A JSON document rendered with two-space indentation.
std::string RenderJson(const nlohmann::json& doc);

// The same document as YAML (block style).
std::string RenderYaml(const nlohmann::json& doc);

// `doc` in `format` (kJson or kYaml).
std::string RenderDocument(const nlohmann::json& doc, Format format);

}  // namespace meshtrust::ctl

#endif  // MESHTRUST_CTL_OUTPUT_H_
