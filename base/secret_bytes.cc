#include "base/secret_bytes.h"

#include <sodium.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <utility>

namespace meshtrust {

void EnsureSodiumInitialized() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) std::abort();
  });
}

SecretBytes::SecretBytes(size_t size) {
  EnsureSodiumInitialized();
  if (size == 0) return;
  data_ = static_cast<uint8_t*>(sodium_malloc(size));
  if (data_ == nullptr) throw std::bad_alloc();
  sodium_memzero(data_, size);
  size_ = size;
}

SecretBytes SecretBytes::CopyOf(std::span<const uint8_t> bytes) {
  SecretBytes out(bytes.size());
  if (!bytes.empty()) std::memcpy(out.data_, bytes.data(), bytes.size());
  return out;
}

SecretBytes SecretBytes::CopyOf(absl::string_view bytes) {
  return CopyOf(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

SecretBytes::~SecretBytes() { Release(); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void SecretBytes::Truncate(size_t n) {
  if (n >= size_) return;
  sodium_memzero(data_ + n, size_ - n);
  size_ = n;
}

bool SecretBytes::Equals(const SecretBytes& other) const {
  if (size_ != other.size_) return false;
  if (size_ == 0) return true;
  // Constant time: the comparison must not reveal where the secrets differ.
  return sodium_memcmp(data_, other.data_, size_) == 0;
}

void SecretBytes::Release() {
  if (data_ != nullptr) {
    // sodium_free wipes the whole allocation before unmapping it.
    sodium_free(data_);
    data_ = nullptr;
  }
  size_ = 0;
}

}  // namespace meshtrust
