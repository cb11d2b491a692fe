#include "base/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace meshtrust {
namespace {

absl::Status ErrnoError(absl::string_view what, const std::string& path, int err) {
  std::string msg = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(msg);
    case EEXIST:
      return absl::AlreadyExistsError(msg);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(msg);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int Close() {
    int r = ::close(fd_);
    fd_ = -1;
    return r;
  }

 private:
  int fd_;
};

std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

template <typename Buffer>
absl::Status ReadInto(const std::string& path, size_t max_bytes, Buffer* out) {
  // O_NONBLOCK: opening a FIFO named by mistake (or by a hostile config) must
  // fail below as "not a regular file", not wait for a writer.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) return ErrnoError("cannot open", path, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode))
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a regular file"));
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is ", st.st_size, " bytes; the limit is ", max_bytes));
  }
  *out = Buffer(static_cast<size_t>(st.st_size));
  size_t done = 0;
  auto* dst = reinterpret_cast<char*>(out->data());
  while (done < out->size()) {
    ssize_t n = ::read(fd.get(), dst + done, out->size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("cannot read", path, errno);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  if (done != out->size())
    return absl::DataLossError(absl::StrCat(path, " changed while being read"));
  return absl::OkStatus();
}

// Adapters so ReadInto can fill a std::string or a SecretBytes.
struct StringBuffer {
  std::string s;
  StringBuffer() = default;
  explicit StringBuffer(size_t n) : s(n, '\0') {}
  char* data() { return s.data(); }
  size_t size() const { return s.size(); }
};
struct SecretBuffer {
  SecretBytes s;
  SecretBuffer() = default;
  explicit SecretBuffer(size_t n) : s(n) {}
  uint8_t* data() { return s.UnsafeSecretView().data(); }
  size_t size() const { return s.size(); }
};

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  StringBuffer buf;
  if (absl::Status s = ReadInto(path, max_bytes, &buf); !s.ok()) return s;
  return std::move(buf.s);
}

absl::StatusOr<SecretBytes> ReadSecretFile(const std::string& path, size_t max_bytes) {
  SecretBuffer buf;
  if (absl::Status s = ReadInto(path, max_bytes, &buf); !s.ok()) return s;
  return std::move(buf.s);
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view data, mode_t mode,
                                 bool exclusive) {
  std::string tmp = absl::StrCat(path, ".tmp.", ::getpid(), ".", ::gettid());
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (fd.get() < 0) return ErrnoError("cannot create", tmp, errno);
  auto cleanup = [&tmp](absl::Status s) {
    ::unlink(tmp.c_str());
    return s;
  };
  if (::fchmod(fd.get(), mode) != 0) return cleanup(ErrnoError("cannot chmod", tmp, errno));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return cleanup(ErrnoError("cannot write", tmp, errno));
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return cleanup(ErrnoError("cannot fsync", tmp, errno));
  if (fd.Close() != 0) return cleanup(ErrnoError("cannot close", tmp, errno));
  if (exclusive) {
    // link() fails if `path` exists, which rename() would silently replace.
    if (::link(tmp.c_str(), path.c_str()) != 0)
      return cleanup(ErrnoError("cannot create", path, errno));
    ::unlink(tmp.c_str());
  } else if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return cleanup(ErrnoError("cannot replace", path, errno));
  }
  std::string dir = DirectoryOf(path);
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() < 0 || ::fsync(dfd.get()) != 0) return ErrnoError("cannot fsync", dir, errno);
  return absl::OkStatus();
}

absl::Status MakeDirectory(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0) return ErrnoError("cannot create directory", path, errno);
  if (::chmod(path.c_str(), mode) != 0) return ErrnoError("cannot chmod", path, errno);
  return absl::OkStatus();
}

absl::Status CheckPrivatePermissions(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoError("cannot stat", path, errno);
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
    return absl::FailedPreconditionError(
        absl::StrCat(path, " has mode ", mode,
                     ", readable or writable by group or others; run chmod go-rwx on it"));
  }
  return absl::OkStatus();
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace meshtrust
