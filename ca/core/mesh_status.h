// MeshStatusReport: the state of the whole mesh in one answer, for
// operators and auditors: clusters, the root rotation, the roots' CRLs,
// the bundle and the audit head. Reads only. Thread safe.
#ifndef MESHTRUST_CA_CORE_MESH_STATUS_H_
#define MESHTRUST_CA_CORE_MESH_STATUS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/clock.h"
#include "ca/core/audited_call.h"
#include "ca/core/authorizer.h"
#include "ca/core/root_rotation.h"
#include "ca/core/trust_state.h"
#include "ca/store/store.h"

namespace meshtrust::ca {

struct MeshStatusInfo {
  std::vector<ClusterRecord> clusters;
  RootRotationStatus rotation;
  std::vector<CrlRecord> crls;  // Of the roots in the bundle.
  std::string bundle_sha256;
  uint64_t audit_head = 0;
  TimePoint now;
};

class MeshStatusReport {
 public:
  // Every pointer must outlive the MeshStatusReport.
  MeshStatusReport(Store* store, const Clock* clock, const AuditTrail* audit,
                   const Authorizer* authorizer, const TrustState* trust, RootRotator* rotation)
      : store_(store),
        clock_(clock),
        audit_(audit),
        authorizer_(authorizer),
        trust_(trust),
        rotation_(rotation) {}

  absl::StatusOr<MeshStatusInfo> Read(const Caller& caller);

 private:
  Store* store_;
  const Clock* clock_;
  const AuditTrail* audit_;
  const Authorizer* authorizer_;
  const TrustState* trust_;
  RootRotator* rotation_;
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_MESH_STATUS_H_
