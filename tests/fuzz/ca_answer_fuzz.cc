// A SignIntermediate answer as the agent checks it before installing
// anything: certificate, chain, trust bundle and its digest, each a part.
// Invariant: an accepted answer is a CA certificate for the agent's own key.
#include "agent/core/installer.h"
#include "pki/certificate.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshtrust;  // NOLINT(build/namespaces): a fuzz entry point.
  static EVP_PKEY* our_key = fuzz::FixedKey("intermediate").release();  // Lives for the process.
  std::vector<absl::string_view> parts = fuzz::SplitParts(data, size, 4);
  agent::SignedIntermediate answer;
  answer.certificate_pem = std::string(parts[0]);
  answer.chain_pem = std::string(parts[1]);
  answer.roots_pem = std::string(parts[2]);
  answer.bundle_sha256 = std::string(parts[3]);
  absl::Status verdict =
      agent::VerifySignedIntermediate(answer, our_key, std::chrono::system_clock::now());
  if (verdict.ok()) {
    auto cert = pki::ParseCertificatePem(answer.certificate_pem);
    fuzz::Require(cert.ok() && pki::IsCa(cert->get()) && pki::PathLen(cert->get()) == 0,
                  "an accepted answer is a pathlen:0 CA");
    fuzz::Require(EVP_PKEY_eq(pki::PublicKeyOf(cert->get()), our_key) == 1,
                  "an accepted answer certifies our key");
  }
  ERR_clear_error();
  return 0;
}
