// The project's logging entry point: spdlog, plus formatting for Abseil types.
// Include this instead of spdlog directly. Never log key material.
#ifndef MESHTRUST_BASE_LOGGING_H_
#define MESHTRUST_BASE_LOGGING_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "spdlog/spdlog.h"

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename Context>
  auto format(absl::string_view s, Context& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(s.data(), s.size()), ctx);
  }
};

template <>
struct fmt::formatter<absl::Status> : fmt::formatter<fmt::string_view> {
  template <typename Context>
  auto format(const absl::Status& s, Context& ctx) const {
    std::string text = s.ToString();
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(text), ctx);
  }
};

namespace meshtrust {

// Makes `program`'s stderr logger the default, in `format` ("text", or
// "json": one object a line with time, level, logger and msg) at `level`.
absl::Status ConfigureLogging(const std::string& program, const std::string& format,
                              const std::string& level);

// The formatters of `--log-format text` and `--log-format json`. Both escape
// every byte of a message outside printable ASCII (\n, \r, \t, \0, \xNN in
// text; JSON escapes, and \xNN for bytes of 0x80 and above, in JSON), so a
// value from outside can neither end a line nor forge one.
std::unique_ptr<spdlog::formatter> TextLogFormatter();
std::unique_ptr<spdlog::formatter> JsonLogFormatter();

}  // namespace meshtrust

#endif  // MESHTRUST_BASE_LOGGING_H_
