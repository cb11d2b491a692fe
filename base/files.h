// Small, careful file operations shared by every binary.
#ifndef MESHTRUST_BASE_FILES_H_
#define MESHTRUST_BASE_FILES_H_

#include <sys/types.h>

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/secret_bytes.h"

namespace meshtrust {

// Reads a whole file; kNotFound when it does not exist, kInvalidArgument when
// it is larger than `max_bytes`.
absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes = 16 << 20);
// The same into wiped memory, for key files and passphrases.
absl::StatusOr<SecretBytes> ReadSecretFile(const std::string& path, size_t max_bytes = 1 << 20);

// Writes `data` to `path` atomically: a temporary file in the same directory
// with `mode`, fsync, rename over `path`, fsync of the directory. Readers see
// the old content or the new, never a mix. With `exclusive`, fails with
// kAlreadyExists instead of replacing an existing `path`.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view data, mode_t mode,
                                 bool exclusive = false);

// Creates a directory with `mode` (not its parents); kAlreadyExists if present.
absl::Status MakeDirectory(const std::string& path, mode_t mode);

// Whether files can be made in directory `dir`, or `dir` made in its parent
// (which must exist): kNotFound when neither exists, kFailedPrecondition when
// `dir` is not a directory, kPermissionDenied when this process may not
// write there. Writes nothing.
absl::Status CheckDirectoryWritable(const std::string& dir);

// kFailedPrecondition when `path` (file or directory) can be written or read
// by group or others, the mistake that leaks a state directory, when it is a
// symbolic link (not followed), or when the effective user does not own it.
absl::Status CheckPrivatePermissions(const std::string& path);

// ReadFile for a file that holds a secret: opened without following a
// symbolic link and checked on the open descriptor (kFailedPrecondition
// naming the file and the chmod or chown to run): a regular file owned by
// the effective user, with no permission bits for group or others.
absl::StatusOr<std::string> ReadPrivateFile(const std::string& path, size_t max_bytes);
// The same into wiped memory, for a file that holds a private key.
absl::StatusOr<SecretBytes> ReadPrivateSecretFile(const std::string& path,
                                                  size_t max_bytes = 1 << 20);

// The same into wiped memory for a key-encryption key or passphrase file,
// which may also be a key of a Kubernetes Secret volume: `dir/name` linking
// to `..data/name` (the kubelet's layout, the one link followed), a
// read-only file owned by the effective user or root, readable by no one
// else but, with the pod's fsGroup, the process's own group (0440).
absl::StatusOr<SecretBytes> ReadKeyEncryptionKeyFile(const std::string& path, size_t max_bytes);

// Overwrites the regular file `path` (not followed if it is a link) with
// zeros, fsyncs it and unlinks it, so a key it held is not left in the freed
// blocks. Best effort: on copy-on-write or journaling file systems (btrfs,
// ZFS, data=journal ext4), SSDs and snapshots the old blocks may survive.
// kNotFound when there is no such file.
absl::Status OverwriteAndRemoveFile(const std::string& path);

bool PathExists(const std::string& path);

}  // namespace meshtrust

#endif  // MESHTRUST_BASE_FILES_H_
