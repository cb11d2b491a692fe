// AgentWatch: who may open a Watch stream. An enrolled agent watches its
// own cluster's events (bundle changed, CRL changed, rotate now), which the
// other parts publish on the WatchHub. Thread safe.
#ifndef MESHTRUST_CA_CORE_AGENT_WATCH_H_
#define MESHTRUST_CA_CORE_AGENT_WATCH_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ca/core/audited_call.h"
#include "ca/core/authorizer.h"
#include "ca/core/identity.h"
#include "ca/core/watch_hub.h"

namespace meshtrust::ca {

class AgentWatch {
 public:
  // Every pointer must outlive the AgentWatch.
  AgentWatch(const AuditTrail* audit, const Authorizer* authorizer, WatchHub* hub)
      : audit_(audit), authorizer_(authorizer), hub_(hub) {}

  // Events for the caller's cluster until the subscription is dropped.
  absl::StatusOr<std::shared_ptr<WatchHub::Subscription>> Watch(const Caller& caller,
                                                                absl::string_view cluster);

 private:
  const AuditTrail* audit_;
  const Authorizer* authorizer_;
  WatchHub* hub_;
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_AGENT_WATCH_H_
