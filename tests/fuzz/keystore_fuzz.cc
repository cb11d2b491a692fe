// Sealed key files as the keystore reads them from disk (a stolen or
// tampered disk is in the threat model). Invariant: only bytes sealed under
// the KEK for this id open.
#include "keystore/sealed_file_keystore.h"
#include "pki/key.h"
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
  if (entry.ok()) {
    // The seed generator sealed FixedKey("root") as "mesh-root-1" (and
    // another key as "mesh-root-2"): anything that opens as "mesh-root-1"
    // must be exactly that key, not merely some well-formed secret.
    static EVP_PKEY* expected = fuzz::FixedKey("root").release();  // Lives for the process.
    absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> opened =
        entry->format == keystore::kFormatPkcs8 ? pki::PrivateKeyFromPkcs8Der(entry->secret)
                                                : absl::DataLossError("not PKCS#8");
    fuzz::Require(opened.ok() && EVP_PKEY_eq(opened->get(), expected) == 1,
                  "only the key sealed under this id opens under it");
  }
  return 0;
}
