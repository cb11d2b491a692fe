// SecretBuffer: a growable buffer for bytes that may hold secret material
// (an HTTP response echoing a private key), built on SecretBytes. Each time
// it grows, the old storage is wiped before it is released, so no unwiped
// copy is left behind as std::string's reallocations leave one.
#ifndef MESHTRUST_BASE_SECRET_BUFFER_H_
#define MESHTRUST_BASE_SECRET_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "absl/strings/string_view.h"
#include "base/secret_bytes.h"

namespace meshtrust {

// Move-only; thread-compatible.
class SecretBuffer {
 public:
  SecretBuffer() = default;

  // Makes room for `capacity` bytes in all (e.g. from a Content-Length), so
  // that appending up to it does not reallocate.
  void Reserve(size_t capacity);
  void Append(absl::string_view bytes);
  size_t size() const { return size_; }
  size_t capacity() const { return storage_.size(); }
  // The contents so far, as plaintext (the same care as
  // SecretBytes::UnsafeSecretString).
  absl::string_view UnsafeSecretString() const {
    return storage_.UnsafeSecretString().substr(0, size_);
  }
  // The contents; the buffer is left empty.
  SecretBytes Take();

  // For tests: called with the old storage each time it is given up on
  // growth, after it is wiped and before it is freed.
  void set_release_observer_for_testing(std::function<void(std::span<const uint8_t>)> observer) {
    release_observer_ = std::move(observer);
  }

 private:
  void Grow(size_t capacity);

  SecretBytes storage_;  // Its size() is the capacity.
  size_t size_ = 0;
  std::function<void(std::span<const uint8_t>)> release_observer_;
};

}  // namespace meshtrust

#endif  // MESHTRUST_BASE_SECRET_BUFFER_H_
