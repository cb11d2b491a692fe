// SecretSink: where the agent installs Istio's plug-in CA files. The renewal
// logic does not know whether that is a Kubernetes Secret or a directory.
#ifndef MESHTRUST_AGENT_CORE_SECRET_SINK_H_
#define MESHTRUST_AGENT_CORE_SECRET_SINK_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "base/secret_bytes.h"

namespace meshtrust::agent {

// Istio's file names, the keys of the `cacerts` Secret.
inline constexpr char kCaCertFile[] = "ca-cert.pem";
inline constexpr char kCaKeyFile[] = "ca-key.pem";
inline constexpr char kCertChainFile[] = "cert-chain.pem";
inline constexpr char kRootCertFile[] = "root-cert.pem";
inline constexpr char kCaCrlFile[] = "ca-crl.pem";

// The complete set, always written together.
struct CaCerts {
  std::string ca_cert_pem;
  SecretBytes ca_key_pem;  // PKCS#8
  std::string cert_chain_pem;
  std::string root_cert_pem;
  // The intermediate's own CRL (signed here), then the roots' CRLs, then the
  // other clusters' intermediate CRLs. Optional for Istio; written when known.
  std::string ca_crl_pem;
  // meshtrust's own record of what it wrote (labels/annotations).
  std::string serial;
  std::string not_after;  // RFC 3339
  std::string bundle_sha256;
  std::string crl_set_sha256;  // Of the CA's CRL set used for ca_crl_pem.
};

struct InstalledCaCerts {
  CaCerts files;
  // True when meshtrust wrote it (its marker is present); a foreign set is
  // never overwritten without --adopt.
  bool managed = false;
  // True when all four files are present.
  bool complete = false;
  // Opaque version for a conditional write (resourceVersion, or the data
  // directory's name).
  std::string version;
};

class SecretSink {
 public:
  virtual ~SecretSink() = default;
  // nullopt when nothing is installed.
  virtual absl::StatusOr<std::optional<InstalledCaCerts>> Read() = 0;
  // Writes every file in one step: creates when `expected_version` is empty,
  // else replaces only if the installed version is still `expected_version`.
  // kAborted when someone else wrote in between (re-read and retry).
  virtual absl::Status Write(const CaCerts& certs, const std::string& expected_version) = 0;
  // Checks, writing nothing, that Write can succeed: the place exists (the
  // namespace, the directory's parent) and the agent may read, create and
  // replace the set there. kNotFound naming what is missing,
  // kPermissionDenied naming what to grant. Called before the CA is asked
  // to sign, so a sink the agent cannot write costs no intermediate.
  virtual absl::Status CheckWritable() = 0;
  // "Secret istio-system/cacerts", "directory /etc/cacerts".
  virtual std::string Describe() const = 0;
};

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_CORE_SECRET_SINK_H_
