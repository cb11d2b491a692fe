// What an operator may tune in the Authority; every part reads its share.
#ifndef MESHTRUST_CA_CORE_AUTHORITY_OPTIONS_H_
#define MESHTRUST_CA_CORE_AUTHORITY_OPTIONS_H_

#include <chrono>
#include <string>

#include "ca/audit/audit_checkpoint.h"
#include "ca/core/enroll_limiter.h"
#include "ca/core/watch_hub.h"

namespace meshtrust::ca {

struct AuthorityOptions {
  std::string organization = "meshtrust";
  std::chrono::seconds identity_ttl = std::chrono::hours(24);
  std::chrono::seconds default_token_ttl = std::chrono::hours(1);
  std::chrono::seconds max_token_ttl = std::chrono::hours(24 * 7);
  // notBefore is set this far in the past, for clusters whose clocks lag.
  std::chrono::seconds backdate = std::chrono::minutes(5);
  // The CA's public HTTP base URL (e.g. http://meshtrust-ca:8080). When set,
  // intermediates carry cRLDistributionPoints <public_url>/crl/<root>.der.
  std::string public_url;
  // Root CRLs are valid this long and re-signed once half of it has passed.
  std::chrono::seconds crl_validity = std::chrono::hours(24 * 7);
  // How long after activation a root rotation may finish: at least the
  // workload certificate TTL, so no workload still holds a chain to the old
  // root.
  std::chrono::seconds root_rotation_soak = std::chrono::hours(24);
  // Failed join-token guesses allowed per source address (ca/core/enroll_limiter.h).
  EnrollLimits enroll_limits;
  // Watch streams one cluster may hold open at once (0: no cap); each costs
  // the server memory and writes (ca/core/watch_hub.h).
  int max_watch_streams_per_cluster = kDefaultMaxWatchStreamsPerCluster;
  // Told of every audit checkpoint handed out (not owned; may be null). The
  // state directory's PublishedCheckpoint keeps the newest outside the
  // database.
  CheckpointSink* checkpoint_sink = nullptr;
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_AUTHORITY_OPTIONS_H_
