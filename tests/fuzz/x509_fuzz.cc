// Certificates, chains and CRLs as the agent and the CA read them: root CRLs
// and trust bundles from the CA, intermediate CRLs from other clusters, the
// CA's view of a client certificate.
#include "ca/core/identity.h"
#include "pki/certificate.h"
#include "pki/crl.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

void Inspect(X509* cert) {
  using namespace meshtrust;  // NOLINT(build/namespaces)
  (void)pki::SerialHex(cert);
  (void)pki::SerialBits(cert);
  (void)pki::NotBefore(cert);
  (void)pki::NotAfter(cert);
  (void)pki::SubjectString(cert);
  (void)pki::IssuerString(cert);
  (void)pki::UriSans(cert);
  (void)pki::IsCa(cert);
  (void)pki::PathLen(cert);
  (void)pki::CertificateSha256Hex(cert);
  (void)ca::CallerFromCertificate(cert);
}

void InspectCrl(X509_CRL* crl, X509* issuer) {
  using namespace meshtrust;  // NOLINT(build/namespaces)
  (void)pki::VerifyCrl(crl, issuer);
  (void)pki::CrlNumber(crl);
  (void)pki::CrlThisUpdate(crl);
  (void)pki::CrlNextUpdate(crl);
  (void)pki::RevokedSerials(crl);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshtrust;  // NOLINT(build/namespaces): a fuzz entry point.
  static X509* issuer = fuzz::FixedCa("root").release();  // Lives for the process.
  absl::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto cert = pki::ParseCertificateDer(in); cert.ok()) Inspect(cert->get());
  if (auto chain = pki::ParseCertificateChainPem(in); chain.ok()) {
    for (auto& cert : *chain) Inspect(cert.get());
  }
  if (auto crl = pki::ParseCrlDer(in); crl.ok()) InspectCrl(crl->get(), issuer);
  if (auto crls = pki::ParseCrlsPem(in); crls.ok()) {
    for (auto& crl : *crls) InspectCrl(crl.get(), issuer);
  }
  ERR_clear_error();
  return 0;
}
