// Installer: the agent's core. Ensures the sink holds a valid intermediate
// for this cluster: generates the key locally, asks the CA to sign a CSR,
// verifies the answer, writes the complete set in one step, reads it back
// and acknowledges it. Knows nothing of gRPC or of where the sink is.
#ifndef MESHTRUST_AGENT_INSTALLER_H_
#define MESHTRUST_AGENT_INSTALLER_H_

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "agent/ca_connection.h"
#include "agent/secret_sink.h"
#include "base/clock.h"
#include "pki/key.h"

namespace meshtrust::agent {

struct InstallerOptions {
  std::string cluster;
  pki::KeyAlgorithm key_algorithm = pki::KeyAlgorithm::kEcdsaP256;
  std::chrono::seconds ttl{0};  // 0: the CA policy's maximum.
  bool adopt = false;           // Replace a cacerts meshtrust did not write.
  double renew_fraction = 2.0 / 3.0;
  int max_conflict_retries = 5;
};

struct InstallResult {
  bool changed = false;  // False: the installed set was already current.
  std::string reason;    // Why it was (re)issued, or "current".
  std::string serial;
  TimePoint not_after;
  std::string bundle_sha256;
};

class Installer {
 public:
  // All pointers must outlive the Installer.
  Installer(CaConnection* ca, SecretSink* sink, const Clock* clock, InstallerOptions options)
      : ca_(ca), sink_(sink), clock_(clock), options_(std::move(options)) {}

  absl::StatusOr<InstallResult> EnsureInstalled();

  // Why `installed` must be replaced given the CA's `bundle`, or "" if it is
  // current.
  std::string WhyReplace(const InstalledCaCerts& installed, const TrustBundleInfo& bundle) const;

 private:
  CaConnection* ca_;
  SecretSink* sink_;
  const Clock* clock_;
  InstallerOptions options_;
};

// Checks a signing response against the key we generated, before anything is
// written: the certificate is for our key, it chains to the bundle, and it is
// a CA with pathlen:0, keyCertSign and cRLSign, and no EKU.
absl::Status VerifySignedIntermediate(const SignedIntermediate& signed_intermediate,
                                      EVP_PKEY* our_key, TimePoint now);

std::string Rfc3339(TimePoint t);

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_INSTALLER_H_
