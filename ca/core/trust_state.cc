#include "ca/core/trust_state.h"

#include "absl/strings/str_cat.h"
#include "pki/certificate.h"
#include "pki/digest.h"
#include "pki/key.h"

namespace meshtrust::ca {

absl::Status TrustState::Reload() {
  absl::StatusOr<std::vector<RootRecord>> roots = store_->ListRoots();
  if (!roots.ok()) return roots.status();
  auto snapshot = std::make_shared<TrustSnapshot>();
  for (const RootRecord& root : *roots) {
    absl::StatusOr<RootStatus> status = ParseRootStatus(root.status);
    if (!status.ok()) {
      return absl::DataLossError(
          absl::StrCat("mesh root \"", root.key_id, "\": ", status.status().message()));
    }
    // The bundle holds every non-retired anchor once, oldest first; a new
    // root is appended byte-exactly after the old ones.
    if (*status != RootStatus::kRetired &&
        snapshot->bundle.roots_pem.find(root.anchor_pem) == std::string::npos) {
      snapshot->bundle.roots_pem += root.anchor_pem;
      snapshot->bundle.endorsements_pem += root.endorsement_pem;
    }
    snapshot->bundle.sequence += *status == RootStatus::kRetired ? 2 : 1;
    auto ca = std::make_shared<SigningCa>();
    ca->key_id = root.key_id;
    absl::StatusOr<ossl::UniquePtr<X509>> cert = pki::ParseCertificatePem(root.certificate_pem);
    if (!cert.ok()) return cert.status();
    ca->certificate = *std::move(cert);
    absl::StatusOr<std::shared_ptr<const pki::Signer>> signer = keys_->GetSigner(root.key_id);
    if (!signer.ok()) return signer.status();
    ca->signer = *std::move(signer);
    if (!pki::SamePublicKey(ca->signer->public_key(), pki::PublicKeyOf(ca->certificate.get()))) {
      return absl::DataLossError(
          absl::StrCat("keystore key \"", root.key_id, "\" does not match its root certificate"));
    }
    ca->chain_pem = root.certificate_pem + root.chain_pem;
    ca->under_offline_root = root.anchor_pem != root.certificate_pem;
    if (root.anchor_pem != root.certificate_pem) ca->chain_pem += root.anchor_pem;
    if (*status == RootStatus::kActive) {
      snapshot->active = ca;
      snapshot->bundle.signing_root_pem = root.anchor_pem;
    }
    snapshot->roots.push_back({std::move(ca), *status});
  }
  if (snapshot->active == nullptr) {
    return absl::FailedPreconditionError(
        "the store holds no active mesh root; run meshtrust-ca init");
  }
  snapshot->bundle.sha256 = pki::Sha256Hex(snapshot->bundle.roots_pem);
  absl::MutexLock lock(&mu_);
  current_ = std::move(snapshot);
  return absl::OkStatus();
}

std::shared_ptr<const TrustSnapshot> TrustState::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

std::vector<std::string> TrustState::RootKeyIds() const {
  std::vector<std::string> ids;
  for (const TrustSnapshot::Root& root : Current()->roots) ids.push_back(root.ca->key_id);
  return ids;
}

absl::Status TrustState::CheckReady() const {
  absl::StatusOr<std::vector<RootRecord>> roots = store_->ListRoots();
  if (!roots.ok()) return absl::UnavailableError(absl::StrCat("store: ", roots.status().message()));
  // The active root's signer signs a probe: proof that the key can sign
  // now, without unsealing or looking it up again.
  std::shared_ptr<const SigningCa> active = Current()->active;
  constexpr absl::string_view kProbe = "meshtrust readiness probe";
  absl::StatusOr<std::string> signature = active->signer->Sign(kProbe);
  if (!signature.ok()) {
    return absl::UnavailableError(absl::StrCat("keystore: the key of ", active->key_id,
                                               " cannot sign: ", signature.status().message()));
  }
  if (!pki::VerifySignature(active->signer->public_key(), active->signer->algorithm(), kProbe,
                            *signature)) {
    return absl::UnavailableError(
        absl::StrCat("keystore: the key of ", active->key_id, " signs invalid signatures"));
  }
  return absl::OkStatus();
}

}  // namespace meshtrust::ca
