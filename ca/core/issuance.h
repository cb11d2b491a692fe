// What the CA signs with, and what every issued certificate leaves behind.
//
// The one ca/core header that holds keys: the control CA (client and server
// identities) and the mesh signing CAs (cluster intermediates, root CRLs).
// Every other part of the core reaches them through these types.
#ifndef MESHTRUST_CA_CORE_ISSUANCE_H_
#define MESHTRUST_CA_CORE_ISSUANCE_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "base/clock.h"
#include "ca/core/states.h"
#include "ca/store/store.h"
#include "pki/certificate.h"
#include "pki/ossl.h"
#include "pki/signer.h"

namespace meshtrust::ca {

// The control CA: signs client identities (and the server certificate).
struct ControlCa {
  ossl::UniquePtr<X509> certificate;
  std::shared_ptr<const pki::Signer> signer;  // Its key, in the keystore.
};

// A mesh root (or an imported intermediate of an offline root) with its key.
struct SigningCa {
  std::string key_id;
  ossl::UniquePtr<X509> certificate;
  std::shared_ptr<const pki::Signer> signer;  // Its key, in the keystore.
  std::string chain_pem;            // Its PEM and the CAs above it up to the anchor, for responses.
  bool under_offline_root = false;  // Imported, with the anchor held outside meshtrust.
};

// The store's record of `certificate`, just issued at `issued_at` as a
// `kind` for `subject_name` (a cluster or an admin); `issuer_key_id` names
// the signing root of an intermediate.
CertificateRecord IssuedCertificateRecord(X509* certificate, CertificateKind kind,
                                          absl::string_view subject_name, TimePoint issued_at,
                                          absl::string_view issuer_key_id = "");
CertificateRecord IssuedCertificateRecord(pki::IssuedCertificate certificate, CertificateKind kind,
                                          absl::string_view subject_name, TimePoint issued_at,
                                          absl::string_view issuer_key_id = "");

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_ISSUANCE_H_
