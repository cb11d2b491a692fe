#include "base/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
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
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = other.fd_;
      other.fd_ = -1;
    }
    return *this;
  }
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

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string ModeString(mode_t mode) {
  char out[8];
  std::snprintf(out, sizeof(out), "%04o", static_cast<unsigned>(mode & 07777));
  return out;
}

absl::Status SymlinkError(const std::string& path) {
  return absl::FailedPreconditionError(absl::StrCat(
      path, " is a symbolic link; give the file or directory itself, not a link to it"));
}

absl::Status OwnerError(const std::string& path, const struct stat& st) {
  return absl::FailedPreconditionError(
      absl::StrCat(path, " is owned by uid ", st.st_uid, ", not by uid ", ::geteuid(),
                   " that this process runs as; run chown ", ::geteuid(), " ", path));
}

// Opens `open_path` (named `path` in errors) with `access` without following
// a final symbolic link, and requires a regular file. O_NONBLOCK: opening a
// FIFO named by mistake (or by a hostile config) must fail as "not a regular
// file", not wait for a writer.
absl::Status OpenRegularFile(const std::string& open_path, const std::string& path, int access,
                             Fd* out, struct stat* st) {
  Fd fd(::open(open_path.c_str(), access | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW));
  if (fd.get() < 0) {
    if (errno == ELOOP) return SymlinkError(path);
    return ErrnoError("cannot open", path, errno);
  }
  if (::fstat(fd.get(), st) != 0) return ErrnoError("cannot stat", path, errno);
  if (!S_ISREG(st->st_mode))
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a regular file"));
  *out = std::move(fd);
  return absl::OkStatus();
}

bool InOurGroups(gid_t gid) {
  if (gid == ::getegid()) return true;
  gid_t groups[256];
  int n = ::getgroups(256, groups);
  for (int i = 0; i < n; ++i) {
    if (groups[i] == gid) return true;
  }
  return false;
}

// How a file that holds a secret may be reached and owned.
enum class SecretAccess {
  // The file itself (no link), owned by us, no bits for group or others.
  kPrivate,
  // kPrivate, or a key in a Kubernetes Secret volume: `dir/name` links to
  // `..data/name` and `dir/..data` to the kubelet's current directory; that
  // file is read-only, owned by us or root, and readable by no one but its
  // owner and, with the pod's fsGroup, our own group (0440 root:<fsGroup>).
  kPrivateOrKubernetesSecret,
};

// Opens `path` for reading a secret as `access` allows; checks are made on
// the open descriptor, so the file checked is the file read.
absl::Status OpenSecret(const std::string& path, SecretAccess access, Fd* out) {
  struct stat link;
  if (::lstat(path.c_str(), &link) != 0) return ErrnoError("cannot stat", path, errno);
  std::string open_path = path;
  bool kubernetes = false;
  if (S_ISLNK(link.st_mode)) {
    char target[PATH_MAX];
    ssize_t n = ::readlink(path.c_str(), target, sizeof(target) - 1);
    std::string data_dir = absl::StrCat(DirectoryOf(path), "/..data");
    struct stat data;
    kubernetes = access == SecretAccess::kPrivateOrKubernetesSecret && n > 0 &&
                 std::string(target, static_cast<size_t>(n)) == "..data/" + BaseName(path) &&
                 ::lstat(data_dir.c_str(), &data) == 0 && S_ISLNK(data.st_mode);
    if (!kubernetes) {
      return absl::FailedPreconditionError(absl::StrCat(
          path,
          " is a symbolic link; give the file itself (a link is followed only as a Kubernetes "
          "Secret volume lays it out: ",
          BaseName(path), " -> ..data/", BaseName(path), ")"));
    }
    // `..data` is followed; the file itself must not be a link.
    open_path = absl::StrCat(data_dir, "/", BaseName(path));
  }
  Fd fd(-1);
  struct stat st;
  if (absl::Status s = OpenRegularFile(open_path, path, O_RDONLY, &fd, &st); !s.ok()) return s;
  bool owner_ok = st.st_uid == ::geteuid() || (kubernetes && st.st_uid == 0);
  if (!owner_ok) return OwnerError(path, st);
  mode_t allowed_group = kubernetes && InOurGroups(st.st_gid) ? S_IRGRP : 0;
  if ((st.st_mode & 077 & ~allowed_group) != 0 || (kubernetes && (st.st_mode & 0222) != 0)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " has mode ", ModeString(st.st_mode),
                     ", readable or writable by group or others; run chmod 600 ", path));
  }
  *out = std::move(fd);
  return absl::OkStatus();
}

template <typename Buffer>
absl::Status ReadFd(const Fd& fd, const std::string& path, size_t max_bytes, Buffer* out) {
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

template <typename Buffer>
absl::Status ReadInto(const std::string& path, size_t max_bytes, Buffer* out) {
  // O_NONBLOCK: opening a FIFO named by mistake (or by a hostile config) must
  // fail below as "not a regular file", not wait for a writer.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) return ErrnoError("cannot open", path, errno);
  return ReadFd(fd, path, max_bytes, out);
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

absl::StatusOr<std::string> ReadPrivateFile(const std::string& path, size_t max_bytes) {
  Fd fd(-1);
  if (absl::Status s = OpenSecret(path, SecretAccess::kPrivate, &fd); !s.ok()) return s;
  StringBuffer buf;
  if (absl::Status s = ReadFd(fd, path, max_bytes, &buf); !s.ok()) return s;
  return std::move(buf.s);
}

absl::StatusOr<SecretBytes> ReadPrivateSecretFile(const std::string& path, size_t max_bytes) {
  Fd fd(-1);
  if (absl::Status s = OpenSecret(path, SecretAccess::kPrivate, &fd); !s.ok()) return s;
  SecretBuffer buf;
  if (absl::Status s = ReadFd(fd, path, max_bytes, &buf); !s.ok()) return s;
  return std::move(buf.s);
}

absl::StatusOr<SecretBytes> ReadKeyEncryptionKeyFile(const std::string& path, size_t max_bytes) {
  Fd fd(-1);
  if (absl::Status s = OpenSecret(path, SecretAccess::kPrivateOrKubernetesSecret, &fd); !s.ok()) {
    return s;
  }
  SecretBuffer buf;
  if (absl::Status s = ReadFd(fd, path, max_bytes, &buf); !s.ok()) return s;
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

absl::Status CheckDirectoryWritable(const std::string& dir) {
  struct stat st;
  std::string target = dir;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return ErrnoError("cannot stat", dir, errno);
    // Made by the first write: its parent must take it.
    size_t slash = dir.find_last_not_of('/');
    slash = slash == std::string::npos ? std::string::npos : dir.rfind('/', slash);
    target = slash == std::string::npos ? "." : slash == 0 ? "/" : dir.substr(0, slash);
    if (::stat(target.c_str(), &st) != 0) {
      if (errno == ENOENT) {
        return absl::NotFoundError(
            absl::StrCat("neither ", dir, " nor its parent ", target, " exists; create ", target));
      }
      return ErrnoError("cannot stat", target, errno);
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(target, " is not a directory"));
  }
  if (::access(target.c_str(), W_OK | X_OK) != 0) {
    return absl::PermissionDeniedError(absl::StrCat("this process (uid ", ::geteuid(),
                                                    ") may not write in ", target, ": ",
                                                    std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status CheckPrivatePermissions(const std::string& path) {
  // O_NOFOLLOW on an O_PATH descriptor: a link is seen as a link, and what
  // is checked below is what the path names now.
  Fd fd(::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError("cannot stat", path, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("cannot stat", path, errno);
  if (S_ISLNK(st.st_mode)) return SymlinkError(path);
  if (st.st_uid != ::geteuid()) return OwnerError(path, st);
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " has mode ", ModeString(st.st_mode),
                     ", readable or writable by group or others; run chmod go-rwx on it"));
  }
  return absl::OkStatus();
}

absl::Status OverwriteAndRemoveFile(const std::string& path) {
  Fd fd(-1);
  struct stat st;
  if (absl::Status s = OpenRegularFile(path, path, O_WRONLY, &fd, &st); !s.ok()) return s;
  static constexpr char kZeros[4096] = {};
  off_t done = 0;
  while (done < st.st_size) {
    size_t n = static_cast<size_t>(std::min<off_t>(sizeof(kZeros), st.st_size - done));
    ssize_t w = ::pwrite(fd.get(), kZeros, n, done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return ErrnoError("cannot overwrite", path, errno);
    done += w;
  }
  if (::fsync(fd.get()) != 0) return ErrnoError("cannot fsync", path, errno);
  if (fd.Close() != 0) return ErrnoError("cannot close", path, errno);
  if (::unlink(path.c_str()) != 0) return ErrnoError("cannot remove", path, errno);
  return absl::OkStatus();
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace meshtrust
