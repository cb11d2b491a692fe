#include "agent/core/crl_set.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "pki/crl.h"
#include "pki/istiod_acceptance.h"
#include "pki/pem.h"

namespace meshtrust::agent {
namespace {

// Each PEM block of `text` that parses as a CRL, in order; everything else
// (blocks that are not CRLs, text around or between blocks) is counted and
// logged, and left out.
std::vector<ossl::UniquePtr<X509_CRL>> ParsableCrls(absl::string_view text, absl::string_view what,
                                                    CrlRepairs* repairs) {
  constexpr absl::string_view kBegin = "-----BEGIN ";
  constexpr absl::string_view kEnd = "-----END ";
  std::vector<ossl::UniquePtr<X509_CRL>> out;
  int block = 0;
  auto drop = [&](absl::string_view why) {
    spdlog::warn("leaving part {} of the CA's {} out of ca-crl.pem: {}", block, what, why);
    ++(*repairs)["dropped_unparsable"];
  };
  size_t pos = 0;
  while (pos < text.size()) {
    size_t begin = text.find(kBegin, pos);
    absl::string_view before =
        absl::StripAsciiWhitespace(text.substr(pos, begin == text.npos ? text.npos : begin - pos));
    ++block;
    if (!before.empty()) drop("text that is not a PEM block");
    if (begin == text.npos) break;
    size_t end = text.find(kEnd, begin);
    size_t line_end = end == text.npos ? text.npos : text.find('\n', end);
    absl::string_view pem =
        text.substr(begin, line_end == text.npos ? text.npos : line_end + 1 - begin);
    pos = line_end == text.npos ? text.size() : line_end + 1;
    absl::StatusOr<std::string> der = pki::DecodeSinglePem(pem, "X509 CRL");
    if (!der.ok()) {
      drop(absl::StrCat("not an X509 CRL block (", der.status().message(), ")"));
      continue;
    }
    absl::StatusOr<ossl::UniquePtr<X509_CRL>> crl = pki::ParseCrlDer(*der);
    if (!crl.ok()) {
      drop(absl::StrCat("not a CRL (", crl.status().message(), ")"));
      continue;
    }
    out.push_back(*std::move(crl));
  }
  return out;
}

}  // namespace

absl::StatusOr<ComposedCrlSet> ComposeCrlSet(const std::string& own_crl_pem,
                                             const std::vector<X509*>& chain,
                                             const std::vector<X509*>& roots,
                                             const CrlSetInfo& crls,
                                             const std::string& installed_crl_pem) {
  ComposedCrlSet out;
  absl::StatusOr<std::vector<ossl::UniquePtr<X509_CRL>>> own = pki::ParseCrlsPem(own_crl_pem);
  if (!own.ok() || own->size() != 1) {
    return absl::InvalidArgumentError("the intermediate's own CRL is not one readable CRL");
  }
  out.ca_crl_pem = pki::CrlPem((*own)[0].get());

  // The roots' CRLs must be signed by a root of the bundle; anything else
  // is left out rather than installed or allowed to stop the update.
  std::vector<ossl::UniquePtr<X509_CRL>> root_crls;
  for (auto& crl : ParsableCrls(crls.root_crls_pem, "root CRLs", &out.repairs)) {
    bool signed_by_a_root = false;
    for (X509* root : roots) signed_by_a_root |= pki::VerifyCrl(crl.get(), root).ok();
    if (!signed_by_a_root) {
      spdlog::warn(
          "leaving a root CRL from the CA (issuer \"{}\") out of ca-crl.pem: no root in the "
          "trust bundle signed it",
          pki::CrlIssuerString(crl.get()));
      ++out.repairs["dropped_untrusted"];
      continue;
    }
    root_crls.push_back(std::move(crl));
  }
  for (const auto& crl : root_crls) out.ca_crl_pem += pki::CrlPem(crl.get());

  // Every CA in cert-chain.pem past the intermediate needs a CRL it signed.
  std::vector<ossl::UniquePtr<X509_CRL>> installed;
  if (!installed_crl_pem.empty()) {
    CrlRepairs ignored;  // The installed set is not the CA's.
    installed = ParsableCrls(installed_crl_pem, "installed CRLs", &ignored);
  }
  for (X509* ca : chain) {
    bool covered = false;
    for (const auto& crl : root_crls) {
      covered |=
          pki::IstiodCountsCrlAsSignedBy(crl.get(), ca) && pki::VerifyCrl(crl.get(), ca).ok();
    }
    if (covered) continue;
    for (const auto& crl : installed) {
      if (pki::IstiodCountsCrlAsSignedBy(crl.get(), ca) && pki::VerifyCrl(crl.get(), ca).ok()) {
        spdlog::warn(
            "the CA offered no usable CRL for \"{}\"; keeping the installed one (number {}) so "
            "that istiod still accepts the set",
            pki::SubjectString(ca), pki::CrlNumber(crl.get()));
        out.ca_crl_pem += pki::CrlPem(crl.get());
        ++out.repairs["kept_installed"];
        break;
      }
    }
  }

  for (auto& crl : ParsableCrls(crls.intermediate_crls_pem, "intermediate CRLs", &out.repairs)) {
    out.ca_crl_pem += pki::CrlPem(crl.get());
  }
  return out;
}

}  // namespace meshtrust::agent
