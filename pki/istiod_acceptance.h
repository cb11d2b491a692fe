// istiod's acceptance rules for a plug-in CA set (`cacerts`), applied before
// anything is written.
//
// When istiod (re)loads `cacerts` it verifies the whole set and drops the
// whole update (key, certificates and CRLs) if any rule fails; rotation then
// silently stops. These functions apply the same rules to a set about to be
// written, so that a set istiod would drop is never written. They follow
// Istio's `security/pkg/pki/util/keycertbundle.go` (Verify) and
// `pilot/pkg/bootstrap/istio_ca.go` (the root-bundle rule), and are at least
// as strict: where istiod skips text it cannot read, these refuse it.
#ifndef MESHTRUST_PKI_ISTIOD_ACCEPTANCE_H_
#define MESHTRUST_PKI_ISTIOD_ACCEPTANCE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/secret_bytes.h"
#include "pki/certificate.h"

namespace meshtrust::pki {

// Each rule istiod applies, by the name logs and metrics use.
enum class IstiodRule {
  // "chain": ca-cert.pem verifies through cert-chain.pem to a root in
  // root-cert.pem, now, with Go's default key usage (serverAuth: a
  // certificate on the path with an extendedKeyUsage must allow it).
  kChainVerifies,
  // "key": ca-key.pem is one PKCS#8, SEC1 or PKCS#1 private key.
  kKeyParses,
  // "key_mismatch": ca-key.pem is the key of ca-cert.pem.
  kKeyMatchesCertificate,
  // "crl_parse": every block of a non-empty ca-crl.pem is a CRL.
  kCrlParses,
  // "crl_missing": for every certificate in cert-chain.pem, ca-crl.pem holds
  // a CRL it signed ("missing CRL signed by certificates").
  kCrlForEveryChainCertificate,
  // "root_bundle": a changed root-cert.pem is a superset or subset of the
  // installed one (ISTIO_MULTIROOT_MESH).
  kRootBundleSupersetOrSubset,
};

// "chain", "key", "key_mismatch", "crl_parse", "crl_missing", "root_bundle".
absl::string_view IstiodRuleName(IstiodRule rule);

// Why istiod would refuse a set.
struct IstiodRefusal {
  IstiodRule rule;
  std::string detail;  // Names the file and what is wrong; never key bytes.
  // "istiod would refuse this cacerts (rule crl_missing): ...".
  std::string Message() const;
};

// The five files, as they would be written.
struct IstiodCaFiles {
  absl::string_view ca_cert_pem;
  const SecretBytes* ca_key_pem = nullptr;
  absl::string_view cert_chain_pem;
  absl::string_view root_cert_pem;
  absl::string_view ca_crl_pem;  // Empty: istiod checks no CRL.
};

// The first rule istiod would refuse `files` for at `now`, in istiod's
// order; nullopt when it would accept them.
std::optional<IstiodRefusal> CheckIstiodAcceptsCaFiles(const IstiodCaFiles& files, TimePoint now);

// How istiod compares a changed root-cert.pem with the one it holds.
enum class RootBundleRule {
  // Istio before 1.31: one file contains the other byte for byte (a
  // substring test), so the old PEM must stay as it was and new roots be
  // appended.
  kBytes,
  // Istio 1.31 and later: the sets of DER certificates in CERTIFICATE
  // blocks, one a superset of the other, neither empty.
  kCertificateSet,
};

// The rule of an Istio version: "1.30", "1.31.2"; "any" (the byte rule,
// which every version accepts). kInvalidArgument for anything else.
absl::StatusOr<RootBundleRule> RootBundleRuleForIstioVersion(absl::string_view version);

// Whether istiod, holding `installed_roots_pem`, takes `new_roots_pem`.
// Identical files always pass; so does an empty `installed_roots_pem`
// (nothing installed yet).
std::optional<IstiodRefusal> CheckIstiodAcceptsRootChange(absl::string_view installed_roots_pem,
                                                          absl::string_view new_roots_pem,
                                                          RootBundleRule rule);

// Whether `crl` would satisfy istiod's CRL rule for `cert`: `cert` is a CA
// whose keyUsage (if any) allows cRLSign, and it signed `crl`.
bool IstiodCountsCrlAsSignedBy(X509_CRL* crl, X509* cert);

}  // namespace meshtrust::pki

#endif  // MESHTRUST_PKI_ISTIOD_ACCEPTANCE_H_
