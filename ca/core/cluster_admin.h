// ClusterAdmin: what operators and auditors do with the registry of
// clusters and the records of the CA. Operators register, enable, disable
// and re-key clusters and mint their join tokens; both roles list clusters,
// certificates and the audit log, and verify the log. Thread safe.
#ifndef MESHTRUST_CA_CORE_CLUSTER_ADMIN_H_
#define MESHTRUST_CA_CORE_CLUSTER_ADMIN_H_

#include <chrono>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/clock.h"
#include "ca/audit/audit_verify.h"
#include "ca/core/audited_call.h"
#include "ca/core/authority_options.h"
#include "ca/core/authorizer.h"
#include "ca/core/join_token.h"
#include "ca/core/policy.h"
#include "ca/core/watch_hub.h"
#include "ca/store/store.h"

namespace meshtrust::ca {

struct AddClusterResult {
  ClusterRecord cluster;
  NewJoinToken token;
};

class ClusterAdmin {
 public:
  // Every pointer must outlive the ClusterAdmin.
  ClusterAdmin(Store* store, const Clock* clock, const AuditTrail* audit,
               const Authorizer* authorizer, WatchHub* hub, const AuthorityOptions* options)
      : store_(store),
        clock_(clock),
        audit_(audit),
        authorizer_(authorizer),
        hub_(hub),
        options_(options) {}

  absl::StatusOr<AddClusterResult> AddCluster(const Caller& caller, absl::string_view name,
                                              const ClusterPolicy& policy,
                                              std::chrono::seconds token_ttl);
  absl::StatusOr<std::vector<ClusterRecord>> ListClusters(const Caller& caller);
  absl::StatusOr<ClusterRecord> SetClusterEnabled(const Caller& caller, absl::string_view name,
                                                  bool enabled);
  absl::StatusOr<NewJoinToken> CreateJoinToken(const Caller& caller, absl::string_view cluster,
                                               std::chrono::seconds ttl);
  // Asks `cluster` to re-key: recorded in the store (so it survives the
  // agent being away and the CA restarting) and told to its agents now;
  // returns how many were listening. Every Watch stream the agent opens
  // starts with it until the cluster acknowledges an intermediate issued
  // after the request.
  absl::StatusOr<int> RotateIntermediate(const Caller& caller, absl::string_view cluster);
  // Changes (or lifts) how many certificates `name` may be issued
  // (IssuanceLimit in ca/core/policy.h).
  absl::StatusOr<ClusterRecord> SetIssuanceLimit(const Caller& caller, absl::string_view name,
                                                 const IssuanceLimit& limit);

  absl::StatusOr<std::vector<CertificateRecord>> ListCertificates(const Caller& caller,
                                                                  const CertificateFilter& filter);
  absl::StatusOr<std::vector<AuditRecord>> ListAudit(const Caller& caller, uint64_t after_sequence,
                                                     int limit);
  absl::StatusOr<AuditVerification> VerifyAudit(const Caller& caller);
  // The signed head of the log now; any admin. Not recorded: it is polled.
  absl::StatusOr<AuditCheckpoint> GetAuditCheckpoint(const Caller& caller);

 private:
  Store* store_;
  const Clock* clock_;
  const AuditTrail* audit_;
  const Authorizer* authorizer_;
  WatchHub* hub_;
  const AuthorityOptions* options_;
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_CLUSTER_ADMIN_H_
