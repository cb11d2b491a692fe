// Installer: the agent's core. Not thread safe: one caller at a time. Ensures the sink holds a
// valid intermediate for this cluster: generates the key locally, asks the CA to sign a CSR,
// verifies the answer, writes the complete set in one step, reads it back
// and acknowledges it. Knows nothing of gRPC or of where the sink is.
#ifndef MESHTRUST_AGENT_CORE_INSTALLER_H_
#define MESHTRUST_AGENT_CORE_INSTALLER_H_

#include <chrono>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "agent/core/ca_connection.h"
#include "agent/core/crl_set.h"
#include "agent/core/istiod_guard.h"
#include "agent/core/root_trust.h"
#include "agent/core/secret_sink.h"
#include "base/clock.h"
#include "base/secret_bytes.h"
#include "pki/istiod_acceptance.h"
#include "pki/key.h"

namespace meshtrust::agent {

struct InstallerOptions {
  std::string cluster;
  pki::KeyAlgorithm key_algorithm = pki::KeyAlgorithm::kEcdsaP256;
  std::chrono::seconds ttl{0};  // 0: the CA policy's maximum.
  bool adopt = false;           // Replace a cacerts meshtrust did not write.
  double renew_fraction = 2.0 / 3.0;
  int max_conflict_retries = 5;
  // An unchanged installed set is acknowledged again only this often (each
  // Ack is an audit record at the CA); any change is acknowledged at once.
  std::chrono::seconds reack_interval = std::chrono::hours(1);
  // How istiod compares a changed root-cert.pem with the installed one
  // (--istio-version): the byte rule holds for every Istio version.
  pki::RootBundleRule root_bundle_rule = pki::RootBundleRule::kBytes;
};

struct InstallResult {
  bool changed = false;   // False: the installed set was already current.
  bool reissued = false;  // A new key and intermediate (not only new bundle or CRLs).
  std::string reason;     // Why it was rewritten, or "current".
  std::string serial;
  TimePoint not_after;
  TimePoint renew_at;  // When the intermediate is due for renewal.
  std::string bundle_sha256;
};

class Installer {
 public:
  // All pointers must outlive the Installer. Every root the CA offers is
  // judged by `trust` before anything is written.
  Installer(CaConnection* ca, SecretSink* sink, RootTrust* trust, const Clock* clock,
            InstallerOptions options)
      : ca_(ca), sink_(sink), trust_(trust), clock_(clock), options_(std::move(options)) {}

  // With `force_rekey`, issues a new key and intermediate even if the
  // installed one is current (an operator's `rotate intermediate`).
  // An intermediate issued by an earlier call whose install failed is
  // installed instead of a new one while it is still good (its key was never
  // installed, so it is new to the sink either way).
  absl::StatusOr<InstallResult> EnsureInstalled(bool force_rekey = false);

  // CA answers refused for their roots so far.
  int64_t trust_refusals() const { return trust_->refusals(); }
  // Sets not written because istiod would have refused them, by rule, so far.
  const IstiodRefusals& istiod_refusals() const { return istiod_refusals_; }
  // Changes made to the CA's CRLs so that istiod accepts ca-crl.pem, so far.
  const CrlRepairs& crl_repairs() const { return crl_repairs_; }

 private:
  enum class Action { kNone, kRefresh, kReissue };
  struct Decision {
    Action action = Action::kNone;
    std::string reason;
  };
  Decision Decide(const std::optional<InstalledCaCerts>& installed, const TrustBundleInfo& bundle,
                  const CrlSetInfo& crls, bool force_rekey) const;
  // Assembles the complete set. This intermediate's own CRL is taken from
  // `own_crl_source` while it is current, and signed anew otherwise; a root
  // in the chain the CA offers no usable CRL for keeps its CRL from
  // `installed_crl_pem` (crl_set.h).
  absl::StatusOr<CaCerts> Compose(const std::string& certificate_pem, const std::string& chain_pem,
                                  EVP_PKEY* key, const TrustBundleInfo& bundle,
                                  const CrlSetInfo& crls, const std::string& own_crl_source,
                                  const std::string& installed_crl_pem);

  // Writes (retrying on conflicts) if istiod, holding `installed`, would
  // accept the set (istiod_guard.h); reads back and compares.
  absl::Status Install(const CaCerts& certs, const std::optional<InstalledCaCerts>& installed);

  // An intermediate the CA issued for a key generated here, kept until it
  // is installed: when the write fails (a 403, a 500, the API server away),
  // the next attempt installs it instead of having another one signed.
  struct IssuedNotInstalled {
    SignedIntermediate signed_intermediate;
    SecretBytes key_pem;  // PKCS#8; wiped when dropped.
    // Issued for an operator's rotation request: only such a one may answer
    // the request when it is delivered again.
    bool forced = false;
  };
  // The kept intermediate and its key, when it can still be installed now:
  // it verifies, is not due for renewal, was issued under the CA's current
  // bundle and signing root, and is not revoked. Drops it otherwise.
  std::optional<ossl::UniquePtr<EVP_PKEY>> ReusableKey(const TrustBundleInfo& bundle,
                                                       const CrlSetInfo& crls);

  CaConnection* ca_;
  SecretSink* sink_;
  RootTrust* trust_;
  const Clock* clock_;
  InstallerOptions options_;
  std::optional<IssuedNotInstalled> issued_not_installed_;
  // The CA's CRL set (its SHA-256) a refresh found to change nothing
  // written, with the installed serial: not looked at again until either
  // changes.
  std::string unchanged_crl_set_;
  IstiodRefusals istiod_refusals_;
  CrlRepairs crl_repairs_;
  std::string last_ack_;  // What was last acknowledged (serial, bundle, CRL).
  TimePoint last_ack_at_;
};

// Checks a signing response against the key we generated, before anything is
// written: the certificate is for our key, it chains to the bundle (whose
// roots RootTrust accepted first), and it is a CA with pathlen:0,
// keyCertSign and cRLSign, and no EKU.
absl::Status VerifySignedIntermediate(const SignedIntermediate& signed_intermediate,
                                      EVP_PKEY* our_key, TimePoint now);

// How long the CRL an agent signs with its intermediate is valid (capped by
// the intermediate's own expiry); it is re-signed half-way.
inline constexpr std::chrono::hours kIntermediateCrlValidity{24 * 7};

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_CORE_INSTALLER_H_
