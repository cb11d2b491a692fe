// The agent's identity file as it reads it back from its state directory (a
// tampered or damaged disk). Invariants: a bad file is kDataLoss, never an
// exception; a good one survives being written and read again unchanged.
#include "agent/files/file_identity_store.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshtrust;  // NOLINT(build/namespaces): a fuzz entry point.
  absl::string_view in(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<client::Identity> id = agent::ParseIdentityFile(in, "identity.json");
  if (!id.ok()) {
    fuzz::Require(id.status().code() == absl::StatusCode::kDataLoss,
                  "a bad identity file is kDataLoss");
    return 0;
  }
  SecretBytes again = agent::EncodeIdentityFile(*id);
  absl::StatusOr<client::Identity> reread =
      agent::ParseIdentityFile(again.UnsafeSecretString(), "identity.json");
  fuzz::Require(reread.ok(), "an identity file we wrote reads back");
  fuzz::Require(
      reread->identity == id->identity && reread->certificate_pem == id->certificate_pem &&
          reread->control_ca_pem == id->control_ca_pem && reread->key_pem.Equals(id->key_pem),
      "an identity file reads back unchanged");
  return 0;
}
