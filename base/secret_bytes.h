// SecretBytes: a buffer for secret material (private keys, data keys, tokens).
//
// The bytes live in memory from sodium_malloc(): guarded, mlock()ed where the
// system allows it, and wiped with sodium_memzero when the buffer is released
// or resized. Move-only. Raw access goes through the one searchable accessor
// `UnsafeSecretView()`, so every place that touches plaintext key bytes can be
// found with grep.
#ifndef MESHTRUST_BASE_SECRET_BYTES_H_
#define MESHTRUST_BASE_SECRET_BYTES_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "absl/strings/string_view.h"

namespace meshtrust {

// Initialises libsodium once per process; safe to call from any thread.
// Aborts if libsodium cannot initialise (no usable randomness source), since
// nothing in meshtrust may run without it.
void EnsureSodiumInitialized();

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(size_t size);  // Zero-filled.
  static SecretBytes CopyOf(std::span<const uint8_t> bytes);
  static SecretBytes CopyOf(absl::string_view bytes);
  ~SecretBytes();

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Shrinks the visible size (the tail is wiped). `n` must be <= size().
  void Truncate(size_t n);

  // The one accessor for the plaintext. Keep the result's lifetime shorter
  // than this object's, and never copy it into an ordinary string.
  std::span<uint8_t> UnsafeSecretView() { return {data_, size_}; }
  std::span<const uint8_t> UnsafeSecretView() const { return {data_, size_}; }
  absl::string_view UnsafeSecretString() const {
    return {reinterpret_cast<const char*>(data_), size_};
  }

  // Constant-time comparison.
  bool Equals(const SecretBytes& other) const;

 private:
  void Release();
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace meshtrust

#endif  // MESHTRUST_BASE_SECRET_BYTES_H_
