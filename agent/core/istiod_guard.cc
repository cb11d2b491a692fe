#include "agent/core/istiod_guard.h"

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "pki/certificate.h"

namespace meshtrust::agent {

std::optional<pki::IstiodRefusal> IstiodVerdict(const CaCerts& certs,
                                                const std::optional<InstalledCaCerts>& installed,
                                                pki::RootBundleRule rule, TimePoint now) {
  // istiod holds what is installed now (whoever wrote it): a changed root
  // bundle must be a superset or subset of it. A root-cert.pem without a
  // readable certificate is not one istiod can have loaded; what it holds
  // then is unknown, and only the set itself is judged.
  if (installed.has_value() && pki::ParseCertificateChainPem(installed->files.root_cert_pem).ok()) {
    if (std::optional<pki::IstiodRefusal> refusal = pki::CheckIstiodAcceptsRootChange(
            installed->files.root_cert_pem, certs.root_cert_pem, rule);
        refusal.has_value()) {
      return refusal;
    }
  }
  pki::IstiodCaFiles files;
  files.ca_cert_pem = certs.ca_cert_pem;
  files.ca_key_pem = &certs.ca_key_pem;
  files.cert_chain_pem = certs.cert_chain_pem;
  files.root_cert_pem = certs.root_cert_pem;
  files.ca_crl_pem = certs.ca_crl_pem;
  return pki::CheckIstiodAcceptsCaFiles(files, now);
}

absl::Status WriteIfIstiodAccepts(SecretSink* sink, const CaCerts& certs,
                                  const std::string& expected_version,
                                  const std::optional<InstalledCaCerts>& installed,
                                  pki::RootBundleRule rule, TimePoint now,
                                  IstiodRefusals* refusals) {
  std::optional<pki::IstiodRefusal> refusal = IstiodVerdict(certs, installed, rule, now);
  if (!refusal.has_value()) return sink->Write(certs, expected_version);
  if (refusals != nullptr) ++(*refusals)[std::string(pki::IstiodRuleName(refusal->rule))];
  std::string message = absl::StrCat(refusal->Message(), "; nothing was written to ",
                                     sink->Describe(), ", which keeps the set installed now");
  spdlog::error("{}", message);
  return absl::FailedPreconditionError(message);
}

}  // namespace meshtrust::agent
