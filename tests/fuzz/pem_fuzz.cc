// The strict PEM reader every PEM input goes through (CSRs, certificates,
// bundles, CRLs, keys). Invariant: what it decodes re-encodes and decodes to
// the same bytes.
#include "pki/pem.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshtrust;  // NOLINT(build/namespaces): a fuzz entry point.
  absl::string_view in(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<pki::PemBlock>> blocks = pki::DecodePemBlocks(in);
  if (blocks.ok()) {
    fuzz::Require(!blocks->empty(), "at least one block");
    for (const pki::PemBlock& block : *blocks) {
      absl::StatusOr<std::string> again =
          pki::DecodeSinglePem(pki::EncodePem(block.der, block.label), block.label);
      fuzz::Require(again.ok() && *again == block.der, "PEM round trip");
    }
  }
  (void)pki::DecodeSinglePem(in, "CERTIFICATE REQUEST");
  (void)pki::DecodePemSequence(in, "CERTIFICATE");
  absl::StatusOr<pki::PemSecretBlock> secret = pki::DecodeSecretPem(SecretBytes::CopyOf(in));
  fuzz::Require(secret.ok() == (blocks.ok() && blocks->size() == 1),
                "the secret reader agrees with the public one");
  return 0;
}
