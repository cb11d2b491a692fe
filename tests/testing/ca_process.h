// The real meshtrust-ca serving in a child process, for tests that kill it,
// flood it or measure it from outside.
#ifndef MESHTRUST_TESTS_TESTING_CA_PROCESS_H_
#define MESHTRUST_TESTS_TESTING_CA_PROCESS_H_

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/files.h"
#include "tests/testing/subprocess.h"

namespace meshtrust::testing {

struct CaProcessOptions {
  std::string binary;  // MESHTRUST_CA_BINARY.
  std::string state_dir;
  std::string kek_file;
  std::string work_dir;  // Port files and the log go here.
  std::vector<std::string> extra_args;
  int open_files_limit = 0;  // > 0: started under `ulimit -n` (soft and hard).
};

class CaProcess {
 public:
  explicit CaProcess(CaProcessOptions options) : options_(std::move(options)) {}

  // Starts the CA and waits until it serves (it writes its port file), or
  // until it exits; returns its gRPC address, or "" with `error` set. No
  // deadline on how fast it starts: the bound is a safety net for a hung
  // process.
  std::string Start(std::string* error) {
    std::string port_file = absl::StrCat(options_.work_dir, "/port-", ++starts_);
    std::vector<std::string> argv = {
        options_.binary,   "serve",    "--state-dir", options_.state_dir, "--kek-file",
        options_.kek_file, "--listen", "127.0.0.1:0", "--port-file",      port_file};
    argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
    if (options_.open_files_limit > 0) {
      std::string command = absl::StrCat("ulimit -n ", options_.open_files_limit, " && exec");
      for (const std::string& a : argv) absl::StrAppend(&command, " ", ShellQuote(a));
      argv = {"/bin/sh", "-c", command};
    }
    process_ = std::make_unique<ChildProcess>(argv, log_path());
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < end) {
      absl::StatusOr<std::string> port = ReadFile(port_file);
      int n = 0;
      if (port.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*port), &n) && n > 0) {
        return absl::StrCat("127.0.0.1:", n);
      }
      if (process_->Exited()) {
        *error = absl::StrCat("the CA exited before serving: ", log());
        return "";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    *error = absl::StrCat("the CA wrote no port file within 120 s: ", log());
    return "";
  }

  // The port of the listener whose start the log announces with `marker`
  // ("readyz on port ", "CRLs over HTTP on port "), 0 if not (yet) logged.
  int LoggedPort(const std::string& marker) const {
    std::string text = log();
    size_t at = text.rfind(marker);
    if (at == std::string::npos) return 0;
    size_t begin = at + marker.size();
    size_t end = text.find_first_not_of("0123456789", begin);
    int port = 0;
    return absl::SimpleAtoi(text.substr(begin, end - begin), &port) ? port : 0;
  }

  ChildProcess* process() { return process_.get(); }
  std::string log_path() const { return options_.work_dir + "/ca.log"; }
  std::string log() const { return ReadFile(log_path()).value_or(""); }

 private:
  CaProcessOptions options_;
  std::unique_ptr<ChildProcess> process_;
  int starts_ = 0;
};

}  // namespace meshtrust::testing

#endif  // MESHTRUST_TESTS_TESTING_CA_PROCESS_H_
