#include "pki/istiod_acceptance.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <set>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "pki/chain.h"
#include "pki/crl.h"
#include "pki/key.h"
#include "pki/pem.h"

namespace meshtrust::pki {
namespace {

IstiodRefusal Refuse(IstiodRule rule, std::string detail) { return {rule, std::move(detail)}; }

std::vector<X509*> Raw(const std::vector<ossl::UniquePtr<X509>>& certs) {
  std::vector<X509*> out;
  for (const auto& c : certs) out.push_back(c.get());
  return out;
}

// Go's x509.Verify with no KeyUsages asks for serverAuth: a certificate on
// the path that has an extendedKeyUsage must list serverAuth or any.
bool AllowsServerAuth(X509* cert) {
  uint32_t xku = X509_get_extended_key_usage(cert);
  if (xku == UINT32_MAX) return true;  // No extension.
  return (xku & (XKU_SSL_SERVER | XKU_ANYEKU)) != 0;
}

}  // namespace

absl::string_view IstiodRuleName(IstiodRule rule) {
  switch (rule) {
    case IstiodRule::kChainVerifies:
      return "chain";
    case IstiodRule::kKeyParses:
      return "key";
    case IstiodRule::kKeyMatchesCertificate:
      return "key_mismatch";
    case IstiodRule::kCrlParses:
      return "crl_parse";
    case IstiodRule::kCrlForEveryChainCertificate:
      return "crl_missing";
    case IstiodRule::kRootBundleSupersetOrSubset:
      return "root_bundle";
  }
  return "unknown";
}

std::string IstiodRefusal::Message() const {
  return absl::StrCat("istiod would refuse this cacerts (rule ", IstiodRuleName(rule),
                      "): ", detail);
}

bool IstiodCountsCrlAsSignedBy(X509_CRL* crl, X509* cert) {
  if (!IsCa(cert) || !PermitsKeyUsage(cert, kCrlSign)) return false;
  EVP_PKEY* key = X509_get0_pubkey(cert);
  if (key == nullptr) return false;
  bool ok = X509_CRL_verify(crl, key) == 1;
  ERR_clear_error();
  return ok;
}

std::optional<IstiodRefusal> CheckIstiodAcceptsCaFiles(const IstiodCaFiles& files, TimePoint now) {
  // 1. ca-cert.pem verifies through cert-chain.pem to root-cert.pem.
  absl::StatusOr<ossl::UniquePtr<X509>> cert = ParseCertificatePem(files.ca_cert_pem);
  if (!cert.ok()) {
    return Refuse(IstiodRule::kChainVerifies,
                  absl::StrCat("ca-cert.pem is not one certificate: ", cert.status().message()));
  }
  absl::StatusOr<std::vector<ossl::UniquePtr<X509>>> chain =
      ParseCertificateChainPem(files.cert_chain_pem);
  if (!chain.ok()) {
    return Refuse(IstiodRule::kChainVerifies,
                  absl::StrCat("cert-chain.pem is unreadable: ", chain.status().message()));
  }
  absl::StatusOr<std::vector<ossl::UniquePtr<X509>>> roots =
      ParseCertificateChainPem(files.root_cert_pem);
  if (!roots.ok()) {
    return Refuse(IstiodRule::kChainVerifies,
                  absl::StrCat("root-cert.pem is unreadable: ", roots.status().message()));
  }
  ChainCheck check;
  check.at = now;
  if (absl::Status s = VerifyChain(cert->get(), Raw(*chain), Raw(*roots), check); !s.ok()) {
    return Refuse(IstiodRule::kChainVerifies,
                  absl::StrCat("ca-cert.pem does not verify through cert-chain.pem to "
                               "root-cert.pem: ",
                               s.message()));
  }
  if (!AllowsServerAuth(cert->get())) {
    return Refuse(IstiodRule::kChainVerifies,
                  "ca-cert.pem has an extendedKeyUsage without serverAuth, which istiod's "
                  "verification (default key usages) rejects");
  }
  for (size_t i = 0; i < chain->size(); ++i) {
    if (!AllowsServerAuth((*chain)[i].get())) {
      return Refuse(IstiodRule::kChainVerifies,
                    absl::StrCat("certificate ", i + 1, " of cert-chain.pem (",
                                 SubjectString((*chain)[i].get()),
                                 ") has an extendedKeyUsage without serverAuth"));
    }
  }

  // 2. The key parses, and 3. it is ca-cert.pem's key.
  if (files.ca_key_pem == nullptr || files.ca_key_pem->empty()) {
    return Refuse(IstiodRule::kKeyParses, "ca-key.pem is empty");
  }
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> key = PrivateKeyFromPem(*files.ca_key_pem);
  if (!key.ok()) {
    return Refuse(IstiodRule::kKeyParses,
                  absl::StrCat("ca-key.pem is not a private key: ", key.status().message()));
  }
  if (!SamePublicKey(key->get(), PublicKeyOf(cert->get()))) {
    return Refuse(IstiodRule::kKeyMatchesCertificate, "ca-key.pem is not the key of ca-cert.pem");
  }

  // 4. and 5. Only a non-empty ca-crl.pem is checked.
  if (files.ca_crl_pem.empty()) return std::nullopt;
  absl::StatusOr<std::vector<PemBlock>> blocks = DecodePemBlocks(files.ca_crl_pem);
  if (!blocks.ok()) {
    return Refuse(IstiodRule::kCrlParses,
                  absl::StrCat("ca-crl.pem is not PEM: ", blocks.status().message()));
  }
  std::vector<ossl::UniquePtr<X509_CRL>> crls;
  for (size_t i = 0; i < blocks->size(); ++i) {
    absl::StatusOr<ossl::UniquePtr<X509_CRL>> crl = ParseCrlDer((*blocks)[i].der);
    if (!crl.ok()) {
      return Refuse(IstiodRule::kCrlParses,
                    absl::StrCat("block ", i + 1, " of ca-crl.pem (\"", (*blocks)[i].label,
                                 "\") is not a CRL: ", crl.status().message()));
    }
    crls.push_back(*std::move(crl));
  }
  std::vector<std::string> missing;
  for (const auto& c : *chain) {
    bool found = false;
    for (const auto& crl : crls) {
      if (IstiodCountsCrlAsSignedBy(crl.get(), c.get())) {
        found = true;
        break;
      }
    }
    if (!found) missing.push_back(absl::StrCat("\"", SubjectString(c.get()), "\""));
  }
  if (!missing.empty()) {
    return Refuse(IstiodRule::kCrlForEveryChainCertificate,
                  absl::StrCat("missing CRL signed by certificates: ", absl::StrJoin(missing, ", "),
                               " (every certificate in cert-chain.pem needs a CRL it signed "
                               "in ca-crl.pem)"));
  }
  return std::nullopt;
}

absl::StatusOr<RootBundleRule> RootBundleRuleForIstioVersion(absl::string_view version) {
  if (version == "any") return RootBundleRule::kBytes;
  absl::string_view v = version;
  if (!v.empty() && (v[0] == 'v' || v[0] == 'V')) v.remove_prefix(1);
  std::vector<absl::string_view> parts = absl::StrSplit(v, '.');
  int major = 0, minor = 0, patch = 0;
  bool ok = (parts.size() == 2 || parts.size() == 3) && absl::SimpleAtoi(parts[0], &major) &&
            absl::SimpleAtoi(parts[1], &minor) &&
            (parts.size() == 2 || absl::SimpleAtoi(parts[2], &patch)) && major == 1 && minor >= 0 &&
            patch >= 0;
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Istio version \"", version, "\" is not \"any\" or a 1.x version such as 1.30 or 1.31.2"));
  }
  return minor >= 31 ? RootBundleRule::kCertificateSet : RootBundleRule::kBytes;
}

std::optional<IstiodRefusal> CheckIstiodAcceptsRootChange(absl::string_view installed_roots_pem,
                                                          absl::string_view new_roots_pem,
                                                          RootBundleRule rule) {
  if (installed_roots_pem.empty() || installed_roots_pem == new_roots_pem) return std::nullopt;
  if (rule == RootBundleRule::kBytes) {
    if (absl::StrContains(new_roots_pem, installed_roots_pem) ||
        absl::StrContains(installed_roots_pem, new_roots_pem)) {
      return std::nullopt;
    }
    return Refuse(IstiodRule::kRootBundleSupersetOrSubset,
                  "the new root-cert.pem neither contains the installed one byte for byte nor is "
                  "contained in it (Istio before 1.31 compares the files as bytes: keep the "
                  "installed PEM unchanged and append new roots)");
  }
  auto der_set = [](absl::string_view pem) {
    std::set<std::string> out;
    absl::StatusOr<std::vector<PemBlock>> blocks = DecodePemBlocks(pem);
    if (!blocks.ok()) return out;
    for (PemBlock& b : *blocks) {
      if (b.label == "CERTIFICATE") out.insert(std::move(b.der));
    }
    return out;
  };
  std::set<std::string> installed = der_set(installed_roots_pem);
  std::set<std::string> offered = der_set(new_roots_pem);
  auto includes = [](const std::set<std::string>& a, const std::set<std::string>& b) {
    return std::includes(a.begin(), a.end(), b.begin(), b.end());
  };
  if (!installed.empty() && !offered.empty() &&
      (includes(installed, offered) || includes(offered, installed))) {
    return std::nullopt;
  }
  return Refuse(IstiodRule::kRootBundleSupersetOrSubset,
                "the new root-cert.pem's certificates are neither a superset nor a subset of the "
                "installed ones (istiod takes a root change only when one bundle contains the "
                "other)");
}

}  // namespace meshtrust::pki
