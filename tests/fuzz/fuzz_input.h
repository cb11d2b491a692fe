// What the fuzz targets share: splitting one input into parts, and keys and
// certificates that are the same in the seed generator and in every fuzzer
// run, derived by code from fixed labels (so a seed signed by the "root" key
// verifies in the fuzzer too). Test fixtures only: nothing here is secret.
#ifndef MESHTRUST_TESTS_FUZZ_FUZZ_INPUT_H_
#define MESHTRUST_TESTS_FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "pki/ossl.h"

namespace meshtrust::fuzz {

// Parts of a multi-part input are separated by this line.
inline constexpr absl::string_view kPartSeparator = "\n--8<--\n";

// At most `max_parts` parts; the last one takes the rest of the input.
// Missing parts are empty.
std::vector<absl::string_view> SplitParts(const uint8_t* data, size_t size, size_t max_parts);
std::string JoinParts(const std::vector<std::string>& parts);

// A P-256 key whose scalar is SHA-256("meshtrust-fuzz/" + label).
ossl::UniquePtr<EVP_PKEY> FixedKey(absl::string_view label);
// A self-signed CA certificate "CN=meshtrust fuzz <label>" for FixedKey(label).
// Its serial and validity differ from run to run; its name and key do not.
ossl::UniquePtr<X509> FixedCa(absl::string_view label);

// Aborts with `what` when `condition` is false: a broken invariant is a
// finding, reported by the fuzzer like a crash.
void Require(bool condition, const char* what);

}  // namespace meshtrust::fuzz

#endif  // MESHTRUST_TESTS_FUZZ_FUZZ_INPUT_H_
