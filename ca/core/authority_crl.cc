// The Authority's revocation side: revoking, and signing each root's CRL.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/logging.h"
#include "ca/core/authority.h"
#include "pki/crl.h"
#include "pki/digest.h"

namespace meshtrust::ca {

std::vector<std::string> Authority::RootKeyIds() const {
  std::vector<std::string> ids;
  for (const auto& root : Trust()->roots) ids.push_back(root->key_id);
  return ids;
}

absl::Status Authority::RefreshCrls(bool force) {
  std::lock_guard<std::mutex> lock(crl_mu_);
  absl::StatusOr<std::vector<CrlRecord>> existing = store_->ListCrls();
  if (!existing.ok()) return existing.status();
  uint64_t next_number = 1;
  for (const CrlRecord& c : *existing) next_number = std::max(next_number, c.number + 1);
  TimePoint now = clock_->Now();
  bool issued = false;
  std::shared_ptr<const TrustState> trust = Trust();
  for (const auto& root_ptr : trust->roots) {
    const SigningCa& root = *root_ptr;
    const CrlRecord* current = nullptr;
    for (const CrlRecord& c : *existing) {
      if (c.root_key_id == root.key_id) current = &c;
    }
    bool due = current == nullptr ||
               now >= current->this_update + (current->next_update - current->this_update) / 2;
    if (!force && !due) continue;
    absl::StatusOr<std::vector<CertificateRecord>> revoked = store_->ListRevoked(root.key_id);
    if (!revoked.ok()) return revoked.status();
    pki::CrlTemplate tmpl;
    tmpl.number = next_number++;
    tmpl.this_update = now - options_.backdate;
    tmpl.next_update = now + options_.crl_validity;
    for (const CertificateRecord& r : *revoked) {
      tmpl.revoked.push_back({r.serial, r.revoked_at, r.revocation_reason});
    }
    absl::StatusOr<ossl::UniquePtr<X509_CRL>> crl =
        pki::IssueCrl(tmpl, root.certificate.get(), root.key.get());
    if (!crl.ok()) return crl.status();
    CrlRecord record{root.key_id, tmpl.number, pki::CrlPem(crl->get()),
                     pki::CrlThisUpdate(crl->get()), pki::CrlNextUpdate(crl->get())};
    AuditEvent event = Event(Caller::Anonymous(), "IssueCrl", root.key_id, "");
    event.caller = "local:meshtrust-ca";
    event.result =
        absl::StrCat("ok: CRL number ", tmpl.number, " with ", tmpl.revoked.size(), " revoked");
    if (absl::Status s = store_->SaveCrl(record, event); !s.ok()) return s;
    issued = true;
    spdlog::info("signed CRL {} for root {} ({} revoked, next update {})", tmpl.number, root.key_id,
                 tmpl.revoked.size(), UnixSeconds(record.next_update));
  }
  if (issued) hub_.Publish("", WatchEventType::kCrlChanged);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Authority::RootCrlPem(absl::string_view key_id) {
  absl::StatusOr<std::vector<CrlRecord>> crls = store_->ListCrls();
  if (!crls.ok()) return crls.status();
  for (const CrlRecord& c : *crls) {
    if (c.root_key_id == key_id) return c.crl_pem;
  }
  return absl::NotFoundError(absl::StrCat("no CRL for root \"", key_id, "\""));
}

absl::StatusOr<CrlSet> Authority::GetCrls(const Caller& caller) {
  absl::StatusOr<ClusterRecord> own = AuthorizeAgent(caller);
  if (!own.ok()) return Refuse(Event(caller, "GetCrls", caller.name, ""), own.status());
  CrlSet set;
  std::shared_ptr<const TrustState> trust = Trust();
  for (size_t i = 0; i < trust->roots.size(); ++i) {
    // Only roots in the bundle: agents check each root CRL against it.
    if (trust->statuses[i] == "retired") continue;
    const SigningCa& root = *trust->roots[i];
    absl::StatusOr<std::string> pem = RootCrlPem(root.key_id);
    if (absl::IsNotFound(pem.status())) {
      // First call after start-up, before the timer ran.
      if (absl::Status s = RefreshCrls(); !s.ok()) return s;
      pem = RootCrlPem(root.key_id);
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
    set.intermediate_crls_pem += c.crl_pem;
  }
  set.sha256 = pki::Sha256Hex(set.root_crls_pem + set.intermediate_crls_pem);
  return set;
}

absl::StatusOr<RevokeResult> Authority::Revoke(const Caller& caller, absl::string_view cluster,
                                               absl::string_view serial,
                                               absl::string_view reason_name) {
  AuditEvent event =
      Event(caller, cluster.empty() ? "RevokeCertificate" : "RevokeCluster",
            cluster.empty() ? serial : cluster, RequestDigest({cluster, serial, reason_name}));
  if (absl::Status s = AuthorizeAdmin(caller, /*mutating=*/true); !s.ok()) return Refuse(event, s);
  if (cluster.empty() == serial.empty()) {
    return Refuse(event, absl::InvalidArgumentError("give exactly one of a cluster or a serial"));
  }
  absl::StatusOr<int> reason =
      pki::ParseRevocationReason(reason_name.empty() ? "unspecified" : reason_name);
  if (!reason.ok()) return Refuse(event, reason.status());
  TimePoint now = clock_->Now();
  RevokeResult result;
  event.result = absl::StrCat("ok: ", pki::RevocationReasonName(*reason));
  if (!cluster.empty()) {
    absl::StatusOr<std::vector<std::string>> serials =
        store_->RevokeCluster(cluster, *reason, now, event);
    if (absl::IsNotFound(serials.status())) return Refuse(event, serials.status());
    if (!serials.ok()) return serials.status();
    result.serials = *std::move(serials);
  } else {
    event.serial = std::string(serial);
    absl::Status s = store_->RevokeCertificate(serial, *reason, now, event);
    if (absl::IsNotFound(s) || absl::IsAlreadyExists(s)) return Refuse(event, s);
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

absl::StatusOr<std::shared_ptr<WatchHub::Subscription>> Authority::Watch(
    const Caller& caller, absl::string_view cluster) {
  AuditEvent event = Event(caller, "Watch", cluster, "");
  absl::StatusOr<ClusterRecord> record = AuthorizeAgent(caller);
  if (!record.ok()) return Refuse(event, record.status());
  if (cluster != caller.name) {
    return Refuse(event,
                  absl::PermissionDeniedError(absl::StrCat(
                      "identity ", caller.ToString(), " may not watch cluster \"", cluster, "\"")));
  }
  return hub_.Subscribe(caller.name);
}

absl::StatusOr<int> Authority::RotateIntermediate(const Caller& caller, absl::string_view cluster) {
  AuditEvent event = Event(caller, "RotateIntermediate", cluster, "");
  if (absl::Status s = AuthorizeAdmin(caller, /*mutating=*/true); !s.ok()) return Refuse(event, s);
  absl::StatusOr<ClusterRecord> record = store_->GetCluster(cluster);
  if (!record.ok()) return Refuse(event, record.status());
  if (!record->enabled) {
    return Refuse(event, absl::FailedPreconditionError(absl::StrCat(
                             "cluster \"", cluster, "\" is disabled; enable it before rotating")));
  }
  event.result = "ok";
  if (absl::Status s = store_->AppendAudit(event); !s.ok()) return s;
  int notified = hub_.Publish(record->name, WatchEventType::kRotateNow);
  spdlog::info("{} asked cluster {} to re-key ({} agent(s) listening)", caller.ToString(), cluster,
               notified);
  return notified;
}

}  // namespace meshtrust::ca
