// CSRs as the CA receives them: parsing, the structure and key policy checks,
// and, for a CSR the policy accepts, issuance from the intermediate profile.
// Invariant: nothing but the public key ever comes from the CSR.
#include "base/clock.h"
#include "ca/core/policy.h"
#include "ca/core/profiles.h"
#include "pki/certificate.h"
#include "pki/csr.h"
#include "tests/fuzz/fuzz_input.h"

namespace meshtrust::fuzz {
namespace {

struct Issuer {
  ossl::UniquePtr<EVP_PKEY> key = FixedKey("root");
  ossl::UniquePtr<X509> cert = FixedCa("root");
};

void IssueAndCheck(X509_REQ* csr) {
  static Issuer* issuer = new Issuer();
  // The production profile, exactly as the Authority fills it in for a
  // cluster with the default policy.
  ca::profiles::IntermediateInputs in;
  in.organization = "meshtrust";
  in.cluster = "cluster1";
  in.issued_at = FromUnixSeconds(1);
  in.not_before = std::chrono::system_clock::now();
  in.not_after = in.not_before + std::chrono::hours(1);
  pki::CertificateTemplate t = ca::profiles::ClusterIntermediate(in);
  absl::StatusOr<ossl::UniquePtr<X509>> cert =
      pki::IssueCertificate(t, pki::PublicKeyOf(csr), issuer->cert.get(), issuer->key.get());
  Require(cert.ok(), "an accepted CSR can be issued");
  Require(
      pki::SubjectString(cert->get()) == "CN=cluster1 intermediate CA 1,OU=cluster1,O=meshtrust",
      "the subject comes from the template");
  Require(pki::IsCa(cert->get()) && pki::PathLen(cert->get()) == 0, "CA:TRUE, pathlen:0");
  Require(pki::UriSans(cert->get()).empty(), "no SAN from the CSR");
  Require((X509_get_extension_flags(cert->get()) & EXFLAG_XKUSAGE) == 0, "no EKU");
  Require(pki::PermitsKeyUsage(cert->get(), pki::kKeyCertSign | pki::kCrlSign),
          "keyCertSign and cRLSign");
  // Exactly the profile's extensions: basicConstraints, keyUsage, SKI, AKI.
  Require(X509_get_ext_count(cert->get()) == 4, "only the profile's extensions");
}

}  // namespace
}  // namespace meshtrust::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshtrust;  // NOLINT(build/namespaces): a fuzz entry point.
  absl::StatusOr<ossl::UniquePtr<X509_REQ>> csr =
      pki::ParseCsr(absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!csr.ok()) {
    fuzz::Require(csr.status().code() == absl::StatusCode::kInvalidArgument,
                  "a bad CSR is kInvalidArgument");
    return 0;
  }
  (void)pki::RequestedExtensions(csr->get());
  (void)pki::OtherAttributes(csr->get());
  (void)ca::CheckIdentityCsr(csr->get());
  absl::StatusOr<pki::KeyAlgorithm> accepted =
      ca::CheckIntermediateCsr(csr->get(), "cluster1", ca::ClusterPolicy{});
  if (accepted.ok()) {
    fuzz::Require(pki::RequestedExtensions(csr->get()).empty(), "accepted CSRs request nothing");
    fuzz::Require(pki::VerifyCsrSignature(csr->get()).ok(), "accepted CSRs are self-signed");
    fuzz::Require(pki::CsrVersion(csr->get()) == 0, "accepted CSRs are version 1");
    fuzz::Require(!pki::HasCompressedEcPoint(csr->get()), "accepted CSRs have uncompressed keys");
    fuzz::IssueAndCheck(csr->get());
  }
  ERR_clear_error();
  return 0;
}
