#include "agent/core/installer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/time_format.h"
#include "pki/certificate.h"
#include "pki/chain.h"
#include "pki/crl.h"
#include "pki/csr.h"
#include "pki/digest.h"

namespace meshtrust::agent {
namespace {

std::vector<X509*> Raw(const std::vector<ossl::UniquePtr<X509>>& certs, size_t from = 0) {
  std::vector<X509*> out;
  for (size_t i = from; i < certs.size(); ++i) out.push_back(certs[i].get());
  return out;
}

// The intermediate's own CRL (the first in ca-crl.pem) when it is signed by
// `cert` and not yet half-way to its nextUpdate; nullopt when it must be
// (re-)signed. Re-signing only then keeps a refresh caused by another
// cluster's CRL from changing this cluster's CRL in turn, which would make
// every other cluster refresh again, without end.
std::optional<std::string> CurrentOwnCrl(const std::string& ca_crl_pem, X509* cert, TimePoint now) {
  absl::StatusOr<std::vector<ossl::UniquePtr<X509_CRL>>> crls = pki::ParseCrlsPem(ca_crl_pem);
  if (!crls.ok() || crls->empty() || !pki::VerifyCrl((*crls)[0].get(), cert).ok()) {
    return std::nullopt;
  }
  TimePoint this_update = pki::CrlThisUpdate((*crls)[0].get());
  TimePoint next_update = pki::CrlNextUpdate((*crls)[0].get());
  if (now >= this_update + (next_update - this_update) / 2) return std::nullopt;
  return pki::CrlPem((*crls)[0].get());
}

// Whether a root CRL in `root_crls_pem`, signed by `root`, lists `cert`.
bool RevokedByRoot(const std::string& root_crls_pem, X509* cert, X509* root) {
  absl::StatusOr<std::vector<ossl::UniquePtr<X509_CRL>>> crls = pki::ParseCrlsPem(root_crls_pem);
  if (!crls.ok()) return false;
  std::string serial = pki::SerialHex(cert);
  for (const auto& crl : *crls) {
    if (!pki::VerifyCrl(crl.get(), root).ok()) continue;
    std::vector<std::string> revoked = pki::RevokedSerials(crl.get());
    if (std::find(revoked.begin(), revoked.end(), serial) != revoked.end()) return true;
  }
  return false;
}

// The last certificate of `chain_pem` (the root a chain ends in), PEM; ""
// when the chain is unreadable.
std::string LastCertificatePem(const std::string& chain_pem) {
  absl::StatusOr<std::vector<ossl::UniquePtr<X509>>> chain =
      pki::ParseCertificateChainPem(chain_pem);
  if (!chain.ok()) return "";
  return pki::CertificatePem(chain->back().get());
}

}  // namespace

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
  if (pki::Sha256Hex(si.roots_pem) != si.bundle_sha256)
    return refuse("the trust bundle digest does not match");
  pki::ChainCheck check;
  check.at = now;
  if (absl::Status s = pki::VerifyChain(cert->get(), Raw(*chain, 1), Raw(*roots), check); !s.ok()) {
    return refuse(absl::StrCat("it does not chain to the trust bundle: ", s.message()));
  }
  if (!pki::IsCa(cert->get()) || pki::PathLen(cert->get()) != 0) {
    return refuse("the certificate is not a CA with pathlen:0");
  }
  if (!pki::PermitsKeyUsage(cert->get(), pki::kKeyCertSign | pki::kCrlSign)) {
    return refuse("the certificate lacks keyCertSign or cRLSign");
  }
  if (pki::HasExtendedKeyUsage(cert->get())) {
    return refuse("the certificate has an extendedKeyUsage, which istiod's verification rejects");
  }
  return absl::OkStatus();
}

Installer::Decision Installer::Decide(const std::optional<InstalledCaCerts>& installed,
                                      const TrustBundleInfo& bundle, const CrlSetInfo& crls,
                                      bool force_rekey) const {
  auto reissue = [](std::string why) { return Decision{Action::kReissue, std::move(why)}; };
  if (!installed.has_value()) return reissue("nothing is installed yet");
  if (!installed->managed) return reissue("adopting a cacerts meshtrust did not write");
  if (force_rekey) return reissue("an operator asked for a new intermediate");
  if (!installed->complete) return reissue("the installed set is incomplete");
  absl::StatusOr<ossl::UniquePtr<X509>> cert =
      pki::ParseCertificatePem(installed->files.ca_cert_pem);
  if (!cert.ok()) return reissue("the installed ca-cert.pem is unreadable");
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> key =
      pki::PrivateKeyFromPem(installed->files.ca_key_pem);
  if (!key.ok() || !pki::SamePublicKey(key->get(), pki::PublicKeyOf(cert->get()))) {
    return reissue("the installed ca-key.pem does not match ca-cert.pem");
  }
  absl::StatusOr<std::vector<ossl::UniquePtr<X509>>> chain =
      pki::ParseCertificateChainPem(installed->files.cert_chain_pem);
  absl::StatusOr<std::vector<ossl::UniquePtr<X509>>> roots =
      pki::ParseCertificateChainPem(bundle.roots_pem);
  TimePoint now = clock_->Now();
  pki::ChainCheck check;
  check.at = now;
  if (!chain.ok() || !roots.ok() ||
      !pki::VerifyChain(cert->get(), Raw(*chain, 1), Raw(*roots), check).ok()) {
    return reissue("the installed intermediate does not verify against the CA's trust bundle");
  }
  if (!bundle.signing_root_pem.empty() &&
      pki::CertificatePem(chain->back().get()) != bundle.signing_root_pem) {
    return reissue("the CA now signs with a new root");
  }
  if (!crls.root_crls_pem.empty() &&
      RevokedByRoot(crls.root_crls_pem, cert->get(), chain->back().get())) {
    return reissue("the installed intermediate was revoked");
  }
  TimePoint not_before = pki::NotBefore(cert->get());
  TimePoint not_after = pki::NotAfter(cert->get());
  TimePoint renew_at = not_before + std::chrono::duration_cast<TimePoint::duration>(
                                        (not_after - not_before) * options_.renew_fraction);
  if (now >= renew_at) {
    return reissue(
        absl::StrCat("the intermediate is due for renewal (expires ", Rfc3339(not_after), ")"));
  }
  if (installed->files.root_cert_pem != bundle.roots_pem) {
    return {Action::kRefresh, "the CA's trust bundle changed"};
  }
  if (installed->files.crl_set_sha256 != crls.sha256 &&
      unchanged_crl_set_ != installed->files.serial + "/" + crls.sha256) {
    return {Action::kRefresh, "the mesh's CRLs changed"};
  }
  if (!CurrentOwnCrl(installed->files.ca_crl_pem, cert->get(), now).has_value()) {
    return {Action::kRefresh, "the intermediate's own CRL is missing or due to be re-signed"};
  }
  return {Action::kNone, "current"};
}

absl::StatusOr<CaCerts> Installer::Compose(const std::string& certificate_pem,
                                           const std::string& chain_pem, EVP_PKEY* key,
                                           const TrustBundleInfo& bundle, const CrlSetInfo& crls,
                                           const std::string& own_crl_source,
                                           const std::string& installed_crl_pem) {
  absl::StatusOr<ossl::UniquePtr<X509>> cert = pki::ParseCertificatePem(certificate_pem);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::vector<ossl::UniquePtr<X509>>> roots =
      pki::ParseCertificateChainPem(bundle.roots_pem);
  if (!roots.ok()) return roots.status();
  absl::StatusOr<std::vector<ossl::UniquePtr<X509>>> chain =
      pki::ParseCertificateChainPem(chain_pem);
  if (!chain.ok()) return chain.status();
  TimePoint now = clock_->Now();
  std::optional<std::string> own_crl_pem = CurrentOwnCrl(own_crl_source, cert->get(), now);
  if (!own_crl_pem.has_value()) {
    pki::CrlTemplate own;
    own.number = static_cast<uint64_t>(UnixSeconds(now));
    own.this_update = now - std::chrono::minutes(5);
    own.next_update = std::min(now + kIntermediateCrlValidity, pki::NotAfter(cert->get()));
    if (own.next_update <= own.this_update) {
      own.next_update = own.this_update + std::chrono::hours(1);
    }
    absl::StatusOr<ossl::UniquePtr<X509_CRL>> own_crl = pki::IssueCrl(own, cert->get(), key);
    if (!own_crl.ok()) return own_crl.status();
    own_crl_pem = pki::CrlPem(own_crl->get());
  }
  // The CA's CRLs, without what istiod would refuse: a CRL problem must not
  // hold back the key and certificates (crl_set.h).
  absl::StatusOr<ComposedCrlSet> crl_set =
      ComposeCrlSet(*own_crl_pem, Raw(*chain, 1), Raw(*roots), crls, installed_crl_pem);
  if (!crl_set.ok()) return crl_set.status();
  for (const auto& [what, n] : crl_set->repairs) crl_repairs_[what] += n;
  absl::StatusOr<SecretBytes> key_pem = pki::PrivateKeyToPkcs8Pem(key);
  if (!key_pem.ok()) return key_pem.status();
  CaCerts certs;
  certs.ca_cert_pem = certificate_pem;
  certs.ca_key_pem = *std::move(key_pem);
  certs.cert_chain_pem = chain_pem;
  certs.root_cert_pem = bundle.roots_pem;
  certs.ca_crl_pem = std::move(crl_set->ca_crl_pem);
  certs.serial = pki::SerialHex(cert->get());
  certs.not_after = Rfc3339(pki::NotAfter(cert->get()));
  certs.bundle_sha256 = bundle.sha256;
  certs.crl_set_sha256 = crls.sha256;
  return certs;
}

absl::Status Installer::Install(const CaCerts& certs,
                                const std::optional<InstalledCaCerts>& installed) {
  std::optional<InstalledCaCerts> reread;  // What a conflict left there.
  const std::optional<InstalledCaCerts>* holding = &installed;
  for (int attempt = 0;; ++attempt) {
    // A set istiod would drop is never written (istiod_guard.h); judged
    // again after a conflict, since istiod holds whatever is there now.
    absl::Status written =
        WriteIfIstiodAccepts(sink_, certs, holding->has_value() ? (*holding)->version : "",
                             *holding, options_.root_bundle_rule, clock_->Now(), &istiod_refusals_);
    if (written.ok()) break;
    if (!absl::IsAborted(written) || attempt >= options_.max_conflict_retries) return written;
    // Someone else wrote in between: look again before overwriting.
    spdlog::warn("{} changed while installing ({}); re-reading", sink_->Describe(),
                 written.message());
    absl::StatusOr<std::optional<InstalledCaCerts>> again = sink_->Read();
    if (!again.ok()) return again.status();
    if (again->has_value() && !(*again)->managed && !options_.adopt) {
      return absl::FailedPreconditionError(
          absl::StrCat(sink_->Describe(),
                       " was replaced by something meshtrust did not write; leaving it untouched"));
    }
    reread = *std::move(again);
    holding = &reread;
  }
  // Read back what the sink now holds before telling the CA.
  absl::StatusOr<std::optional<InstalledCaCerts>> read_back = sink_->Read();
  if (!read_back.ok()) return read_back.status();
  if (!read_back->has_value() || !(*read_back)->managed ||
      (*read_back)->files.ca_cert_pem != certs.ca_cert_pem ||
      !(*read_back)->files.ca_key_pem.Equals(certs.ca_key_pem) ||
      (*read_back)->files.root_cert_pem != certs.root_cert_pem ||
      (*read_back)->files.cert_chain_pem != certs.cert_chain_pem ||
      (*read_back)->files.ca_crl_pem != certs.ca_crl_pem) {
    return absl::DataLossError(
        absl::StrCat(sink_->Describe(), " does not hold what was just written"));
  }
  return absl::OkStatus();
}

std::optional<ossl::UniquePtr<EVP_PKEY>> Installer::ReusableKey(const TrustBundleInfo& bundle,
                                                                const CrlSetInfo& crls) {
  if (!issued_not_installed_.has_value()) return std::nullopt;
  const SignedIntermediate& issued = issued_not_installed_->signed_intermediate;
  auto drop = [this](absl::string_view why) -> std::optional<ossl::UniquePtr<EVP_PKEY>> {
    spdlog::info("not installing intermediate {} issued earlier: {}",
                 issued_not_installed_->signed_intermediate.serial, why);
    issued_not_installed_.reset();
    return std::nullopt;
  };
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> key =
      pki::PrivateKeyFromPem(issued_not_installed_->key_pem);
  if (!key.ok()) return drop("its key is unreadable");
  TimePoint now = clock_->Now();
  if (!VerifySignedIntermediate(issued, key->get(), now).ok()) return drop("it no longer verifies");
  absl::StatusOr<ossl::UniquePtr<X509>> cert = pki::ParseCertificatePem(issued.certificate_pem);
  if (!cert.ok()) return drop("it is unreadable");
  TimePoint not_before = pki::NotBefore(cert->get());
  TimePoint renew_at =
      not_before + std::chrono::duration_cast<TimePoint::duration>(
                       (pki::NotAfter(cert->get()) - not_before) * options_.renew_fraction);
  if (now >= renew_at) return drop("it is already due for renewal");
  if (issued.roots_pem != bundle.roots_pem) return drop("the CA's trust bundle changed since");
  std::string root = LastCertificatePem(issued.chain_pem);
  if (!bundle.signing_root_pem.empty() && root != bundle.signing_root_pem)
    return drop("the CA now signs with another root");
  absl::StatusOr<std::vector<ossl::UniquePtr<X509>>> chain =
      pki::ParseCertificateChainPem(issued.chain_pem);
  if (!crls.root_crls_pem.empty() && chain.ok() &&
      RevokedByRoot(crls.root_crls_pem, cert->get(), chain->back().get())) {
    return drop("it was revoked");
  }
  return *std::move(key);
}

absl::StatusOr<InstallResult> Installer::EnsureInstalled(bool force_rekey) {
  absl::StatusOr<std::optional<InstalledCaCerts>> current = sink_->Read();
  if (!current.ok()) return current.status();
  if (current->has_value() && !(*current)->managed && !options_.adopt) {
    return absl::FailedPreconditionError(
        absl::StrCat(sink_->Describe(),
                     " exists and was not written by meshtrust; leaving it untouched. Run "
                     "with --adopt to let meshtrust replace it"));
  }
  absl::StatusOr<TrustBundleInfo> bundle = ca_->GetTrustBundle();
  if (!bundle.ok()) return bundle.status();
  absl::StatusOr<CrlSetInfo> crls = ca_->GetCrls();
  if (!crls.ok()) return crls.status();
  // What is installed now anchors which roots may come and go.
  std::string installed_roots, installed_signing_root, installed_crl_pem;
  if (current->has_value() && (*current)->managed) {
    installed_roots = (*current)->files.root_cert_pem;
    installed_signing_root = LastCertificatePem((*current)->files.cert_chain_pem);
    installed_crl_pem = (*current)->files.ca_crl_pem;
  }
  absl::StatusOr<std::string> trusted = trust_->Check(
      RootOffer{bundle->roots_pem, bundle->signing_root_pem, bundle->endorsements_pem},
      installed_roots, installed_signing_root);
  if (!trusted.ok()) return trusted.status();
  Decision decision = Decide(*current, *bundle, *crls, force_rekey);

  // Only a reissue could use what an earlier attempt was issued.
  if (decision.action != Action::kReissue) issued_not_installed_.reset();
  std::optional<CaCerts> certs;
  if (decision.action == Action::kReissue) {
    // The answer carries its own bundle: judged the same way, with the root
    // the new intermediate chains to as the signing root.
    auto check_trust = [&](const SignedIntermediate& answer) {
      trusted = trust_->Check(RootOffer{answer.roots_pem, LastCertificatePem(answer.chain_pem),
                                        answer.endorsements_pem},
                              installed_roots, installed_signing_root);
      return trusted.status();
    };
    // A rotation request is answered by a new key: one kept from an
    // ordinary attempt predates the request.
    if (force_rekey && issued_not_installed_.has_value() && !issued_not_installed_->forced) {
      issued_not_installed_.reset();
    }
    std::optional<ossl::UniquePtr<EVP_PKEY>> key = ReusableKey(*bundle, *crls);
    if (key.has_value()) {
      if (absl::Status s = check_trust(issued_not_installed_->signed_intermediate); !s.ok()) {
        issued_not_installed_.reset();
        return s;
      }
      spdlog::info(
          "installing intermediate {} for {}, issued by an earlier attempt whose install failed, "
          "instead of asking for another: {}",
          issued_not_installed_->signed_intermediate.serial, options_.cluster, decision.reason);
    } else {
      spdlog::info("issuing a new intermediate for {}: {}", options_.cluster, decision.reason);
      // Every signing is an issued, audited intermediate: first make sure it
      // can be installed.
      if (absl::Status s = sink_->CheckWritable(); !s.ok()) {
        return absl::Status(s.code(),
                            absl::StrCat("not asking the CA for an intermediate: ", s.message()));
      }
      // The key is generated here and leaves this process only into the sink.
      absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> generated =
          pki::GenerateKey(options_.key_algorithm);
      if (!generated.ok()) return generated.status();
      absl::StatusOr<std::string> csr = pki::BuildCsrDer(generated->get(), "");
      if (!csr.ok()) return csr.status();
      absl::StatusOr<SignedIntermediate> signed_intermediate =
          ca_->SignIntermediate(options_.cluster, *csr, options_.ttl);
      if (!signed_intermediate.ok()) return signed_intermediate.status();
      if (absl::Status s = check_trust(*signed_intermediate); !s.ok()) return s;
      if (absl::Status s =
              VerifySignedIntermediate(*signed_intermediate, generated->get(), clock_->Now());
          !s.ok()) {
        return s;
      }
      absl::StatusOr<SecretBytes> key_pem = pki::PrivateKeyToPkcs8Pem(generated->get());
      if (!key_pem.ok()) return key_pem.status();
      // Kept until installed; only this process holds it, and only the sink
      // ever receives it.
      issued_not_installed_ =
          IssuedNotInstalled{*std::move(signed_intermediate), *std::move(key_pem), force_rekey};
      key = *std::move(generated);
    }
    const SignedIntermediate& issued = issued_not_installed_->signed_intermediate;
    TrustBundleInfo issued_bundle{issued.roots_pem, issued.bundle_sha256};
    // The mesh's CRLs as the CA serves them now that the new intermediate is
    // the cluster's current one: they now include the CRL of the one it
    // replaces (workloads go on presenting chains through it), so the set
    // is written complete at once instead of in a second write.
    crls = ca_->GetCrls();
    if (!crls.ok()) return crls.status();
    absl::StatusOr<CaCerts> composed =
        Compose(issued.certificate_pem, issued.chain_pem, key->get(), issued_bundle, *crls,
                /*own_crl_source=*/"", installed_crl_pem);
    if (!composed.ok()) return composed.status();
    certs = *std::move(composed);
  } else if (decision.action == Action::kRefresh) {
    const CaCerts& files = (*current)->files;
    absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> key = pki::PrivateKeyFromPem(files.ca_key_pem);
    if (!key.ok()) return key.status();
    absl::StatusOr<CaCerts> composed = Compose(files.ca_cert_pem, files.cert_chain_pem, key->get(),
                                               *bundle, *crls, files.ca_crl_pem, files.ca_crl_pem);
    if (!composed.ok()) return composed.status();
    // A change that changes nothing written (the CA's CRL set gained only
    // this intermediate's own CRL) is not written: every write makes istiod
    // reload and push the CRLs to every namespace.
    if (composed->root_cert_pem != files.root_cert_pem ||
        composed->ca_crl_pem != files.ca_crl_pem ||
        composed->cert_chain_pem != files.cert_chain_pem) {
      spdlog::info("refreshing {} for {}: {}", sink_->Describe(), options_.cluster,
                   decision.reason);
      certs = *std::move(composed);
    } else {
      spdlog::debug("{} already holds what the CA's change would write", sink_->Describe());
      unchanged_crl_set_ = files.serial + "/" + crls->sha256;
    }
  }
  InstallResult result;
  result.reason = decision.reason;
  if (certs.has_value()) {
    if (absl::Status s = Install(*certs, *current); !s.ok()) return s;
    issued_not_installed_.reset();
    result.changed = true;
    result.reissued = decision.action == Action::kReissue;
  }
  // The roots installed now (written or unchanged) are the ones accepted.
  if (absl::Status s = trust_->Commit(*trusted); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("keeping the trusted mesh roots: ", s.message()));
  }
  // What is installed now, for the acknowledgement and the result.
  absl::StatusOr<std::optional<InstalledCaCerts>> now_installed = sink_->Read();
  if (!now_installed.ok()) return now_installed.status();
  if (!now_installed->has_value())
    return absl::DataLossError(absl::StrCat(sink_->Describe(), " vanished"));
  const CaCerts& files = (*now_installed)->files;
  absl::StatusOr<ossl::UniquePtr<X509>> cert = pki::ParseCertificatePem(files.ca_cert_pem);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::vector<ossl::UniquePtr<X509_CRL>>> crl_list =
      pki::ParseCrlsPem(files.ca_crl_pem);
  std::string own_crl =
      crl_list.ok() && !crl_list->empty() ? pki::CrlPem((*crl_list)[0].get()) : "";
  std::string ack = absl::StrCat(files.serial, "/", files.bundle_sha256, "/", own_crl);
  TimePoint now = clock_->Now();
  if (ack != last_ack_ || now - last_ack_at_ >= options_.reack_interval) {
    if (absl::Status s = ca_->Ack(options_.cluster, files.serial, files.bundle_sha256, own_crl);
        !s.ok()) {
      return s;
    }
    last_ack_ = std::move(ack);
    last_ack_at_ = now;
  }
  result.serial = files.serial;
  result.bundle_sha256 = files.bundle_sha256;
  result.not_after = pki::NotAfter(cert->get());
  TimePoint not_before = pki::NotBefore(cert->get());
  result.renew_at = not_before + std::chrono::duration_cast<TimePoint::duration>(
                                     (result.not_after - not_before) * options_.renew_fraction);
  if (result.changed) {
    spdlog::info("installed intermediate {} in {} (expires {})", result.serial, sink_->Describe(),
                 files.not_after);
  }
  return result;
}

}  // namespace meshtrust::agent
