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
  bool first_refusal = false;
  absl::StatusOr<std::shared_ptr<WatchHub::Subscription>> sub =
      hub_->Subscribe(caller.name, &first_refusal);
  if (!sub.ok()) {
    // A flood of streams is audited once per episode, not once per attempt.
    return first_refusal ? call.Refuse(sub.status()) : call.Fail(sub.status());
  }
  // Read after subscribing: a request made meanwhile is either seen here or
  // published to the new subscription.
  absl::StatusOr<ClusterRecord> now = store_->GetCluster(caller.name);
  if (!now.ok()) return call.Fail(now.status());
  if (now->rotation_requested) (*sub)->Push(WatchEventType::kRotateNow);
  // Streams come and go with every agent restart; only refusals are news.
  call.Unrecorded();
  return sub;
}

}  // namespace meshtrust::ca
