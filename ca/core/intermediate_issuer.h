// IntermediateIssuer: what an enrolled agent asks of the mesh roots. It
// signs the cluster's intermediate from the CA's own template (never from
// the CSR's extensions or subject), hands out the trust bundle, and records
// what the agent installed (Ack). Thread safe; no lock is held while
// signing.
#ifndef MESHTRUST_CA_CORE_INTERMEDIATE_ISSUER_H_
#define MESHTRUST_CA_CORE_INTERMEDIATE_ISSUER_H_

#include <chrono>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "base/clock.h"
#include "ca/core/audited_call.h"
#include "ca/core/authority_options.h"
#include "ca/core/authorizer.h"
#include "ca/core/issuance_throttle.h"
#include "ca/core/trust_state.h"
#include "ca/core/watch_hub.h"
#include "ca/store/store.h"

namespace meshtrust::ca {

struct IssuedIntermediate {
  std::string certificate_pem;
  std::string chain_pem;  // Intermediate, signing CA, CAs above it, the anchor.
  TrustBundle bundle;
  std::string serial;
  TimePoint not_after;
  AuditCheckpoint checkpoint;
};

class IntermediateIssuer {
 public:
  // Every pointer must outlive the IntermediateIssuer.
  IntermediateIssuer(Store* store, const Clock* clock, const AuditTrail* audit,
                     const Authorizer* authorizer, const TrustState* trust, WatchHub* hub,
                     const AuthorityOptions* options)
      : store_(store),
        clock_(clock),
        audit_(audit),
        authorizer_(authorizer),
        trust_(trust),
        hub_(hub),
        options_(options) {}

  // The certificate is returned only once it and its audit record are
  // durable. Counted against the cluster's issuance limit, except the first
  // intermediate of a rotation the CA or an operator asked for
  // (RotationAskedFor).
  absl::StatusOr<IssuedIntermediate> SignIntermediate(const Caller& caller,
                                                      absl::string_view cluster,
                                                      absl::string_view csr_der,
                                                      std::chrono::seconds ttl);
  absl::StatusOr<TrustBundle> GetTrustBundle(const Caller& caller);
  // `intermediate_crl_pem`, when given, must be a CRL signed by `serial`;
  // a new one is announced to the other clusters.
  absl::Status Ack(const Caller& caller, absl::string_view cluster, absl::string_view serial,
                   absl::string_view bundle_sha256, absl::string_view intermediate_crl_pem);
  // Clusters refused right now for asking for too many intermediates.
  size_t ThrottledClusters() { return throttle_.Throttled(clock_->Now()); }

 private:
  // The rotation `cluster` is being asked for and has not been issued an
  // intermediate for yet, or "" when none: a requested rotation
  // ("requested@<unix ms>"), or a root rotation activated after its current
  // intermediate was signed by another root ("root:<signing key id>").
  absl::StatusOr<std::string> RotationAskedFor(const ClusterRecord& cluster,
                                               const SigningCa& signer);
  // True for the first call per cluster and `rotation`: of concurrent
  // requests answering one rotation, only one goes uncounted.
  bool ClaimExemption(const std::string& cluster, const std::string& rotation)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Undoes a claim whose issuance failed.
  void ReleaseExemption(const std::string& cluster, const std::string& rotation)
      ABSL_LOCKS_EXCLUDED(mu_);

  Store* store_;
  const Clock* clock_;
  const AuditTrail* audit_;
  const Authorizer* authorizer_;
  const TrustState* trust_;
  WatchHub* hub_;
  const AuthorityOptions* options_;
  IssuanceThrottle throttle_{"intermediates"};
  absl::Mutex mu_;
  // Per cluster, the rotation whose uncounted intermediate was handed out.
  std::map<std::string, std::string> exempted_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_INTERMEDIATE_ISSUER_H_
