// DER in and out of OpenSSL objects, written once for every type.
//
// Every DER parser in pki/ goes through ParseWholeDer, so each one rejects
// trailing bytes the same way (BoringSSL ssl_privkey.cc:
// `if (!pkey || p != der + der_len)`) and carries the OpenSSL error queue.
#ifndef MESHTRUST_PKI_DER_H_
#define MESHTRUST_PKI_DER_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/strings/substitute.h"
#include "pki/error.h"
#include "pki/ossl.h"
#include "pki/pem.h"

namespace meshtrust::pki {

// What a DER parser says when its input is refused.
struct DerErrors {
  // d2i failed; the OpenSSL error queue is appended.
  absl::string_view not_valid;
  // d2i succeeded but left bytes over; "$0" stands for how many.
  absl::string_view trailing;
};

// Parses exactly one T from `der` with `d2i` (d2i_X509 and the like, or a
// lambda of the same shape: T* d2i(T**, const unsigned char**, long)), which
// must consume every byte. Both refusals are kInvalidArgument. `der` is only
// read, never copied, so it may be a view of SecretBytes.
template <typename T, typename D2i>
absl::StatusOr<ossl::UniquePtr<T>> ParseWholeDer(std::span<const uint8_t> der, D2i d2i,
                                                 const DerErrors& errors) {
  const unsigned char* begin = der.data();
  const unsigned char* p = begin;
  ossl::UniquePtr<T> object(d2i(nullptr, &p, static_cast<long>(der.size())));
  if (object == nullptr) return OpenSslError(absl::StatusCode::kInvalidArgument, errors.not_valid);
  if (p != begin + der.size()) {
    return absl::InvalidArgumentError(
        absl::Substitute(errors.trailing, static_cast<size_t>(begin + der.size() - p)));
  }
  return object;
}

template <typename T, typename D2i>
absl::StatusOr<ossl::UniquePtr<T>> ParseWholeDer(absl::string_view der, D2i d2i,
                                                 const DerErrors& errors) {
  return ParseWholeDer<T>(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(der.data()), der.size()), d2i,
      errors);
}

// One or more PEM blocks labelled `label`, each parsed with `parse_der`.
template <typename T>
absl::StatusOr<std::vector<ossl::UniquePtr<T>>> ParsePemSequenceWith(
    absl::string_view pem, absl::string_view label,
    absl::StatusOr<ossl::UniquePtr<T>> (*parse_der)(absl::string_view)) {
  absl::StatusOr<std::vector<std::string>> ders = DecodePemSequence(pem, label);
  if (!ders.ok()) return ders.status();
  std::vector<ossl::UniquePtr<T>> out;
  out.reserve(ders->size());
  for (const std::string& der : *ders) {
    absl::StatusOr<ossl::UniquePtr<T>> object = parse_der(der);
    if (!object.ok()) return object.status();
    out.push_back(*std::move(object));
  }
  return out;
}

// The DER encoding of a public object with `i2d` (i2d_X509 and the like);
// "" if OpenSSL cannot encode it.
template <typename T, typename I2d>
std::string EncodeDer(const T* object, I2d i2d) {
  int len = i2d(object, nullptr);
  if (len <= 0) return "";
  std::string der(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  if (i2d(object, &p) != len) return "";
  return der;
}

// A DER tag-length-value holding `content` (definite, minimal length): for
// what OpenSSL's setters cannot build, such as the to-be-signed part of a
// certificate signed by a Signer.
std::string DerTlv(uint8_t tag, absl::string_view content);
inline constexpr uint8_t kDerSequence = 0x30;
inline constexpr uint8_t kDerBitString = 0x03;
inline constexpr uint8_t kDerExplicit0 = 0xa0;  // [0] EXPLICIT, constructed.
inline constexpr uint8_t kDerExplicit3 = 0xa3;  // [3] EXPLICIT, constructed.

}  // namespace meshtrust::pki

#endif  // MESHTRUST_PKI_DER_H_
