// Certificate profiles: every certificate meshtrust issues, shaped in one
// place. Each profile is a function of its inputs and returns the template
// pki::IssueCertificate signs; the callers decide only the validity window
// and the key. Nothing here ever comes from a CSR: a CSR supplies only the
// public key, which is not an input of any profile.
//
// What each profile must satisfy (RFC 5280 and Istio's plug-in CA, which
// loads ca-cert.pem as a signing CA) is pinned down by
// tests/ca/core/profiles_test.cc.
#ifndef MESHTRUST_CA_CORE_PROFILES_H_
#define MESHTRUST_CA_CORE_PROFILES_H_

#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "ca/core/identity.h"
#include "pki/certificate.h"
#include "pki/key.h"

namespace meshtrust::ca::profiles {

// Self-signed CAs start this long before they are made, for verifiers whose
// clocks lag.
inline constexpr std::chrono::minutes kSelfSignedBackdate{5};

// A mesh root: self-signed, CA with pathLenConstraint 1 (root, cluster
// intermediate, workload), keyCertSign and cRLSign only. `label` tells the
// roots apart in their subject ("1", "2", ...).
pki::CertificateTemplate MeshRoot(absl::string_view organization, absl::string_view label,
                                  pki::TimePoint now, std::chrono::seconds lifetime);

// A cross-certificate by which the signing root vouches for a new mesh root
// (`root`, the new root's MeshRoot template): the same subject and key, CA
// with pathLenConstraint 1, keyCertSign and cRLSign, valid from `now` (less
// the backdate) until the earlier of the two roots' expiries.
pki::CertificateTemplate RootEndorsement(const pki::CertificateTemplate& root, pki::TimePoint now,
                                         pki::TimePoint endorser_not_after);

// The control CA: self-signed, CA with pathLenConstraint 0; it signs only
// end-entity identities (agents, admins, the CA's server).
pki::CertificateTemplate ControlCa(absl::string_view organization, pki::TimePoint now,
                                   std::chrono::seconds lifetime);

// The CA's own TLS server certificate, under the control CA.
pki::CertificateTemplate Server(absl::string_view organization,
                                const std::vector<std::string>& dns_names,
                                const std::vector<std::string>& ip_addresses, pki::TimePoint now,
                                std::chrono::seconds lifetime);

struct IntermediateInputs {
  std::string organization;
  std::string cluster;
  pki::TimePoint issued_at;  // Names the intermediate ("<cluster> intermediate CA <unix>").
  pki::TimePoint not_before;
  pki::TimePoint not_after;
  // Non-empty: a critical nameConstraints extension permitting only URIs in
  // this trust domain.
  std::string permitted_trust_domain;
  // Non-empty: cRLDistributionPoints with this URL.
  std::string crl_distribution_point;
};

// A cluster's intermediate CA, the signing CA istiod loads: CA with
// pathLenConstraint 0, keyCertSign, cRLSign and digitalSignature, no
// extendedKeyUsage (Istio's plug-in CA requirements).
pki::CertificateTemplate ClusterIntermediate(const IntermediateInputs& in);

// An agent's or an admin's client identity under the control CA: its
// identity URI as the only SAN, clientAuth, digitalSignature (and
// keyEncipherment for RSA keys, which TLS 1.2 RSA key exchange needs).
pki::CertificateTemplate Identity(absl::string_view organization, const EnrollmentSubject& subject,
                                  pki::KeyAlgorithm subject_key, pki::TimePoint not_before,
                                  pki::TimePoint not_after);

}  // namespace meshtrust::ca::profiles

#endif  // MESHTRUST_CA_CORE_PROFILES_H_
