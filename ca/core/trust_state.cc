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
    }
    auto ca = std::make_shared<SigningCa>();
    ca->key_id = root.key_id;
    absl::StatusOr<ossl::UniquePtr<X509>> cert = pki::ParseCertificatePem(root.certificate_pem);
    if (!cert.ok()) return cert.status();
    ca->certificate = *std::move(cert);
    absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> key = keys_->GetKey(root.key_id);
    if (!key.ok()) return key.status();
    ca->key = *std::move(key);
    if (!pki::SamePublicKey(ca->key.get(), pki::PublicKeyOf(ca->certificate.get()))) {
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
  std::string active = Current()->active->key_id;
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> key = keys_->GetKey(active);
  if (!key.ok()) {
    return absl::UnavailableError(
        absl::StrCat("keystore: cannot unseal ", active, ": ", key.status().message()));
  }
  return absl::OkStatus();
}

}  // namespace meshtrust::ca
