// A SignIntermediate answer as the agent checks it before installing
// anything: certificate, chain, trust bundle and its digest, each a part.
// Invariant: an accepted answer is everything VerifySignedIntermediate
// promises: a pathlen:0 CA for the agent's own key with keyCertSign and
// cRLSign and no extendedKeyUsage, a chain that starts with it, and a bundle
// that matches its digest and that the certificate chains to.
#include "agent/core/installer.h"
#include "pki/certificate.h"
#include "pki/chain.h"
#include "pki/digest.h"
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
    uint32_t ku = X509_get_key_usage(cert->get());
    fuzz::Require((ku & KU_KEY_CERT_SIGN) != 0 && (ku & KU_CRL_SIGN) != 0,
                  "an accepted answer has keyCertSign and cRLSign");
    fuzz::Require((X509_get_extension_flags(cert->get()) & EXFLAG_XKUSAGE) == 0,
                  "an accepted answer has no extendedKeyUsage");
    auto chain = pki::ParseCertificateChainPem(answer.chain_pem);
    fuzz::Require(
        chain.ok() && pki::CertificateDer((*chain)[0].get()) == pki::CertificateDer(cert->get()),
        "an accepted answer's chain starts with its certificate");
    fuzz::Require(pki::Sha256Hex(answer.roots_pem) == answer.bundle_sha256,
                  "an accepted answer's bundle matches its digest");
    auto roots = pki::ParseCertificateChainPem(answer.roots_pem);
    std::vector<X509*> untrusted, trusted;
    for (size_t i = 1; i < chain->size(); ++i) untrusted.push_back((*chain)[i].get());
    if (roots.ok())
      for (auto& r : *roots) trusted.push_back(r.get());
    pki::ChainCheck check;
    check.at = std::chrono::system_clock::now();
    fuzz::Require(roots.ok() && pki::VerifyChain(cert->get(), untrusted, trusted, check).ok(),
                  "an accepted answer chains to its bundle");
  }
  ERR_clear_error();
  return 0;
}
