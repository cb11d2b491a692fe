#include "ca/core/cluster_admin.h"

#include <algorithm>
#include <limits>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "ca/core/identity.h"
#include "ca/core/states.h"

namespace meshtrust::ca {
namespace {

constexpr int kDefaultListLimit = 100;
constexpr int kMaxListLimit = 1000;

int ListLimit(int requested) {
  return requested <= 0 ? kDefaultListLimit : std::min(requested, kMaxListLimit);
}

}  // namespace

absl::StatusOr<AddClusterResult> ClusterAdmin::AddCluster(const Caller& caller,
                                                          absl::string_view name,
                                                          const ClusterPolicy& policy,
                                                          std::chrono::seconds token_ttl) {
  AuditedCall call =
      audit_->Begin(caller, "AddCluster", name, RequestDigest({name, policy.ToJson()}));
  if (absl::Status s = authorizer_->AuthorizeAdmin(caller, AdminAccess::kWrite); !s.ok()) {
    return call.Refuse(s);
  }
  if (absl::Status s = ValidateClusterName(name); !s.ok()) return call.Refuse(s);
  if (absl::Status s = policy.Validate(); !s.ok()) return call.Refuse(s);
  if (token_ttl.count() == 0) token_ttl = options_->default_token_ttl;
  if (absl::Status s = CheckJoinTokenTtl(token_ttl, options_->max_token_ttl); !s.ok()) {
    return call.Refuse(s);
  }
  AddClusterResult result;
  result.cluster.name = std::string(name);
  result.cluster.enabled = true;
  result.cluster.policy = policy;
  result.cluster.created = clock_->Now();
  JoinTokenRecord token;
  result.token = MintJoinToken(EnrollmentSubject{CallerKind::kAgent, std::string(name)}.ToString(),
                               token_ttl, clock_->Now(), &token);
  absl::Status s = store_->AddCluster(result.cluster, token, call.Succeeded());
  if (absl::IsAlreadyExists(s)) return call.Refuse(s);
  if (!s.ok()) return s;
  spdlog::info("{} added cluster {}", caller.ToString(), name);
  return result;
}

absl::StatusOr<std::vector<ClusterRecord>> ClusterAdmin::ListClusters(const Caller& caller) {
  AuditedCall call = audit_->Begin(caller, "ListClusters", "", "");
  if (absl::Status s = authorizer_->AuthorizeAdmin(caller, AdminAccess::kRead); !s.ok()) {
    return call.Refuse(s);
  }
  if (absl::Status s = call.Record(); !s.ok()) return s;
  return store_->ListClusters();
}

absl::StatusOr<ClusterRecord> ClusterAdmin::SetClusterEnabled(const Caller& caller,
                                                              absl::string_view name,
                                                              bool enabled) {
  AuditedCall call = audit_->Begin(caller, enabled ? "EnableCluster" : "DisableCluster", name, "");
  if (absl::Status s = authorizer_->AuthorizeAdmin(caller, AdminAccess::kWrite); !s.ok()) {
    return call.Refuse(s);
  }
  absl::Status s = store_->SetClusterEnabled(name, enabled, call.Succeeded());
  if (absl::IsNotFound(s)) return call.Refuse(s);
  if (!s.ok()) return s;
  spdlog::info("{} {} cluster {}", caller.ToString(), enabled ? "enabled" : "disabled", name);
  return store_->GetCluster(name);
}

absl::StatusOr<NewJoinToken> ClusterAdmin::CreateJoinToken(const Caller& caller,
                                                           absl::string_view cluster_name,
                                                           std::chrono::seconds ttl) {
  AuditedCall call = audit_->Begin(caller, "CreateJoinToken", cluster_name, "");
  if (absl::Status s = authorizer_->AuthorizeAdmin(caller, AdminAccess::kWrite); !s.ok()) {
    return call.Refuse(s);
  }
  absl::StatusOr<ClusterRecord> cluster = store_->GetCluster(cluster_name);
  if (!cluster.ok()) return call.Refuse(cluster.status());
  if (ttl.count() == 0) ttl = options_->default_token_ttl;
  if (absl::Status s = CheckJoinTokenTtl(ttl, options_->max_token_ttl); !s.ok()) {
    return call.Refuse(s);
  }
  JoinTokenRecord record;
  NewJoinToken token = MintJoinToken(
      EnrollmentSubject{CallerKind::kAgent, cluster->name}.ToString(), ttl, clock_->Now(), &record);
  if (absl::Status s = store_->AddJoinToken(record, call.Succeeded()); !s.ok()) return s;
  return token;
}

absl::StatusOr<int> ClusterAdmin::RotateIntermediate(const Caller& caller,
                                                     absl::string_view cluster) {
  AuditedCall call = audit_->Begin(caller, "RotateIntermediate", cluster, "");
  if (absl::Status s = authorizer_->AuthorizeAdmin(caller, AdminAccess::kWrite); !s.ok()) {
    return call.Refuse(s);
  }
  absl::StatusOr<ClusterRecord> record = store_->GetCluster(cluster);
  if (!record.ok()) return call.Refuse(record.status());
  if (!record->enabled) {
    return call.Refuse(absl::FailedPreconditionError(
        absl::StrCat("cluster \"", cluster, "\" is disabled; enable it before rotating")));
  }
  // Durable first: an agent not connected now is told when it next
  // connects, even to a restarted CA.
  if (absl::Status s = store_->RequestRotation(record->name, clock_->Now(), call.Succeeded());
      !s.ok()) {
    return s;
  }
  int notified = hub_->Publish(record->name, WatchEventType::kRotateNow);
  spdlog::info("{} asked cluster {} to re-key ({} agent(s) listening now)", caller.ToString(),
               cluster, notified);
  return notified;
}

absl::StatusOr<ClusterRecord> ClusterAdmin::SetIssuanceLimit(const Caller& caller,
                                                             absl::string_view name,
                                                             const IssuanceLimit& limit) {
  AuditedCall call =
      audit_->Begin(caller, "SetIssuanceLimit", name, RequestDigest({name, limit.Describe()}));
  if (absl::Status s = authorizer_->AuthorizeAdmin(caller, AdminAccess::kWrite); !s.ok()) {
    return call.Refuse(s);
  }
  absl::StatusOr<ClusterRecord> record = store_->GetCluster(name);
  if (!record.ok()) return call.Refuse(record.status());
  ClusterPolicy policy = record->policy;
  policy.issuance = limit;
  if (absl::Status s = policy.Validate(); !s.ok()) return call.Refuse(s);
  if (absl::Status s = store_->SetClusterPolicy(
          name, policy, call.Succeeded(absl::StrCat("ok: ", limit.Describe())));
      !s.ok()) {
    return s;
  }
  spdlog::info("{} set the issuance limit of cluster {} to {}", caller.ToString(), name,
               limit.Describe());
  record->policy = policy;
  return record;
}

absl::StatusOr<std::vector<CertificateRecord>> ClusterAdmin::ListCertificates(
    const Caller& caller, const CertificateFilter& filter) {
  AuditedCall call = audit_->Begin(caller, "ListCertificates", filter.subject_name, "");
  if (absl::Status s = authorizer_->AuthorizeAdmin(caller, AdminAccess::kRead); !s.ok()) {
    return call.Refuse(s);
  }
  if (!filter.kind.empty() && !ParseCertificateKind(filter.kind).ok()) {
    return call.Refuse(absl::InvalidArgumentError(
        absl::StrCat("certificate kind \"", absl::CHexEscape(filter.kind),
                     "\" is unknown; use intermediate, agent-identity or admin-identity")));
  }
  CertificateFilter f = filter;
  f.limit = ListLimit(f.limit);
  if (absl::Status s = call.Record(); !s.ok()) return s;
  return store_->ListCertificates(f);
}

absl::StatusOr<std::vector<AuditRecord>> ClusterAdmin::ListAudit(const Caller& caller,
                                                                 uint64_t after_sequence,
                                                                 int limit) {
  AuditedCall call = audit_->Begin(caller, "ListAudit", "", "");
  if (absl::Status s = authorizer_->AuthorizeAdmin(caller, AdminAccess::kRead); !s.ok()) {
    return call.Refuse(s);
  }
  if (after_sequence > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return call.Refuse(absl::OutOfRangeError(
        absl::StrCat("after_sequence ", after_sequence, " is beyond any audit record")));
  }
  if (absl::Status s = call.Record(); !s.ok()) return s;
  return store_->ReadAudit(after_sequence, ListLimit(limit));
}

absl::StatusOr<AuditVerification> ClusterAdmin::VerifyAudit(const Caller& caller) {
  AuditedCall call = audit_->Begin(caller, "VerifyAudit", "", "");
  if (absl::Status s = authorizer_->AuthorizeAdmin(caller, AdminAccess::kRead); !s.ok()) {
    return call.Refuse(s);
  }
  absl::StatusOr<AuditVerification> out = VerifyStoredAudit(store_, audit_->public_key());
  if (!out.ok()) return call.Fail(out.status());
  // A broken chain cannot be appended to meaningfully, but the call is still
  // recorded when the store accepts it.
  absl::Status recorded =
      call.Record(out->ok ? "ok" : absl::StrCat("chain broken at ", out->first_bad_sequence));
  if (!recorded.ok() && out->ok) return recorded;
  out->checkpoint = audit_->Checkpoint();
  return out;
}

absl::StatusOr<AuditCheckpoint> ClusterAdmin::GetAuditCheckpoint(const Caller& caller) {
  AuditedCall call = audit_->Begin(caller, "GetAuditCheckpoint", "", "");
  if (absl::Status s = authorizer_->AuthorizeAdmin(caller, AdminAccess::kRead); !s.ok()) {
    return call.Refuse(s);
  }
  call.Unrecorded();
  return audit_->Checkpoint();
}

}  // namespace meshtrust::ca
