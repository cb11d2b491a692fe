#include "agent/installer.h"

#include <openssl/sha.h>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "pki/certificate.h"
#include "pki/chain.h"
#include "pki/csr.h"

namespace meshtrust::agent {
namespace {

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : digest) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::vector<X509*> Raw(const std::vector<ossl::UniquePtr<X509>>& certs, size_t from = 0) {
  std::vector<X509*> out;
  for (size_t i = from; i < certs.size(); ++i) out.push_back(certs[i].get());
  return out;
}

}  // namespace

std::string Rfc3339(TimePoint t) {
  std::time_t s = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

absl::Status VerifySignedIntermediate(const SignedIntermediate& si, EVP_PKEY* our_key,
                                      TimePoint now) {
  auto refuse = [](absl::string_view why) {
    return absl::DataLossError(absl::StrCat("the CA's answer was not installed: ", why));
  };
  absl::StatusOr<ossl::UniquePtr<X509>> cert = pki::ParseCertificatePem(si.certificate_pem);
  if (!cert.ok())
    return refuse(absl::StrCat("the certificate is unreadable: ", cert.status().message()));
  if (!pki::SamePublicKey(pki::PublicKeyOf(cert->get()), our_key)) {
    return refuse("the certificate is not for the key this agent generated");
  }
  absl::StatusOr<std::vector<ossl::UniquePtr<X509>>> chain =
      pki::ParseCertificateChainPem(si.chain_pem);
  if (!chain.ok())
    return refuse(absl::StrCat("the chain is unreadable: ", chain.status().message()));
  if (pki::CertificateDer((*chain)[0].get()) != pki::CertificateDer(cert->get())) {
    return refuse("the chain does not start with the certificate");
  }
  absl::StatusOr<std::vector<ossl::UniquePtr<X509>>> roots =
      pki::ParseCertificateChainPem(si.roots_pem);
  if (!roots.ok())
    return refuse(absl::StrCat("the trust bundle is unreadable: ", roots.status().message()));
  if (Sha256Hex(si.roots_pem) != si.bundle_sha256)
    return refuse("the trust bundle digest does not match");
  pki::ChainCheck check;
  check.at = now;
  if (absl::Status s = pki::VerifyChain(cert->get(), Raw(*chain, 1), Raw(*roots), check); !s.ok()) {
    return refuse(absl::StrCat("it does not chain to the trust bundle: ", s.message()));
  }
  if (!pki::IsCa(cert->get()) || pki::PathLen(cert->get()) != 0) {
    return refuse("the certificate is not a CA with pathlen:0");
  }
  uint32_t ku = X509_get_key_usage(cert->get());
  if ((ku & KU_KEY_CERT_SIGN) == 0 || (ku & KU_CRL_SIGN) == 0) {
    return refuse("the certificate lacks keyCertSign or cRLSign");
  }
  if (X509_get_extension_flags(cert->get()) & EXFLAG_XKUSAGE) {
    return refuse("the certificate has an extendedKeyUsage, which istiod's verification rejects");
  }
  return absl::OkStatus();
}

std::string Installer::WhyReplace(const InstalledCaCerts& installed,
                                  const TrustBundleInfo& bundle) const {
  if (!installed.complete) return "the installed set is incomplete";
  absl::StatusOr<ossl::UniquePtr<X509>> cert =
      pki::ParseCertificatePem(installed.files.ca_cert_pem);
  if (!cert.ok()) return "the installed ca-cert.pem is unreadable";
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> key =
      pki::PrivateKeyFromPem(installed.files.ca_key_pem);
  if (!key.ok() || !pki::SamePublicKey(key->get(), pki::PublicKeyOf(cert->get()))) {
    return "the installed ca-key.pem does not match ca-cert.pem";
  }
  if (installed.files.root_cert_pem != bundle.roots_pem) return "the CA's trust bundle changed";
  absl::StatusOr<std::vector<ossl::UniquePtr<X509>>> chain =
      pki::ParseCertificateChainPem(installed.files.cert_chain_pem);
  absl::StatusOr<std::vector<ossl::UniquePtr<X509>>> roots =
      pki::ParseCertificateChainPem(bundle.roots_pem);
  TimePoint now = clock_->Now();
  pki::ChainCheck check;
  check.at = now;
  if (!chain.ok() || !roots.ok() ||
      !pki::VerifyChain(cert->get(), Raw(*chain, 1), Raw(*roots), check).ok()) {
    return "the installed intermediate does not verify against the trust bundle";
  }
  TimePoint not_before = pki::NotBefore(cert->get());
  TimePoint not_after = pki::NotAfter(cert->get());
  auto lifetime = not_after - not_before;
  TimePoint renew_at = not_before + std::chrono::duration_cast<TimePoint::duration>(
                                        lifetime * options_.renew_fraction);
  if (now >= renew_at)
    return absl::StrCat("the intermediate is due for renewal (expires ", Rfc3339(not_after), ")");
  return "";
}

absl::StatusOr<InstallResult> Installer::EnsureInstalled() {
  absl::StatusOr<std::optional<InstalledCaCerts>> current = sink_->Read();
  if (!current.ok()) return current.status();
  auto refuse_foreign = [this] {
    return absl::FailedPreconditionError(
        absl::StrCat(sink_->Describe(),
                     " exists and was not written by meshtrust; leaving it untouched. Run "
                     "with --adopt to let meshtrust replace it"));
  };
  if (current->has_value() && !(*current)->managed && !options_.adopt) return refuse_foreign();

  absl::StatusOr<TrustBundleInfo> bundle = ca_->GetTrustBundle();
  if (!bundle.ok()) return bundle.status();

  InstallResult result;
  std::string reason = "nothing is installed yet";
  if (current->has_value()) {
    reason = (*current)->managed ? WhyReplace(**current, *bundle)
                                 : "adopting a cacerts meshtrust did not write";
    if (reason.empty()) {
      result.reason = "current";
      result.serial = (*current)->files.serial;
      result.bundle_sha256 = bundle->sha256;
      if (absl::Status s = ca_->Ack(options_.cluster, result.serial, bundle->sha256); !s.ok())
        return s;
      return result;
    }
  }
  spdlog::info("issuing a new intermediate for {}: {}", options_.cluster, reason);

  // The key is generated here and leaves this process only into the sink.
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> key = pki::GenerateKey(options_.key_algorithm);
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> csr = pki::BuildCsrDer(key->get(), "");
  if (!csr.ok()) return csr.status();
  absl::StatusOr<SignedIntermediate> signed_intermediate =
      ca_->SignIntermediate(options_.cluster, *csr, options_.ttl);
  if (!signed_intermediate.ok()) return signed_intermediate.status();
  if (absl::Status s = VerifySignedIntermediate(*signed_intermediate, key->get(), clock_->Now());
      !s.ok()) {
    return s;
  }
  absl::StatusOr<SecretBytes> key_pem = pki::PrivateKeyToPkcs8Pem(key->get());
  if (!key_pem.ok()) return key_pem.status();
  auto cert = pki::ParseCertificatePem(signed_intermediate->certificate_pem);
  CaCerts certs;
  certs.ca_cert_pem = signed_intermediate->certificate_pem;
  certs.ca_key_pem = *std::move(key_pem);
  certs.cert_chain_pem = signed_intermediate->chain_pem;
  certs.root_cert_pem = signed_intermediate->roots_pem;
  certs.serial = signed_intermediate->serial;
  certs.not_after = Rfc3339(pki::NotAfter(cert->get()));
  certs.bundle_sha256 = signed_intermediate->bundle_sha256;

  std::string version = current->has_value() ? (*current)->version : "";
  for (int attempt = 0;; ++attempt) {
    absl::Status written = sink_->Write(certs, version);
    if (written.ok()) break;
    if (!absl::IsAborted(written) || attempt >= options_.max_conflict_retries) return written;
    // Someone else wrote in between: look again before overwriting.
    spdlog::warn("{} changed while installing ({}); re-reading", sink_->Describe(),
                 written.message());
    absl::StatusOr<std::optional<InstalledCaCerts>> again = sink_->Read();
    if (!again.ok()) return again.status();
    if (again->has_value() && !(*again)->managed && !options_.adopt) return refuse_foreign();
    version = again->has_value() ? (*again)->version : "";
  }

  // Read back what the sink now holds before telling the CA.
  absl::StatusOr<std::optional<InstalledCaCerts>> installed = sink_->Read();
  if (!installed.ok()) return installed.status();
  if (!installed->has_value() || !(*installed)->managed ||
      (*installed)->files.ca_cert_pem != certs.ca_cert_pem ||
      !(*installed)->files.ca_key_pem.Equals(certs.ca_key_pem) ||
      (*installed)->files.root_cert_pem != certs.root_cert_pem ||
      (*installed)->files.cert_chain_pem != certs.cert_chain_pem) {
    return absl::DataLossError(
        absl::StrCat(sink_->Describe(), " does not hold what was just written"));
  }
  if (absl::Status s = ca_->Ack(options_.cluster, certs.serial, certs.bundle_sha256); !s.ok())
    return s;
  result.changed = true;
  result.reason = reason;
  result.serial = certs.serial;
  result.not_after = pki::NotAfter(cert->get());
  result.bundle_sha256 = certs.bundle_sha256;
  spdlog::info("installed intermediate {} in {} (expires {})", result.serial, sink_->Describe(),
               certs.not_after);
  return result;
}

}  // namespace meshtrust::agent
