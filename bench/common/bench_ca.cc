#include "bench/common/bench_ca.h"

#include <signal.h>
#include <sodium.h>

#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/files.h"
#include "client/ca_client.h"
#include "pki/key.h"
#include "tests/testing/subprocess.h"

namespace meshtrust::bench {
namespace {

// The value after `label` in `meshtrust-ca init`'s report; the admin token
// is on the line after its label.
std::string InitField(const std::string& report, absl::string_view label, bool next_line) {
  std::vector<std::string> lines = absl::StrSplit(report, '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    absl::string_view line = absl::StripLeadingAsciiWhitespace(lines[i]);
    if (!absl::ConsumePrefix(&line, label)) continue;
    if (next_line) {
      return i + 1 < lines.size() ? std::string(absl::StripAsciiWhitespace(lines[i + 1])) : "";
    }
    return std::string(absl::StripAsciiWhitespace(line));
  }
  return "";
}

absl::Status Failed(const grpc::Status& status, absl::string_view what) {
  absl::Status s = client::FromGrpcStatus(status);
  return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
}

}  // namespace

BenchCa::BenchCa(BenchCaOptions options)
    : options_(options),
      process_(testing::CaProcessOptions{options.ca_binary, options.work_dir + "/state",
                                         options.work_dir + "/kek", options.work_dir,
                                         options.serve_args, options.open_files_limit}) {}

BenchCa::~BenchCa() {
  if (process_.process() != nullptr) process_.process()->Kill(SIGTERM);
}

absl::StatusOr<std::unique_ptr<BenchCa>> BenchCa::Start(BenchCaOptions options) {
  std::unique_ptr<BenchCa> ca(new BenchCa(options));
  const std::string kek = options.work_dir + "/kek";
  std::string kek_bytes(32, '\0');
  randombytes_buf(kek_bytes.data(), kek_bytes.size());
  absl::Status written = WriteFileAtomically(kek, kek_bytes, 0600);
  sodium_memzero(kek_bytes.data(), kek_bytes.size());
  if (!written.ok()) return written;

  testing::CommandResult init = testing::RunCommand(absl::StrCat(
      testing::ShellQuote(options.ca_binary), " init --state-dir ",
      testing::ShellQuote(options.work_dir + "/state"), " --kek-file ", testing::ShellQuote(kek)));
  if (init.exit_code != 0) {
    return absl::InternalError(absl::StrCat("meshtrust-ca init failed: ", init.output));
  }
  ca->pin_ = InitField(init.output, "control CA pin:", false);
  std::string admin_token = InitField(init.output, "admin join token", true);
  if (ca->pin_.empty() || admin_token.empty()) {
    return absl::InternalError(
        absl::StrCat("no pin or admin token in meshtrust-ca init's report: ", init.output));
  }

  std::string error;
  ca->address_ = ca->process_.Start(&error);
  if (ca->address_.empty()) return absl::InternalError(error);

  absl::StatusOr<client::Identity> admin =
      client::Enroll(ca->address_, ca->pin_, admin_token, pki::KeyAlgorithm::kEcdsaP256);
  if (!admin.ok()) return admin.status();
  ca->admin_ = std::move(*admin);
  ca->admin_stub_ = v1::Admin::NewStub(
      client::CreateChannel(ca->address_, ca->admin_.control_ca_pem, &ca->admin_));
  return ca;
}

absl::StatusOr<std::string> BenchCa::AddCluster(const std::string& name) {
  v1::AddClusterRequest request;
  request.set_name(name);
  request.mutable_policy()->set_trust_domain("cluster.local");
  v1::AddClusterResponse response;
  auto context = client::NewContext(std::chrono::seconds(60));
  grpc::Status status = admin_stub_->AddCluster(context.get(), request, &response);
  if (!status.ok()) return Failed(status, absl::StrCat("adding cluster ", name));
  return response.token().token();
}

absl::Status BenchCa::LiftIssuanceLimit(const std::string& name) {
  v1::SetIssuanceLimitRequest request;
  request.set_name(name);
  request.mutable_limit()->set_unlimited(true);
  v1::Cluster response;
  auto context = client::NewContext(std::chrono::seconds(60));
  grpc::Status status = admin_stub_->SetIssuanceLimit(context.get(), request, &response);
  if (!status.ok()) return Failed(status, absl::StrCat("lifting ", name, "'s issuance limit"));
  if (!response.policy().issuance().unlimited()) {
    return absl::InternalError(absl::StrCat("the CA kept ", name, "'s issuance limit"));
  }
  return absl::OkStatus();
}

absl::StatusOr<client::Identity> BenchCa::Enroll(const std::string& token) {
  return client::Enroll(address_, pin_, token, pki::KeyAlgorithm::kEcdsaP256,
                        std::chrono::seconds(120));
}

}  // namespace meshtrust::bench
