// AgentWatch: who may open a Watch stream. An enrolled agent watches its
// own cluster's events (bundle changed, CRL changed, rotate now), which the
// other parts publish on the WatchHub. A rotation requested of the cluster
// and not yet completed (kept in the store) is the first event of every
// stream the agent opens, so a request made while the agent was away, or
// before the CA restarted, still reaches it. Thread safe.
#ifndef MESHTRUST_CA_CORE_AGENT_WATCH_H_
#define MESHTRUST_CA_CORE_AGENT_WATCH_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ca/core/audited_call.h"
#include "ca/core/authorizer.h"
#include "ca/core/identity.h"
#include "ca/core/watch_hub.h"
#include "ca/store/store.h"

namespace meshtrust::ca {

class AgentWatch {
 public:
  // Every pointer must outlive the AgentWatch.
  AgentWatch(Store* store, const AuditTrail* audit, const Authorizer* authorizer, WatchHub* hub)
      : store_(store), audit_(audit), authorizer_(authorizer), hub_(hub) {}

  // Events for the caller's cluster until the subscription is dropped.
  absl::StatusOr<std::shared_ptr<WatchHub::Subscription>> Watch(const Caller& caller,
                                                                absl::string_view cluster);

 private:
  Store* store_;
  const AuditTrail* audit_;
  const Authorizer* authorizer_;
  WatchHub* hub_;
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_AGENT_WATCH_H_
