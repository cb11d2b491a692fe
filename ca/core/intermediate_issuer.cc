#include "ca/core/intermediate_issuer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "ca/core/policy.h"
#include "ca/core/profiles.h"
#include "ca/core/states.h"
#include "pki/certificate.h"
#include "pki/crl.h"
#include "pki/csr.h"
#include "pki/key.h"

namespace meshtrust::ca {
namespace {

bool IsSha256Hex(absl::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

absl::StatusOr<IssuedIntermediate> IntermediateIssuer::SignIntermediate(
    const Caller& caller, absl::string_view cluster_name, absl::string_view csr_der,
    std::chrono::seconds ttl) {
  AuditedCall call =
      audit_->Begin(caller, "SignIntermediate", cluster_name,
                    RequestDigest({cluster_name, csr_der, std::to_string(ttl.count())}));
  absl::StatusOr<ClusterRecord> cluster = authorizer_->AuthorizeAgent(caller);
  if (!cluster.ok()) return call.Refuse(cluster.status());
  if (cluster_name != caller.name) {
    return call.Refuse(
        absl::PermissionDeniedError(absl::StrCat("identity ", caller.ToString(),
                                                 " may not request an intermediate for "
                                                 "cluster \"",
                                                 cluster_name, "\"")));
  }
  if (ttl.count() < 0) return call.Refuse(absl::InvalidArgumentError("requested TTL is negative"));
  if (ttl.count() > 0 && ttl < kMinTtl) {
    return call.Refuse(absl::InvalidArgumentError(
        absl::StrCat("ttl_seconds ", ttl.count(), " is below the minimum intermediate lifetime of ",
                     kMinTtl.count(), " s (1 h); request at least ", kMinTtl.count(),
                     ", or 0 for the policy's maximum")));
  }
  absl::StatusOr<ossl::UniquePtr<X509_REQ>> csr = pki::ParseCsr(csr_der);
  if (!csr.ok()) return call.Refuse(csr.status());
  absl::StatusOr<pki::KeyAlgorithm> alg =
      CheckIntermediateCsr(csr->get(), cluster_name, cluster->policy);
  if (!alg.ok()) return call.Refuse(alg.status());
  if (absl::Status s = CheckSubjectNamesNoOtherCluster(
          csr->get(), cluster_name,
          [this](absl::string_view name) { return store_->GetCluster(name).ok(); });
      !s.ok()) {
    return call.Refuse(s);
  }

  std::shared_ptr<const TrustSnapshot> trust = trust_->Current();
  const SigningCa& signer = *trust->active;
  TimePoint now = clock_->Now();
  std::chrono::seconds lifetime =
      ttl.count() == 0 ? cluster->policy.max_ttl : std::min(ttl, cluster->policy.max_ttl);
  TimePoint not_after = std::min(now + lifetime, pki::NotAfter(signer.certificate.get()));
  if (not_after - now < kMinTtl) {
    return call.Refuse(absl::FailedPreconditionError(
        "the signing root expires within the hour; rotate the root first"));
  }
  profiles::IntermediateInputs profile;
  profile.organization = options_->organization;
  profile.cluster = cluster->name;
  profile.issued_at = now;
  profile.not_before = now - options_->backdate;
  profile.not_after = not_after;
  if (cluster->policy.name_constraints)
    profile.permitted_trust_domain = cluster->policy.trust_domain;
  if (!options_->public_url.empty()) {
    profile.crl_distribution_point =
        absl::StrCat(options_->public_url, "/crl/", signer.key_id, ".der");
  }
  // At its limit, a cluster can still answer a rotation it was asked for,
  // once.
  absl::StatusOr<std::string> asked = RotationAskedFor(*cluster, signer);
  if (!asked.ok()) return call.Fail(asked.status());
  bool exempt = !asked->empty() && ClaimExemption(cluster->name, *asked);
  if (!exempt) {
    if (absl::Status s = throttle_.Admit(*cluster, now, &call); !s.ok()) return s;
  }
  // An issuance that fails after the claim gives the exemption back, so the
  // retry is not counted against the limit.
  auto give_back = [&] {
    if (exempt) ReleaseExemption(cluster->name, *asked);
  };
  pki::CertificateTemplate tmpl = profiles::ClusterIntermediate(profile);
  absl::StatusOr<pki::IssuedCertificate> cert =
      pki::IssueCertificateForCsr(tmpl, csr->get(), signer.certificate.get(), *signer.signer);
  if (!cert.ok()) {
    give_back();
    return call.Refuse(cert.status());
  }

  CertificateRecord rec = IssuedCertificateRecord(*std::move(cert), CertificateKind::kIntermediate,
                                                  cluster->name, now, signer.key_id);
  call.set_serial(rec.serial);
  // The certificate leaves this function only if it and its audit record
  // are durable.
  if (absl::Status s = store_->RecordCertificate(rec, call.Succeeded()); !s.ok()) {
    give_back();
    spdlog::error("intermediate for {} not issued: {}", cluster->name, s.ToString());
    return s;
  }
  spdlog::info("issued intermediate {} for cluster {} ({}, until {})", rec.serial, cluster->name,
               std::string(pki::KeyAlgorithmName(*alg)), UnixSeconds(rec.not_after));
  IssuedIntermediate out;
  out.certificate_pem = rec.certificate_pem;
  out.chain_pem = rec.certificate_pem + signer.chain_pem;
  out.bundle = trust->bundle;
  out.serial = rec.serial;
  out.not_after = rec.not_after;
  out.checkpoint = audit_->Checkpoint();
  return out;
}

absl::StatusOr<std::string> IntermediateIssuer::RotationAskedFor(const ClusterRecord& cluster,
                                                                 const SigningCa& signer) {
  if (cluster.rotation_requested && !cluster.rotation_issued) {
    return absl::StrCat("requested@", UnixMillis(cluster.rotation_requested_at));
  }
  if (cluster.current_serial.empty()) return "";
  absl::StatusOr<CertificateRecord> current = store_->GetCertificate(cluster.current_serial);
  if (!current.ok()) return current.status();
  if (current->issuer_key_id == signer.key_id) return "";
  return absl::StrCat("root:", signer.key_id);
}

bool IntermediateIssuer::ClaimExemption(const std::string& cluster, const std::string& rotation) {
  absl::MutexLock lock(&mu_);
  std::string& claimed = exempted_[cluster];
  if (claimed == rotation) return false;
  claimed = rotation;
  return true;
}

void IntermediateIssuer::ReleaseExemption(const std::string& cluster, const std::string& rotation) {
  absl::MutexLock lock(&mu_);
  auto it = exempted_.find(cluster);
  if (it != exempted_.end() && it->second == rotation) exempted_.erase(it);
}

absl::StatusOr<TrustBundle> IntermediateIssuer::GetTrustBundle(const Caller& caller) {
  AuditedCall call = audit_->Begin(caller, "GetTrustBundle", caller.name, "");
  if (absl::StatusOr<ClusterRecord> cluster = authorizer_->AuthorizeAgent(caller); !cluster.ok()) {
    return call.Refuse(cluster.status());
  }
  // Agents poll the bundle; only refusals are news.
  call.Unrecorded();
  return trust_->Current()->bundle;
}

absl::Status IntermediateIssuer::Ack(const Caller& caller, absl::string_view cluster_name,
                                     absl::string_view serial, absl::string_view bundle_sha256,
                                     absl::string_view intermediate_crl_pem) {
  AuditedCall call =
      audit_->Begin(caller, "Ack", cluster_name,
                    RequestDigest({cluster_name, serial, bundle_sha256, intermediate_crl_pem}));
  absl::StatusOr<ClusterRecord> cluster = authorizer_->AuthorizeAgent(caller);
  if (!cluster.ok()) return call.Refuse(cluster.status());
  if (cluster_name != caller.name) {
    return call.Refuse(absl::PermissionDeniedError(
        absl::StrCat("identity ", caller.ToString(), " may not acknowledge for cluster \"",
                     cluster_name, "\"")));
  }
  if (!IsSha256Hex(bundle_sha256)) {
    return call.Refuse(absl::InvalidArgumentError(
        "bundle_sha256 must be the 64 lowercase hex digits of the SHA-256 of "
        "the installed root-cert.pem"));
  }
  absl::StatusOr<CertificateRecord> cert = store_->GetCertificate(serial);
  if (!cert.ok() || !IsCertificateKind(cert->kind, CertificateKind::kIntermediate) ||
      cert->subject_name != caller.name) {
    return call.Refuse(absl::InvalidArgumentError(
        absl::StrCat("serial \"", serial, "\" is not an intermediate issued to ", caller.name)));
  }
  if (cert->revoked) {
    // Its key may be in anyone's hands: neither its installation nor a CRL
    // it signed means anything now.
    return call.Refuse(absl::FailedPreconditionError(absl::StrCat(
        "intermediate ", serial, " was revoked at ", UnixSeconds(cert->revoked_at),
        " (unix time); it cannot be acknowledged and no CRL it signed is shared; the agent "
        "must install a new intermediate")));
  }
  IntermediateCrlRecord crl;
  if (!intermediate_crl_pem.empty()) {
    // Only a CRL the acknowledged intermediate signed is passed on to the
    // other clusters.
    absl::StatusOr<std::vector<ossl::UniquePtr<X509_CRL>>> crls =
        pki::ParseCrlsPem(intermediate_crl_pem);
    absl::StatusOr<ossl::UniquePtr<X509>> issuer = pki::ParseCertificatePem(cert->certificate_pem);
    absl::Status valid = !crls.ok()          ? crls.status()
                         : crls->size() != 1 ? absl::InvalidArgumentError("expected one CRL")
                         : !issuer.ok()      ? issuer.status()
                                             : pki::VerifyCrl((*crls)[0].get(), issuer->get());
    if (!valid.ok()) {
      return call.Refuse(absl::InvalidArgumentError(
          absl::StrCat("the intermediate CRL is not a CRL signed by intermediate ", serial, ": ",
                       valid.message())));
    }
    crl = {std::string(cluster_name), std::string(serial), std::string(intermediate_crl_pem),
           pki::CrlNextUpdate((*crls)[0].get()), cert->not_after};
  }
  call.set_serial(serial);
  if (absl::Status s = store_->RecordAck(cluster_name, serial, bundle_sha256, crl, clock_->Now(),
                                         call.Succeeded());
      !s.ok()) {
    return s;
  }
  // The other clusters need this cluster's new intermediate CRL.
  if (!intermediate_crl_pem.empty() && intermediate_crl_pem != cluster->intermediate_crl_pem) {
    hub_->Publish("", WatchEventType::kCrlChanged);
  }
  return absl::OkStatus();
}

}  // namespace meshtrust::ca
