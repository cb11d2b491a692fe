#include "agent/files/file_sink.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "base/files.h"
#include "base/json_fields.h"
#include "base/logging.h"
#include "nlohmann/json.hpp"

namespace meshtrust::agent {
namespace {

namespace fs = std::filesystem;
constexpr char kDataLink[] = "..data";
constexpr char kMetadataFile[] = "meshtrust.json";

std::string CurrentVersion(const std::string& dir) {
  std::error_code ec;
  fs::path target = fs::read_symlink(fs::path(dir) / kDataLink, ec);
  return ec ? "" : target.filename().string();
}

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

// Removes a data directory, overwriting its key with zeros first (best
// effort: see OverwriteAndRemoveFile).
void RemoveDataDirectory(const std::string& data_dir) {
  std::string key = absl::StrCat(data_dir, "/", kCaKeyFile);
  if (absl::Status s = OverwriteAndRemoveFile(key); !s.ok() && !absl::IsNotFound(s)) {
    spdlog::warn("could not overwrite the previous intermediate key before removing it: {}",
                 s.message());
  }
  std::error_code ec;
  fs::remove_all(data_dir, ec);
}

}  // namespace

absl::Status FileSink::CheckWritable() { return CheckDirectoryWritable(dir_); }

absl::StatusOr<std::optional<InstalledCaCerts>> FileSink::Read() {
  InstalledCaCerts out;
  bool any = false;
  auto read = [&](const char* name, std::string* into) -> absl::Status {
    absl::StatusOr<std::string> data = ReadFile(absl::StrCat(dir_, "/", name), 1 << 20);
    if (absl::IsNotFound(data.status())) return absl::OkStatus();
    if (!data.ok()) return data.status();
    any = true;
    *into = *std::move(data);
    return absl::OkStatus();
  };
  for (auto [name, into] : {std::pair{kCaCertFile, &out.files.ca_cert_pem},
                            std::pair{kCertChainFile, &out.files.cert_chain_pem},
                            std::pair{kRootCertFile, &out.files.root_cert_pem},
                            std::pair{kCaCrlFile, &out.files.ca_crl_pem}}) {
    if (absl::Status s = read(name, into); !s.ok()) return s;
  }
  absl::StatusOr<SecretBytes> key = ReadSecretFile(absl::StrCat(dir_, "/", kCaKeyFile));
  if (key.ok()) {
    any = true;
    out.files.ca_key_pem = *std::move(key);
  } else if (!absl::IsNotFound(key.status())) {
    return key.status();
  }
  if (!any) return std::nullopt;
  out.complete = !out.files.ca_cert_pem.empty() && !out.files.ca_key_pem.empty() &&
                 !out.files.cert_chain_pem.empty() && !out.files.root_cert_pem.empty();
  out.version = CurrentVersion(dir_);
  absl::StatusOr<std::string> meta =
      ReadFile(absl::StrCat(dir_, "/", kDataLink, "/", kMetadataFile), 1 << 16);
  if (meta.ok()) {
    // Metadata that is not ours, or not whole, makes the set unmanaged: the
    // agent then leaves it alone unless told to adopt it.
    nlohmann::json j = nlohmann::json::parse(*meta, nullptr, false);
    absl::StatusOr<std::string> managed_by = JsonString(j, "managed_by");
    absl::StatusOr<std::string> serial = JsonString(j, "serial");
    absl::StatusOr<std::string> not_after = JsonString(j, "not_after");
    absl::StatusOr<std::string> bundle = JsonString(j, "bundle_sha256");
    absl::StatusOr<std::string> crl_set = JsonString(j, "crl_set_sha256");
    if (managed_by.ok() && *managed_by == "meshtrust" && serial.ok() && not_after.ok() &&
        bundle.ok() && crl_set.ok()) {
      out.managed = true;
      out.files.serial = *std::move(serial);
      out.files.not_after = *std::move(not_after);
      out.files.bundle_sha256 = *std::move(bundle);
      out.files.crl_set_sha256 = *std::move(crl_set);
    }
  }
  return out;
}

absl::Status FileSink::Write(const CaCerts& certs, const std::string& expected_version) {
  if (!PathExists(dir_)) {
    if (absl::Status s = MakeDirectory(dir_, 0755); !s.ok()) return s;
  }
  if (CurrentVersion(dir_) != expected_version) {
    return absl::AbortedError(absl::StrCat(Describe(), " changed since it was read"));
  }
  auto stamp = std::chrono::system_clock::now().time_since_epoch().count();
  std::string version = absl::StrCat("..", stamp, ".", ::getpid());
  std::string data_dir = absl::StrCat(dir_, "/", version);
  if (absl::Status s = MakeDirectory(data_dir, 0755); !s.ok()) return s;
  std::string meta = nlohmann::json{{"managed_by", "meshtrust"},
                                    {"serial", certs.serial},
                                    {"not_after", certs.not_after},
                                    {"bundle_sha256", certs.bundle_sha256},
                                    {"crl_set_sha256", certs.crl_set_sha256}}
                         .dump();
  struct File {
    const char* name;
    absl::string_view data;
    mode_t mode;
  };
  std::vector<File> files = {File{kCaCertFile, certs.ca_cert_pem, 0644},
                             File{kCaKeyFile, certs.ca_key_pem.UnsafeSecretString(), 0600},
                             File{kCertChainFile, certs.cert_chain_pem, 0644},
                             File{kRootCertFile, certs.root_cert_pem, 0644},
                             File{kMetadataFile, meta, 0644}};
  if (!certs.ca_crl_pem.empty()) files.push_back(File{kCaCrlFile, certs.ca_crl_pem, 0644});
  for (const File& f : files) {
    if (absl::Status s = WriteFileAtomically(absl::StrCat(data_dir, "/", f.name), f.data, f.mode);
        !s.ok()) {
      RemoveDataDirectory(data_dir);
      return s;
    }
  }
  // Switch ..data in one rename, then make sure the per-file links exist.
  std::string tmp_link = absl::StrCat(dir_, "/..data_tmp.", ::getpid());
  ::unlink(tmp_link.c_str());
  if (::symlink(version.c_str(), tmp_link.c_str()) != 0)
    return Errno("cannot create symlink", tmp_link);
  if (::rename(tmp_link.c_str(), absl::StrCat(dir_, "/", kDataLink).c_str()) != 0) {
    return Errno("cannot switch", absl::StrCat(dir_, "/", kDataLink));
  }
  for (const char* name : {kCaCertFile, kCaKeyFile, kCertChainFile, kRootCertFile, kCaCrlFile}) {
    std::string link = absl::StrCat(dir_, "/", name);
    if (name == std::string(kCaCrlFile) && certs.ca_crl_pem.empty()) {
      ::unlink(link.c_str());
      continue;
    }
    std::string target = absl::StrCat(kDataLink, "/", name);
    std::error_code ec;
    if (fs::is_symlink(link, ec) && fs::read_symlink(link, ec).string() == target) continue;
    std::string tmp = link + ".tmp";
    ::unlink(tmp.c_str());
    if (::symlink(target.c_str(), tmp.c_str()) != 0 || ::rename(tmp.c_str(), link.c_str()) != 0) {
      return Errno("cannot link", link);
    }
  }
  // The previous data directory is no longer reachable.
  if (!expected_version.empty() && expected_version != version) {
    RemoveDataDirectory(absl::StrCat(dir_, "/", expected_version));
  }
  return absl::OkStatus();
}

}  // namespace meshtrust::agent
