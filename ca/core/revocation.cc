#include "ca/core/revocation.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/logging.h"
#include "ca/core/states.h"
#include "ca/store/store_errors.h"
#include "pki/crl.h"
#include "pki/digest.h"

namespace meshtrust::ca {
namespace {

constexpr int kCertificateHoldReason = 6;  // RFC 5280 CRLReason certificateHold.

}  // namespace

absl::Status Revocation::RefreshCrls(bool force) {
  absl::MutexLock lock(&crl_mu_);
  absl::StatusOr<std::vector<CrlRecord>> existing = store_->ListCrls();
  if (!existing.ok()) return existing.status();
  uint64_t next_number = 1;
  for (const CrlRecord& c : *existing) next_number = std::max(next_number, c.number + 1);
  TimePoint now = clock_->Now();
  bool issued = false;
  std::shared_ptr<const TrustSnapshot> trust = trust_->Current();
  for (const TrustSnapshot::Root& trusted : trust->roots) {
    const SigningCa& root = *trusted.ca;
    const CrlRecord* current = nullptr;
    for (const CrlRecord& c : *existing) {
      if (c.root_key_id == root.key_id) current = &c;
    }
    absl::StatusOr<std::vector<CertificateRecord>> revoked = store_->ListRevoked(root.key_id);
    if (!revoked.ok()) return revoked.status();
    // An expired certificate leaves the CRL (RFC 5280 5.1.2.6 allows it;
    // verifiers refuse it for its dates). One the current CRL was signed
    // while it was valid, and that expired since, makes a new CRL due, so
    // that expiry too publishes a fresh, signed CRL.
    bool expired_since = false;
    pki::CrlTemplate tmpl;
    for (const CertificateRecord& r : *revoked) {
      if (r.not_after <= now) {
        expired_since |= current != nullptr && r.not_after > current->this_update;
        continue;
      }
      tmpl.revoked.push_back({r.serial, r.revoked_at, r.revocation_reason});
    }
    bool due = current == nullptr || expired_since ||
               now >= current->this_update + (current->next_update - current->this_update) / 2;
    if (!force && !due) continue;
    tmpl.number = next_number++;
    tmpl.this_update = now - options_->backdate;
    tmpl.next_update = now + options_->crl_validity;
    absl::StatusOr<ossl::UniquePtr<X509_CRL>> crl =
        pki::IssueCrl(tmpl, root.certificate.get(), *root.signer);
    if (!crl.ok()) return crl.status();
    CrlRecord record{root.key_id, tmpl.number, pki::CrlPem(crl->get()),
                     pki::CrlThisUpdate(crl->get()), pki::CrlNextUpdate(crl->get())};
    AuditedCall call = audit_->BeginAs("local:meshtrust-ca", "IssueCrl", root.key_id, "");
    if (absl::Status s = store_->SaveCrl(
            record, call.Succeeded(absl::StrCat("ok: CRL number ", tmpl.number, " with ",
                                                tmpl.revoked.size(), " revoked")));
        !s.ok()) {
      return s;
    }
    issued = true;
    spdlog::info("signed CRL {} for root {} ({} revoked, next update {})", tmpl.number, root.key_id,
                 tmpl.revoked.size(), UnixSeconds(record.next_update));
  }
  if (issued) hub_->Publish("", WatchEventType::kCrlChanged);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Revocation::RootCrlPem(absl::string_view key_id) {
  absl::StatusOr<std::vector<CrlRecord>> crls = store_->ListCrls();
  if (!crls.ok()) return crls.status();
  for (const CrlRecord& c : *crls) {
    if (c.root_key_id == key_id) return c.crl_pem;
  }
  return absl::NotFoundError(absl::StrCat("no CRL for root \"", key_id, "\""));
}

absl::StatusOr<bool> Revocation::SignedBeforeAnyRevocation(const IntermediateCrlRecord& crl) {
  absl::StatusOr<CertificateRecord> intermediate = store_->GetCertificate(crl.serial);
  if (!intermediate.ok()) return intermediate.status();
  if (!intermediate->revoked) return true;
  // Kept so that verifiers report the revoked intermediate's certificates as
  // "revoked" rather than "no CRL"; one claiming a later date came from a
  // key no longer trusted.
  absl::StatusOr<std::vector<ossl::UniquePtr<X509_CRL>>> parsed = pki::ParseCrlsPem(crl.crl_pem);
  return parsed.ok() && parsed->size() == 1 &&
         pki::CrlThisUpdate((*parsed)[0].get()) <= intermediate->revoked_at;
}

absl::StatusOr<CrlSet> Revocation::GetCrls(const Caller& caller) {
  AuditedCall call = audit_->Begin(caller, "GetCrls", caller.name, "");
  absl::StatusOr<ClusterRecord> own = authorizer_->AuthorizeAgent(caller);
  if (!own.ok()) return call.Refuse(own.status());
  // Agents poll their CRLs; only refusals are news.
  call.Unrecorded();
  CrlSet set;
  std::shared_ptr<const TrustSnapshot> trust = trust_->Current();
  for (const TrustSnapshot::Root& root : trust->roots) {
    // Only roots in the bundle: agents check each root CRL against it.
    if (root.status == RootStatus::kRetired) continue;
    absl::StatusOr<std::string> pem = RootCrlPem(root.ca->key_id);
    if (absl::IsNotFound(pem.status())) {
      // First call after start-up, before the timer ran.
      if (absl::Status s = RefreshCrls(/*force=*/false); !s.ok()) return s;
      pem = RootCrlPem(root.ca->key_id);
    }
    if (!pem.ok()) return pem.status();
    set.root_crls_pem += *pem;
  }
  // Every unexpired intermediate's latest CRL, previous intermediates' too:
  // their workloads are still about until istiod re-issues them. Revoked
  // clusters' CRLs stay as well, so verifiers report "revoked" rather than a
  // missing CRL. The caller's current intermediate signs its own CRL.
  absl::StatusOr<std::vector<IntermediateCrlRecord>> crls =
      store_->ListIntermediateCrls(clock_->Now());
  if (!crls.ok()) return crls.status();
  for (const IntermediateCrlRecord& c : *crls) {
    if (c.cluster == caller.name && c.serial == own->current_serial) continue;
    absl::StatusOr<bool> shared = SignedBeforeAnyRevocation(c);
    if (!shared.ok()) return shared.status();
    if (*shared) set.intermediate_crls_pem += c.crl_pem;
  }
  set.sha256 = pki::Sha256Hex(set.root_crls_pem + set.intermediate_crls_pem);
  return set;
}

absl::StatusOr<RevokeResult> Revocation::Revoke(const Caller& caller, absl::string_view cluster,
                                                absl::string_view serial,
                                                absl::string_view reason_name) {
  AuditedCall call = audit_->Begin(caller, cluster.empty() ? "RevokeCertificate" : "RevokeCluster",
                                   cluster.empty() ? serial : cluster,
                                   RequestDigest({cluster, serial, reason_name}));
  if (absl::Status s = authorizer_->AuthorizeAdmin(caller, AdminAccess::kWrite); !s.ok()) {
    return call.Refuse(s);
  }
  if (cluster.empty() == serial.empty()) {
    return call.Refuse(absl::InvalidArgumentError("give exactly one of a cluster or a serial"));
  }
  absl::StatusOr<int> reason =
      pki::ParseRevocationReason(reason_name.empty() ? "unspecified" : reason_name);
  if (!reason.ok()) return call.Refuse(reason.status());
  TimePoint now = clock_->Now();
  RevokeResult result;
  std::string recorded = absl::StrCat("ok: ", pki::RevocationReasonName(*reason));
  if (!cluster.empty()) {
    absl::StatusOr<std::vector<std::string>> serials =
        store_->RevokeCluster(cluster, *reason, now, call.Succeeded(recorded));
    if (absl::IsNotFound(serials.status())) return call.Refuse(serials.status());
    if (!serials.ok()) return serials.status();
    result.serials = *std::move(serials);
  } else {
    call.set_serial(serial);
    absl::Status s = store_->RevokeCertificate(serial, *reason, now, call.Succeeded(recorded));
    if (absl::IsNotFound(s) || absl::IsAlreadyExists(s)) return call.Refuse(s);
    if (!s.ok()) return s;
    result.serials = {std::string(serial)};
  }
  spdlog::warn("{} revoked {} ({}): {}", caller.ToString(), cluster.empty() ? serial : cluster,
               pki::RevocationReasonName(*reason), absl::StrJoin(result.serials, ", "));
  if (absl::Status s = RefreshCrls(/*force=*/true); !s.ok()) return s;
  absl::StatusOr<std::vector<CrlRecord>> crls = store_->ListCrls();
  if (crls.ok()) {
    for (const CrlRecord& c : *crls) result.crl_number = std::max(result.crl_number, c.number);
  }
  return result;
}

absl::StatusOr<RevokeResult> Revocation::ReleaseHold(const Caller& caller,
                                                     absl::string_view serial) {
  AuditedCall call = audit_->Begin(caller, "ReleaseHold", serial, RequestDigest({serial}));
  call.set_serial(serial);
  if (absl::Status s = authorizer_->AuthorizeAdmin(caller, AdminAccess::kWrite); !s.ok()) {
    return call.Refuse(s);
  }
  if (serial.empty()) return call.Refuse(absl::InvalidArgumentError("give the serial to release"));
  // Named here, with the reason's name; the store's conditional update
  // decides, so a concurrent change cannot slip between.
  absl::StatusOr<CertificateRecord> cert = store_->GetCertificate(serial);
  if (!cert.ok()) {
    return absl::IsNotFound(cert.status()) ? call.Refuse(cert.status()) : cert.status();
  }
  if (!cert->revoked) return call.Refuse(NotRevokedError(serial));
  if (cert->revocation_reason != kCertificateHoldReason) {
    return call.Refuse(absl::FailedPreconditionError(absl::StrCat(
        "certificate ", serial, " was revoked with reason ",
        pki::RevocationReasonName(cert->revocation_reason),
        "; only a certificate on hold (revoked with reason certificateHold) can be released")));
  }
  absl::Status s = store_->ReleaseHold(serial, call.Succeeded("ok: hold released"));
  if (absl::IsNotFound(s) || absl::IsFailedPrecondition(s)) return call.Refuse(s);
  if (!s.ok()) return s;
  spdlog::warn("{} released the hold on {}", caller.ToString(), serial);
  if (absl::Status r = RefreshCrls(/*force=*/true); !r.ok()) return r;
  RevokeResult result;
  result.serials = {std::string(serial)};
  absl::StatusOr<std::vector<CrlRecord>> crls = store_->ListCrls();
  if (crls.ok()) {
    for (const CrlRecord& c : *crls) result.crl_number = std::max(result.crl_number, c.number);
  }
  return result;
}

}  // namespace meshtrust::ca
