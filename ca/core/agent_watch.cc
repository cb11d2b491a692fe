#include "ca/core/agent_watch.h"

#include "absl/strings/str_cat.h"

namespace meshtrust::ca {

absl::StatusOr<std::shared_ptr<WatchHub::Subscription>> AgentWatch::Watch(
    const Caller& caller, absl::string_view cluster) {
  AuditedCall call = audit_->Begin(caller, "Watch", cluster, "");
  absl::StatusOr<ClusterRecord> record = authorizer_->AuthorizeAgent(caller);
  if (!record.ok()) return call.Refuse(record.status());
  if (cluster != caller.name) {
    return call.Refuse(absl::PermissionDeniedError(
        absl::StrCat("identity ", caller.ToString(), " may not watch cluster \"", cluster, "\"")));
  }
  // Streams come and go with every agent restart; only refusals are news.
  call.Unrecorded();
  return hub_->Subscribe(caller.name);
}

}  // namespace meshtrust::ca
