// The one door to the sink: a `cacerts` set is written only if istiod would
// accept it (pki/istiod_acceptance.h). istiod drops a whole update it
// refuses, key rotation included, and rotation then stops without a sound;
// refusing here keeps the set istiod holds and says why.
#ifndef MESHTRUST_AGENT_CORE_ISTIOD_GUARD_H_
#define MESHTRUST_AGENT_CORE_ISTIOD_GUARD_H_

#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "agent/core/secret_sink.h"
#include "base/clock.h"
#include "pki/istiod_acceptance.h"

namespace meshtrust::agent {

// Sets not written because istiod would have refused them, by rule name
// (pki::IstiodRuleName).
using IstiodRefusals = std::map<std::string, int64_t>;

// Why istiod, holding `installed` (nullopt: nothing installed), would refuse
// `certs` at `now`: first the root-bundle rule against the installed
// root-cert.pem, then the rules on the set itself. nullopt: it would accept.
std::optional<pki::IstiodRefusal> IstiodVerdict(const CaCerts& certs,
                                                const std::optional<InstalledCaCerts>& installed,
                                                pki::RootBundleRule rule, TimePoint now);

// Writes `certs` to `sink` (SecretSink::Write with `expected_version`) unless
// istiod would refuse them over `installed`; then nothing is written, the
// refusal is counted in `refusals` (may be null) and the answer is
// kFailedPrecondition: "istiod would refuse this cacerts (rule <name>): ...;
// nothing was written to <sink>".
absl::Status WriteIfIstiodAccepts(SecretSink* sink, const CaCerts& certs,
                                  const std::string& expected_version,
                                  const std::optional<InstalledCaCerts>& installed,
                                  pki::RootBundleRule rule, TimePoint now,
                                  IstiodRefusals* refusals);

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_CORE_ISTIOD_GUARD_H_
