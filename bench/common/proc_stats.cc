#include "bench/common/proc_stats.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace meshtrust::bench {
namespace {

// /proc files report a size of 0, so they are read as a stream.
absl::StatusOr<std::string> ReadProcFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The number after `key` ("VmRSS:") on its line of /proc/<pid>/status.
uint64_t StatusField(const std::string& status, absl::string_view key) {
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    if (!absl::ConsumePrefix(&line, key)) continue;
    line = absl::StripAsciiWhitespace(line);
    absl::ConsumeSuffix(&line, " kB");
    uint64_t value = 0;
    return absl::SimpleAtoi(line, &value) ? value : 0;
  }
  return 0;
}

}  // namespace

absl::StatusOr<ProcSample> SampleProcess(pid_t pid) {
  std::string dir = absl::StrCat("/proc/", pid);
  absl::StatusOr<std::string> stat = ReadProcFile(dir + "/stat");
  if (!stat.ok()) return stat.status();
  absl::StatusOr<std::string> status = ReadProcFile(dir + "/status");
  if (!status.ok()) return status.status();
  // The command name (field 2) is in parentheses and may hold spaces; the
  // fields after its closing parenthesis start at field 3 (state), so
  // utime (14) and stime (15) are the 12th and 13th after it.
  size_t close = stat->rfind(')');
  if (close == std::string::npos) {
    return absl::DataLossError(absl::StrCat(dir, "/stat has no command name"));
  }
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(*stat).substr(close + 1), ' ', absl::SkipEmpty());
  uint64_t utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return absl::DataLossError(absl::StrCat(dir, "/stat has no utime and stime"));
  }
  static const long kTicksPerSecond = ::sysconf(_SC_CLK_TCK);  // NOLINT(runtime/int)
  ProcSample sample;
  sample.cpu_us = (utime + stime) * 1000000 / static_cast<uint64_t>(kTicksPerSecond);
  sample.rss_kb = StatusField(*status, "VmRSS:");
  sample.hwm_kb = StatusField(*status, "VmHWM:");
  sample.threads = static_cast<int>(StatusField(*status, "Threads:"));
  return sample;
}

}  // namespace meshtrust::bench
