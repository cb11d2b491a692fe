#include "ca/core/mesh_status.h"

namespace meshtrust::ca {

absl::StatusOr<MeshStatusInfo> MeshStatusReport::Read(const Caller& caller) {
  AuditedCall call = audit_->Begin(caller, "MeshStatus", "", "");
  if (absl::Status s = authorizer_->AuthorizeAdmin(caller, AdminAccess::kRead); !s.ok()) {
    return call.Refuse(s);
  }
  if (absl::Status s = call.Record(); !s.ok()) return s;
  MeshStatusInfo out;
  absl::StatusOr<RootRotationStatus> rotation = rotation_->ComputeStatus();
  if (!rotation.ok()) return rotation.status();
  out.rotation = *std::move(rotation);
  absl::StatusOr<std::vector<ClusterRecord>> clusters = store_->ListClusters();
  if (!clusters.ok()) return clusters.status();
  out.clusters = *std::move(clusters);
  absl::StatusOr<std::vector<CrlRecord>> crls = store_->ListCrls();
  if (!crls.ok()) return crls.status();
  for (CrlRecord& c : *crls) {
    for (const RootRotationStatus::Root& r : out.rotation.roots) {
      if (r.key_id == c.root_key_id && r.status != RootStatus::kRetired) {
        out.crls.push_back(std::move(c));
      }
    }
  }
  out.bundle_sha256 = trust_->Current()->bundle.sha256;
  out.audit_head = store_->Head().sequence;
  out.now = clock_->Now();
  return out;
}

}  // namespace meshtrust::ca
