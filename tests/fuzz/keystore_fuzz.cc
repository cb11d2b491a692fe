// Sealed key files as the keystore reads them from disk (a stolen or
// tampered disk is in the threat model). Invariant: only bytes sealed under
// the KEK for this id open.
#include "keystore/sealed_file_keystore.h"
#include "tests/fuzz/fuzz_input.h"

namespace meshtrust::fuzz {

// The KEK the seed generator seals with; a fixture, not a secret.
SecretBytes FuzzKek() { return SecretBytes::CopyOf(absl::string_view(std::string(32, '\x17'))); }

}  // namespace meshtrust::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshtrust;  // NOLINT(build/namespaces): a fuzz entry point.
  static const SecretBytes* kek = new SecretBytes(fuzz::FuzzKek());
  absl::string_view in(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<keystore::SecretEntry> entry =
      keystore::OpenSealedKey(*kek, "mesh-root-1", in, "fuzz input");
  fuzz::Require(entry.ok() || entry.status().code() == absl::StatusCode::kDataLoss,
                "a bad sealed file is kDataLoss");
  return 0;
}
