// Running the real binaries and the real openssl from tests.
#ifndef MESHTRUST_TESTS_TESTING_SUBPROCESS_H_
#define MESHTRUST_TESTS_TESTING_SUBPROCESS_H_

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace meshtrust::testing {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, interleaved.
};

// Runs `command` with /bin/sh and captures its output.
inline CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) result.output.append(buf, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Single-quotes `s` for the shell.
inline std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace meshtrust::testing

#endif  // MESHTRUST_TESTS_TESTING_SUBPROCESS_H_
