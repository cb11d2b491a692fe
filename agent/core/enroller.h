// Enroller: the agent's one call to the CA before it has an identity.
//
// It is not part of CaConnection on purpose: a CaConnection is an mTLS
// session that authenticates with an identity the agent already holds, while
// enrollment runs before there is one, over a connection whose trust is
// bootstrapped from a pin of the control CA (as `kubeadm join` does). The
// identity logic (IdentityManager) generates the key, builds the CSR and checks
// the answer; an Enroller only carries the token and the CSR to the CA
// (agent/grpc/grpc_enroller.cc; tests fake it).
#ifndef MESHTRUST_AGENT_CORE_ENROLLER_H_
#define MESHTRUST_AGENT_CORE_ENROLLER_H_

#include <string>

#include "absl/status/statusor.h"

namespace meshtrust::agent {

// The CA's answer to an enrollment, unchecked.
struct EnrolledIdentity {
  std::string identity;  // spiffe://meshtrust/cluster/<name>
  std::string certificate_pem;
  std::string control_ca_pem;  // The control CA found with the pin.
  // The audit log's key (32 bytes), delivered over the pinned channel;
  // empty from a CA that predates it.
  std::string audit_public_key;
};

// Implementations are thread-compatible.
class Enroller {
 public:
  virtual ~Enroller() = default;
  // Bootstraps trust in the CA from `pin` ("sha256:<hex>" of the control CA's
  // SubjectPublicKeyInfo), then exchanges the one-time `token` and `csr_der`
  // for an identity certificate. With `expected_identity` the CA refuses a
  // token that enrolls another identity, without spending it.
  virtual absl::StatusOr<EnrolledIdentity> Enroll(const std::string& pin, const std::string& token,
                                                  const std::string& csr_der,
                                                  const std::string& expected_identity) = 0;
};

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_CORE_ENROLLER_H_
