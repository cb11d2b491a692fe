#include "base/secret_buffer.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

namespace meshtrust {

void SecretBuffer::Reserve(size_t capacity) {
  if (capacity > storage_.size()) Grow(capacity);
}

void SecretBuffer::Append(absl::string_view bytes) {
  if (bytes.empty()) return;
  if (size_ + bytes.size() > storage_.size()) {
    Grow(std::max({size_ + bytes.size(), storage_.size() * 2, size_t{256}}));
  }
  std::memcpy(storage_.UnsafeSecretView().data() + size_, bytes.data(), bytes.size());
  size_ += bytes.size();
}

void SecretBuffer::Grow(size_t capacity) {
  SecretBytes bigger(capacity);
  if (size_ > 0)
    std::memcpy(bigger.UnsafeSecretView().data(), storage_.UnsafeSecretView().data(), size_);
  SecretBytes old = std::move(storage_);
  storage_ = std::move(bigger);
  // SecretBytes wipes when it is freed as well; wiping here first keeps the
  // promise visible (and observable) in this class.
  if (!old.empty()) {
    sodium_memzero(old.UnsafeSecretView().data(), old.size());
    if (release_observer_) release_observer_(old.UnsafeSecretView());
  }
}

SecretBytes SecretBuffer::Take() {
  SecretBytes out = std::move(storage_);
  out.Truncate(size_);
  size_ = 0;
  return out;
}

}  // namespace meshtrust
