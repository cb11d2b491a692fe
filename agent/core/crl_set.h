// The `ca-crl.pem` an agent writes, composed so that istiod accepts it.
//
// istiod drops a whole update, key rotation included, when any block of
// ca-crl.pem fails to parse or when a certificate in cert-chain.pem has no
// CRL it signed. So a CRL problem must not travel with a key: CRLs from the
// CA that istiod could not use are left out (and counted), and when the CA
// offers no usable CRL for a root the chain ends in, the one installed now is
// kept, since istiod accepted it.
#ifndef MESHTRUST_AGENT_CORE_CRL_SET_H_
#define MESHTRUST_AGENT_CORE_CRL_SET_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/core/ca_connection.h"
#include "pki/certificate.h"

namespace meshtrust::agent {

// What was changed from the CA's CRL set, by kind: "dropped_unparsable" (a
// block that is not a CRL), "dropped_untrusted" (a root CRL no root in the
// bundle signed), "kept_installed" (a root's CRL taken from the installed
// ca-crl.pem because the CA offered none usable).
using CrlRepairs = std::map<std::string, int64_t>;

struct ComposedCrlSet {
  std::string ca_crl_pem;  // Own CRL, roots' CRLs, other intermediates' CRLs.
  CrlRepairs repairs;
};

// Composes ca-crl.pem from `own_crl_pem` (signed by the intermediate), the
// CA's `crls` and, for a certificate of `chain` (cert-chain.pem past the
// intermediate) the CA offers no usable CRL for, the one in
// `installed_crl_pem` it signed. `roots` is the trust bundle the root CRLs
// must be signed by. Never fails for the CA's CRLs; kInvalidArgument only for
// an unreadable `own_crl_pem`.
absl::StatusOr<ComposedCrlSet> ComposeCrlSet(const std::string& own_crl_pem,
                                             const std::vector<X509*>& chain,
                                             const std::vector<X509*>& roots,
                                             const CrlSetInfo& crls,
                                             const std::string& installed_crl_pem);

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_CORE_CRL_SET_H_
