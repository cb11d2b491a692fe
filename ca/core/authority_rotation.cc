// The Authority's root rotation: three phases gated on acknowledgements.
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/json_fields.h"
#include "base/logging.h"
#include "ca/core/authority.h"
#include "nlohmann/json.hpp"
#include "pki/certificate.h"
#include "pki/digest.h"
#include "pki/key.h"

namespace meshtrust::ca {
namespace {

struct RotationState {
  std::string phase = "idle";
  std::string old_root;
  std::string new_root;
  int64_t activated_at_ms = 0;

  std::string ToJson() const {
    return nlohmann::json{{"phase", phase},
                          {"old_root", old_root},
                          {"new_root", new_root},
                          {"activated_at_ms", activated_at_ms}}
        .dump();
  }
  // Empty text is the state before any rotation. kDataLoss when the stored
  // document is not one this code wrote.
  static absl::StatusOr<RotationState> FromJson(const std::string& text) {
    RotationState s;
    if (text.empty()) return s;
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    absl::StatusOr<std::string> phase = JsonString(j, "phase", s.phase);
    absl::StatusOr<std::string> old_root = JsonString(j, "old_root");
    absl::StatusOr<std::string> new_root = JsonString(j, "new_root");
    absl::StatusOr<int64_t> activated = JsonInt64(j, "activated_at_ms");
    for (const absl::Status& st :
         {phase.status(), old_root.status(), new_root.status(), activated.status()}) {
      if (!st.ok()) {
        return absl::DataLossError(
            absl::StrCat("the stored root rotation state is malformed: ", st.message()));
      }
    }
    if (*phase != "idle" && *phase != "begun" && *phase != "activated") {
      return absl::DataLossError(
          absl::StrCat("the stored root rotation state is malformed: unknown phase \"",
                       absl::CHexEscape(*phase), "\""));
    }
    s.phase = *std::move(phase);
    s.old_root = *std::move(old_root);
    s.new_root = *std::move(new_root);
    s.activated_at_ms = *activated;
    return s;
  }
};

absl::StatusOr<RotationState> ReadRotationState(Store* store) {
  absl::StatusOr<std::string> raw = store->RotationState();
  if (!raw.ok()) return raw.status();
  return RotationState::FromJson(*raw);
}

}  // namespace

absl::StatusOr<RootRotationStatus> Authority::ComputeRotationStatus() {
  absl::StatusOr<RotationState> stored = ReadRotationState(store_);
  if (!stored.ok()) return stored.status();
  RotationState state = *std::move(stored);
  std::shared_ptr<const TrustState> trust = Trust();
  RootRotationStatus out;
  out.phase = state.phase;
  out.activated_at = FromUnixMillis(state.activated_at_ms);
  for (size_t i = 0; i < trust->roots.size(); ++i) {
    out.roots.push_back({trust->roots[i]->key_id, trust->statuses[i],
                         pki::CertificateSha256Hex(trust->roots[i]->certificate.get())});
  }
  absl::StatusOr<std::vector<ClusterRecord>> clusters = store_->ListClusters();
  if (!clusters.ok()) return clusters.status();
  std::vector<std::string> not_acked_bundle, not_on_signing_root;
  for (const ClusterRecord& c : *clusters) {
    RootRotationStatus::ClusterState cs;
    cs.name = c.name;
    cs.enabled = c.enabled;
    cs.acked_bundle = c.acked_bundle_sha256 == trust->bundle.sha256;
    if (!c.acked_serial.empty()) {
      absl::StatusOr<CertificateRecord> cert = store_->GetCertificate(c.acked_serial);
      cs.on_signing_root = cert.ok() && cert->issuer_key_id == trust->active->key_id;
    }
    if (c.enabled && !cs.acked_bundle) not_acked_bundle.push_back(c.name);
    if (c.enabled && !cs.on_signing_root) not_on_signing_root.push_back(c.name);
    out.clusters.push_back(cs);
  }
  if (state.phase == "begun" && !not_acked_bundle.empty()) {
    out.blocking = absl::StrCat("not yet acknowledged the new trust bundle: ",
                                absl::StrJoin(not_acked_bundle, ", "));
  } else if (state.phase == "activated") {
    if (!not_on_signing_root.empty()) {
      out.blocking = absl::StrCat("not yet acknowledged an intermediate from the new root: ",
                                  absl::StrJoin(not_on_signing_root, ", "));
    } else if (clock_->Now() < out.activated_at + options_.root_rotation_soak) {
      auto left = std::chrono::duration_cast<std::chrono::seconds>(
          out.activated_at + options_.root_rotation_soak - clock_->Now());
      out.blocking = absl::StrCat("the soak time has not passed (", left.count(),
                                  "s left; workloads may still hold chains to the old root)");
    }
  }
  return out;
}

std::string Authority::RotationPhase() {
  absl::StatusOr<RotationState> state = ReadRotationState(store_);
  return state.ok() ? state->phase : "unknown";
}

absl::StatusOr<RootRotationStatus> Authority::RootRotation(const Caller& caller) {
  AuditEvent event = Event(caller, "RootRotationStatus", "", "");
  if (absl::Status s = AuthorizeAdmin(caller, /*mutating=*/false); !s.ok()) return Refuse(event, s);
  event.result = "ok";
  if (absl::Status s = store_->AppendAudit(event); !s.ok()) return s;
  return ComputeRotationStatus();
}

absl::StatusOr<MeshStatusInfo> Authority::MeshStatus(const Caller& caller) {
  AuditEvent event = Event(caller, "MeshStatus", "", "");
  if (absl::Status s = AuthorizeAdmin(caller, /*mutating=*/false); !s.ok()) return Refuse(event, s);
  event.result = "ok";
  if (absl::Status s = store_->AppendAudit(event); !s.ok()) return s;
  MeshStatusInfo out;
  absl::StatusOr<RootRotationStatus> rotation = ComputeRotationStatus();
  if (!rotation.ok()) return rotation.status();
  out.rotation = *std::move(rotation);
  absl::StatusOr<std::vector<ClusterRecord>> clusters = store_->ListClusters();
  if (!clusters.ok()) return clusters.status();
  out.clusters = *std::move(clusters);
  absl::StatusOr<std::vector<CrlRecord>> crls = store_->ListCrls();
  if (!crls.ok()) return crls.status();
  for (CrlRecord& c : *crls) {
    for (const RootRotationStatus::Root& r : out.rotation.roots) {
      if (r.key_id == c.root_key_id && r.status != "retired") out.crls.push_back(std::move(c));
    }
  }
  out.bundle_sha256 = CurrentBundle().sha256;
  out.audit_head = store_->Head().sequence;
  out.now = clock_->Now();
  return out;
}

absl::StatusOr<RootRotationStatus> Authority::BeginRootRotation(const Caller& caller) {
  std::lock_guard<std::mutex> lock(rotation_mu_);
  AuditEvent event = Event(caller, "RootRotationBegin", "", "");
  if (absl::Status s = AuthorizeAdmin(caller, /*mutating=*/true); !s.ok()) return Refuse(event, s);
  absl::StatusOr<RotationState> stored = ReadRotationState(store_);
  if (!stored.ok()) return stored.status();
  RotationState state = *std::move(stored);
  if (state.phase != "idle") {
    return Refuse(event, absl::FailedPreconditionError(
                             absl::StrCat("a root rotation is already ", state.phase,
                                          "; finish it before beginning another")));
  }
  std::shared_ptr<const TrustState> trust = Trust();
  const SigningCa& old_root = *trust->active;
  if (old_root.under_offline_root) {
    // Generating B here would swap the operator's offline root for a
    // self-signed one nobody decided on.
    return Refuse(event, absl::FailedPreconditionError(absl::StrCat(
                             "the signing CA ", old_root.key_id,
                             " was imported under an offline root; rotating would replace that "
                             "root with a self-signed one. Rotate the offline root's "
                             "intermediate outside meshtrust; root rotation here is for roots "
                             "meshtrust generated")));
  }
  absl::StatusOr<pki::KeyAlgorithm> alg = pki::ClassifyKey(old_root.key.get());
  if (!alg.ok()) return alg.status();
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> key = pki::GenerateKey(*alg);
  if (!key.ok()) return key.status();
  // A fresh id: never reuse a key id, even after failures.
  std::string key_id;
  for (size_t n = trust->roots.size() + 1;; ++n) {
    key_id = absl::StrCat("mesh-root-", n);
    if (!keys_->Contains(key_id)) break;
  }
  TimePoint now = clock_->Now();
  pki::CertificateTemplate tmpl;
  tmpl.subject = {{"O", options_.organization},
                  {"CN", absl::StrCat(options_.organization, " mesh root CA ", key_id.substr(10))}};
  tmpl.not_before = now - std::chrono::minutes(5);
  tmpl.not_after = now + (pki::NotAfter(old_root.certificate.get()) -
                          pki::NotBefore(old_root.certificate.get()));
  tmpl.is_ca = true;
  tmpl.path_len = 1;
  tmpl.key_usage = pki::kKeyCertSign | pki::kCrlSign;
  absl::StatusOr<ossl::UniquePtr<X509>> cert =
      pki::IssueCertificate(tmpl, key->get(), nullptr, key->get());
  if (!cert.ok()) return cert.status();
  if (absl::Status s = keys_->PutKey(key_id, key->get()); !s.ok()) return s;
  RootRecord record;
  record.key_id = key_id;
  record.certificate_pem = pki::CertificatePem(cert->get());
  record.anchor_pem = record.certificate_pem;
  record.status = "trusted";
  record.created = now;
  state.phase = "begun";
  state.old_root = old_root.key_id;
  state.new_root = key_id;
  event.target = key_id;
  event.serial = pki::SerialHex(cert->get());
  event.result = "ok";
  if (absl::Status s = store_->AddRoot(record, event, state.ToJson()); !s.ok()) return s;
  if (absl::Status s = ReloadTrust(); !s.ok()) return s;
  if (absl::Status s = RefreshCrls(); !s.ok()) return s;
  int told = hub_.Publish("", WatchEventType::kBundleChanged);
  spdlog::warn("{} began a root rotation: {} joins the trust bundle after {} ({} agent(s) told)",
               caller.ToString(), key_id, old_root.key_id, told);
  return ComputeRotationStatus();
}

absl::StatusOr<RootRotationStatus> Authority::ActivateRootRotation(const Caller& caller,
                                                                   bool force) {
  std::lock_guard<std::mutex> lock(rotation_mu_);
  AuditEvent event = Event(caller, "RootRotationActivate", "", force ? "force" : "");
  if (absl::Status s = AuthorizeAdmin(caller, /*mutating=*/true); !s.ok()) return Refuse(event, s);
  absl::StatusOr<RootRotationStatus> status = ComputeRotationStatus();
  if (!status.ok()) return status.status();
  if (status->phase != "begun") {
    return Refuse(event, absl::FailedPreconditionError(
                             absl::StrCat("the root rotation is ", status->phase, ", not begun")));
  }
  absl::StatusOr<RotationState> stored = ReadRotationState(store_);
  if (!stored.ok()) return stored.status();
  RotationState state = *std::move(stored);
  event.target = state.new_root;
  if (!status->blocking.empty()) {
    if (!force) {
      return Refuse(event, absl::FailedPreconditionError(absl::StrCat(
                               "refusing to activate the new root: clusters have ",
                               status->blocking, "; wait for their agents or pass --force")));
    }
    event.result = absl::StrCat("ok: forced although clusters had ", status->blocking);
  } else {
    event.result = "ok";
  }
  state.phase = "activated";
  state.activated_at_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_->Now().time_since_epoch())
          .count();
  if (absl::Status s = store_->UpdateRoots(
          {{state.old_root, "trusted"}, {state.new_root, "active"}}, state.ToJson(), event);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ReloadTrust(); !s.ok()) return s;
  int told = hub_.Publish("", WatchEventType::kRotateNow);
  spdlog::warn("{} activated root {}{}; {} agent(s) told to re-key", caller.ToString(),
               state.new_root, force ? " (forced)" : "", told);
  return ComputeRotationStatus();
}

absl::StatusOr<RootRotationStatus> Authority::FinishRootRotation(const Caller& caller) {
  std::lock_guard<std::mutex> lock(rotation_mu_);
  AuditEvent event = Event(caller, "RootRotationFinish", "", "");
  if (absl::Status s = AuthorizeAdmin(caller, /*mutating=*/true); !s.ok()) return Refuse(event, s);
  absl::StatusOr<RootRotationStatus> status = ComputeRotationStatus();
  if (!status.ok()) return status.status();
  if (status->phase != "activated") {
    return Refuse(event, absl::FailedPreconditionError(absl::StrCat(
                             "the root rotation is ", status->phase, ", not activated")));
  }
  if (!status->blocking.empty()) {
    return Refuse(event, absl::FailedPreconditionError(
                             absl::StrCat("refusing to retire the old root: ", status->blocking)));
  }
  absl::StatusOr<RotationState> stored = ReadRotationState(store_);
  if (!stored.ok()) return stored.status();
  RotationState state = *std::move(stored);
  event.target = state.old_root;
  event.result = "ok";
  RotationState idle;
  if (absl::Status s = store_->UpdateRoots({{state.old_root, "retired"}}, idle.ToJson(), event);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ReloadTrust(); !s.ok()) return s;
  int told = hub_.Publish("", WatchEventType::kBundleChanged);
  spdlog::warn("{} finished the root rotation: {} retired ({} agent(s) told)", caller.ToString(),
               state.old_root, told);
  return ComputeRotationStatus();
}

}  // namespace meshtrust::ca
