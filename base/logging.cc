#include "base/logging.h"

#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace meshtrust {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// Messages carry values from outside (cluster names, CSR subjects, peer
// addresses), so no byte of a message may end a line, move the cursor or
// otherwise pass as anything but text. Bytes outside printable ASCII become
// \n, \r, \t, \0 or \xNN; both formats render them alike.
void AppendByteEscape(unsigned char c, spdlog::memory_buf_t& dest) {
  const char esc[] = {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
  dest.append(esc, esc + sizeof(esc));
}

// %* : the message with every byte outside printable ASCII escaped, so one
// call is one line. In JSON, as the inside of a JSON string: control
// characters as JSON escapes, and bytes of 0x80 and above as the text \xNN,
// so a line is valid UTF-8 and so valid JSON whatever the message holds.
class EscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  explicit EscapedMessage(bool json) : json_(json) {}

  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (char ch : fmt::string_view(msg.payload.data(), msg.payload.size())) {
      auto c = static_cast<unsigned char>(ch);
      std::string_view named;
      if (c == '\n') named = "\\n";
      if (c == '\r') named = "\\r";
      if (c == '\t') named = "\\t";
      if (c == '\0' && !json_) named = "\\0";
      if (!named.empty()) {
        dest.append(named);
      } else if (json_ && (c == '"' || c == '\\')) {
        dest.push_back('\\');
        dest.push_back(ch);
      } else if (c >= 0x20 && c < 0x7f) {
        dest.push_back(ch);
      } else if (json_ && c < 0x80) {
        const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        dest.append(esc, esc + sizeof(esc));
      } else {
        if (json_) dest.push_back('\\');  // A JSON-escaped backslash, then xNN.
        AppendByteEscape(c, dest);
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<EscapedMessage>(json_);
  }

 private:
  const bool json_;
};

}  // namespace

std::unique_ptr<spdlog::formatter> JsonLogFormatter() {
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<EscapedMessage>('*', true).set_pattern(
      R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"%n","msg":"%*"})");
  return formatter;
}

std::unique_ptr<spdlog::formatter> TextLogFormatter() {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<EscapedMessage>('*', false)
      .set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%n] [%l] %*");
  return formatter;
}

absl::Status ConfigureLogging(const std::string& program, const std::string& format,
                              const std::string& level) {
  spdlog::level::level_enum lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(
        "--log-level must be trace, debug, info, warn or error, not \"" + level + "\"");
  }
  if (format != "text" && format != "json") {
    return absl::InvalidArgumentError("--log-format must be text or json, not \"" + format + "\"");
  }
  std::shared_ptr<spdlog::logger> logger = spdlog::get(program);
  if (logger == nullptr) logger = spdlog::stderr_logger_mt(program);
  logger->set_formatter(format == "json" ? JsonLogFormatter() : TextLogFormatter());
  spdlog::set_default_logger(logger);
  spdlog::set_level(lvl);
  return absl::OkStatus();
}

}  // namespace meshtrust
