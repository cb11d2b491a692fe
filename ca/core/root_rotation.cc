#include "ca/core/root_rotation.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/json_fields.h"
#include "base/logging.h"
#include "ca/core/profiles.h"
#include "nlohmann/json.hpp"
#include "pki/certificate.h"
#include "pki/key.h"

namespace meshtrust::ca {
namespace {

// What the store keeps of a rotation under way (meta key "root_rotation").
struct RotationState {
  RotationPhase phase = RotationPhase::kIdle;
  std::string old_root;
  std::string new_root;
  int64_t activated_at_ms = 0;

  std::string ToJson() const {
    return nlohmann::json{{"phase", std::string(RotationPhaseName(phase))},
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
    absl::StatusOr<std::string> phase = JsonString(j, "phase", RotationPhaseName(s.phase));
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
    absl::StatusOr<RotationPhase> parsed = ParseRotationPhase(*phase);
    if (!parsed.ok()) {
      return absl::DataLossError(
          absl::StrCat("the stored root rotation state is malformed: ", parsed.status().message()));
    }
    s.phase = *parsed;
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

std::pair<std::string, std::string> StoredStatus(const std::string& key_id, RootStatus status) {
  return {key_id, std::string(RootStatusName(status))};
}

}  // namespace

absl::StatusOr<RootRotationStatus> RootRotator::ComputeStatus() {
  absl::StatusOr<RotationState> stored = ReadRotationState(store_);
  if (!stored.ok()) return stored.status();
  RotationState state = *std::move(stored);
  std::shared_ptr<const TrustSnapshot> trust = trust_->Current();
  RootRotationStatus out;
  out.phase = state.phase;
  out.activated_at = FromUnixMillis(state.activated_at_ms);
  for (const TrustSnapshot::Root& root : trust->roots) {
    out.roots.push_back(
        {root.ca->key_id, root.status, pki::CertificateSha256Hex(root.ca->certificate.get())});
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
  if (state.phase == RotationPhase::kBegun && !not_acked_bundle.empty()) {
    out.blocking = absl::StrCat("not yet acknowledged the new trust bundle: ",
                                absl::StrJoin(not_acked_bundle, ", "));
  } else if (state.phase == RotationPhase::kActivated) {
    if (!not_on_signing_root.empty()) {
      out.blocking = absl::StrCat("not yet acknowledged an intermediate from the new root: ",
                                  absl::StrJoin(not_on_signing_root, ", "));
    } else if (clock_->Now() < out.activated_at + options_->root_rotation_soak) {
      auto left = std::chrono::duration_cast<std::chrono::seconds>(
          out.activated_at + options_->root_rotation_soak - clock_->Now());
      out.blocking = absl::StrCat("the soak time has not passed (", left.count(),
                                  "s left; workloads may still hold chains to the old root)");
    }
  }
  return out;
}

absl::StatusOr<RotationPhase> RootRotator::CurrentPhase() {
  absl::StatusOr<RotationState> state = ReadRotationState(store_);
  if (!state.ok()) return state.status();
  return state->phase;
}

absl::StatusOr<RootRotationStatus> RootRotator::Status(const Caller& caller) {
  AuditedCall call = audit_->Begin(caller, "RootRotationStatus", "", "");
  if (absl::Status s = authorizer_->AuthorizeAdmin(caller, AdminAccess::kRead); !s.ok()) {
    return call.Refuse(s);
  }
  if (absl::Status s = call.Record(); !s.ok()) return s;
  return ComputeStatus();
}

absl::StatusOr<RootRotationStatus> RootRotator::Begin(const Caller& caller) {
  absl::MutexLock lock(&mu_);
  AuditedCall call = audit_->Begin(caller, "RootRotationBegin", "", "");
  if (absl::Status s = authorizer_->AuthorizeAdmin(caller, AdminAccess::kWrite); !s.ok()) {
    return call.Refuse(s);
  }
  absl::StatusOr<RotationState> stored = ReadRotationState(store_);
  if (!stored.ok()) return call.Fail(stored.status());
  RotationState state = *std::move(stored);
  if (state.phase != RotationPhase::kIdle) {
    return call.Refuse(absl::FailedPreconditionError(
        absl::StrCat("a root rotation is already ", RotationPhaseName(state.phase),
                     "; finish it before beginning another")));
  }
  std::shared_ptr<const TrustSnapshot> trust = trust_->Current();
  const SigningCa& old_root = *trust->active;
  if (old_root.under_offline_root) {
    // Generating B here would swap the operator's offline root for a
    // self-signed one nobody decided on.
    return call.Refuse(absl::FailedPreconditionError(
        absl::StrCat("the signing CA ", old_root.key_id,
                     " was imported under an offline root; rotating would replace that "
                     "root with a self-signed one. Rotate the offline root's "
                     "intermediate outside meshtrust; root rotation here is for roots "
                     "meshtrust generated")));
  }
  absl::StatusOr<pki::KeyAlgorithm> alg = pki::ClassifyKey(old_root.signer->public_key());
  if (!alg.ok()) return call.Fail(alg.status());
  // A fresh id: never reuse a key id, even after failures.
  std::string key_id;
  for (size_t n = trust->roots.size() + 1;; ++n) {
    key_id = absl::StrCat("mesh-root-", n);
    if (!keys_->Contains(key_id)) break;
  }
  TimePoint now = clock_->Now();
  // The new root lives as long as the old one did.
  pki::CertificateTemplate tmpl = profiles::MeshRoot(
      options_->organization, key_id.substr(10), now,
      std::chrono::duration_cast<std::chrono::seconds>(pki::NotAfter(old_root.certificate.get()) -
                                                       pki::NotBefore(old_root.certificate.get())));
  // The key is made inside the keystore and never leaves it.
  absl::StatusOr<std::shared_ptr<const pki::Signer>> signer =
      keys_->GenerateSigningKey(key_id, keystore::KeyTypeFor(*alg));
  if (!signer.ok()) return call.Fail(signer.status());
  absl::StatusOr<ossl::UniquePtr<X509>> cert =
      pki::IssueCertificate(tmpl, (*signer)->public_key(), nullptr, **signer);
  if (!cert.ok()) return call.Fail(cert.status());
  // The signing root vouches for B, so agents that pinned it accept B.
  absl::StatusOr<ossl::UniquePtr<X509>> endorsement = pki::IssueCertificate(
      profiles::RootEndorsement(tmpl, now, pki::NotAfter(old_root.certificate.get())),
      (*signer)->public_key(), old_root.certificate.get(), *old_root.signer);
  if (!endorsement.ok()) return call.Fail(endorsement.status());
  RootRecord record;
  record.key_id = key_id;
  record.certificate_pem = pki::CertificatePem(cert->get());
  record.anchor_pem = record.certificate_pem;
  record.status = std::string(RootStatusName(RootStatus::kTrusted));
  record.created = now;
  record.endorsement_pem = pki::CertificatePem(endorsement->get());
  state.phase = RotationPhase::kBegun;
  state.old_root = old_root.key_id;
  state.new_root = key_id;
  call.set_target(key_id);
  call.set_serial(pki::SerialHex(cert->get()));
  if (absl::Status s = store_->AddRoot(record, call.Succeeded(), state.ToJson()); !s.ok()) {
    return s;
  }
  if (absl::Status s = trust_->Reload(); !s.ok()) return s;
  if (absl::Status s = revocation_->RefreshCrls(/*force=*/false); !s.ok()) return s;
  int told = hub_->Publish("", WatchEventType::kBundleChanged);
  spdlog::warn("{} began a root rotation: {} joins the trust bundle after {} ({} agent(s) told)",
               caller.ToString(), key_id, old_root.key_id, told);
  return ComputeStatus();
}

absl::StatusOr<RootRotationStatus> RootRotator::Activate(const Caller& caller, bool force) {
  absl::MutexLock lock(&mu_);
  AuditedCall call = audit_->Begin(caller, "RootRotationActivate", "", force ? "force" : "");
  if (absl::Status s = authorizer_->AuthorizeAdmin(caller, AdminAccess::kWrite); !s.ok()) {
    return call.Refuse(s);
  }
  absl::StatusOr<RootRotationStatus> status = ComputeStatus();
  if (!status.ok()) return call.Fail(status.status());
  if (status->phase != RotationPhase::kBegun) {
    return call.Refuse(absl::FailedPreconditionError(
        absl::StrCat("the root rotation is ", RotationPhaseName(status->phase), ", not begun")));
  }
  absl::StatusOr<RotationState> stored = ReadRotationState(store_);
  if (!stored.ok()) return call.Fail(stored.status());
  RotationState state = *std::move(stored);
  call.set_target(state.new_root);
  std::string result = "ok";
  if (!status->blocking.empty()) {
    if (!force) {
      return call.Refuse(absl::FailedPreconditionError(
          absl::StrCat("refusing to activate the new root: clusters have ", status->blocking,
                       "; wait for their agents or pass --force")));
    }
    result = absl::StrCat("ok: forced although clusters had ", status->blocking);
  }
  state.phase = RotationPhase::kActivated;
  state.activated_at_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_->Now().time_since_epoch())
          .count();
  if (absl::Status s = store_->UpdateRoots({StoredStatus(state.old_root, RootStatus::kTrusted),
                                            StoredStatus(state.new_root, RootStatus::kActive)},
                                           state.ToJson(), call.Succeeded(result));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = trust_->Reload(); !s.ok()) return s;
  int told = hub_->Publish("", WatchEventType::kRotateNow);
  spdlog::warn("{} activated root {}{}; {} agent(s) told to re-key", caller.ToString(),
               state.new_root, force ? " (forced)" : "", told);
  return ComputeStatus();
}

absl::StatusOr<RootRotationStatus> RootRotator::Finish(const Caller& caller) {
  absl::MutexLock lock(&mu_);
  AuditedCall call = audit_->Begin(caller, "RootRotationFinish", "", "");
  if (absl::Status s = authorizer_->AuthorizeAdmin(caller, AdminAccess::kWrite); !s.ok()) {
    return call.Refuse(s);
  }
  absl::StatusOr<RootRotationStatus> status = ComputeStatus();
  if (!status.ok()) return call.Fail(status.status());
  if (status->phase != RotationPhase::kActivated) {
    return call.Refuse(absl::FailedPreconditionError(absl::StrCat(
        "the root rotation is ", RotationPhaseName(status->phase), ", not activated")));
  }
  if (!status->blocking.empty()) {
    return call.Refuse(absl::FailedPreconditionError(
        absl::StrCat("refusing to retire the old root: ", status->blocking)));
  }
  absl::StatusOr<RotationState> stored = ReadRotationState(store_);
  if (!stored.ok()) return call.Fail(stored.status());
  RotationState state = *std::move(stored);
  call.set_target(state.old_root);
  RotationState idle;
  if (absl::Status s = store_->UpdateRoots({StoredStatus(state.old_root, RootStatus::kRetired)},
                                           idle.ToJson(), call.Succeeded());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = trust_->Reload(); !s.ok()) return s;
  int told = hub_->Publish("", WatchEventType::kBundleChanged);
  spdlog::warn("{} finished the root rotation: {} retired ({} agent(s) told)", caller.ToString(),
               state.old_root, told);
  return ComputeStatus();
}

}  // namespace meshtrust::ca
