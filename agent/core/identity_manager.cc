#include "agent/core/identity_manager.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/time_format.h"
#include "pki/certificate.h"
#include "pki/chain.h"
#include "pki/csr.h"

namespace meshtrust::agent {
namespace {

absl::Status Refuse(absl::string_view why) {
  return absl::DataLossError(absl::StrCat("the CA's identity certificate was not stored: ", why));
}

// A fresh key and a CSR for it; the subject is left to the CA.
struct KeyAndCsr {
  ossl::UniquePtr<EVP_PKEY> key;
  std::string csr_der;
};

absl::StatusOr<KeyAndCsr> NewKeyAndCsr(pki::KeyAlgorithm algorithm) {
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> key = pki::GenerateKey(algorithm);
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> csr = pki::BuildCsrDer(key->get(), "");
  if (!csr.ok()) return csr.status();
  return KeyAndCsr{*std::move(key), *std::move(csr)};
}

}  // namespace

IdentityManager::IdentityManager(IdentityStore* store, Enroller* enroller, const Clock* clock,
                                 IdentityManagerOptions options)
    : store_(store), enroller_(enroller), clock_(clock), options_(std::move(options)) {}

std::string IdentityManager::ExpectedIdentity() const {
  return absl::StrCat("spiffe://meshtrust/cluster/", options_.cluster);
}

TimePoint IdentityManager::NotAfter(const client::Identity& identity) {
  absl::StatusOr<ossl::UniquePtr<X509>> cert = pki::ParseCertificatePem(identity.certificate_pem);
  return cert.ok() ? pki::NotAfter(cert->get()) : TimePoint{};
}

TimePoint IdentityManager::RenewAt(const client::Identity& identity) {
  absl::StatusOr<ossl::UniquePtr<X509>> cert = pki::ParseCertificatePem(identity.certificate_pem);
  if (!cert.ok()) return TimePoint{};
  TimePoint nb = pki::NotBefore(cert->get()), na = pki::NotAfter(cert->get());
  return nb + (na - nb) * 2 / 3;
}

bool IdentityManager::RenewalDue(const client::Identity& identity) const {
  return RenewAt(identity) <= clock_->Now();
}

TimePoint IdentityManager::NextRenewal(const client::Identity& identity) const {
  TimePoint now = clock_->Now();
  return std::max(RenewAt(identity), now + (NotAfter(identity) - now) / 2);
}

absl::StatusOr<client::Identity> IdentityManager::LoadOrEnroll(
    const std::function<absl::StatusOr<std::string>()>& join_token,
    const std::function<absl::Status()>& before_enrolling) {
  absl::StatusOr<std::optional<client::Identity>> stored = store_->Load();
  if (!stored.ok()) return stored.status();
  std::string expected = ExpectedIdentity();
  if (stored->has_value()) {
    client::Identity& id = **stored;
    if (id.identity != expected) {
      return absl::FailedPreconditionError(absl::StrCat(store_->Describe(), " holds identity ",
                                                        id.identity, ", not ", expected,
                                                        "; check --cluster"));
    }
    absl::StatusOr<ossl::UniquePtr<X509>> cert = pki::ParseCertificatePem(id.certificate_pem);
    if (!cert.ok()) return cert.status();
    if (pki::NotAfter(cert->get()) <= clock_->Now()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the agent identity in ", store_->Describe(), " expired at ",
                       Rfc3339(pki::NotAfter(cert->get())),
                       "; create a join token (meshtrustctl token create --cluster ",
                       options_.cluster, "), delete the identity and enroll again"));
    }
    spdlog::info("using the stored identity {} from {}", id.identity, store_->Describe());
    return std::move(id);
  }
  absl::StatusOr<std::string> token = join_token();
  if (!token.ok()) return token.status();
  if (token->empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no stored identity in ", store_->Describe(),
        " and no join token: give --token-file (or MESHTRUST_JOIN_TOKEN) and --pin to enroll"));
  }
  if (options_.pin.empty()) return absl::InvalidArgumentError("--pin is required to enroll");
  // Found now, a missing namespace or permission costs nothing; found after
  // enrolling, it would cost the join token.
  auto not_enrolling = [](const absl::Status& s) {
    return absl::Status(s.code(),
                        absl::StrCat("not enrolling (the join token was not used): ", s.message()));
  };
  if (absl::Status s = store_->CheckWritable(); !s.ok()) return not_enrolling(s);
  if (before_enrolling) {
    if (absl::Status s = before_enrolling(); !s.ok()) return not_enrolling(s);
  }
  return Enroll(*token);
}

absl::StatusOr<client::Identity> IdentityManager::Enroll(const std::string& token) {
  std::string expected = ExpectedIdentity();
  absl::StatusOr<KeyAndCsr> request = NewKeyAndCsr(options_.key_algorithm);
  if (!request.ok()) return request.status();
  absl::StatusOr<EnrolledIdentity> enrolled =
      enroller_->Enroll(options_.pin, token, request->csr_der, expected);
  if (!enrolled.ok()) return enrolled.status();
  if (enrolled->identity != expected) {  // A CA that predates expected_identity.
    return absl::FailedPreconditionError(absl::StrCat("the join token enrolled ",
                                                      enrolled->identity, ", not ", expected,
                                                      "; it belongs to another cluster"));
  }
  // The transport checked the pin; so does the identity we keep.
  if (absl::Status s = CheckControlCaPin(enrolled->control_ca_pem); !s.ok()) return s;
  if (absl::Status s = CheckIssued(enrolled->certificate_pem, request->key.get(), expected,
                                   enrolled->control_ca_pem);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<SecretBytes> key_pem = pki::PrivateKeyToPkcs8Pem(request->key.get());
  if (!key_pem.ok()) return key_pem.status();
  client::Identity id{enrolled->identity, enrolled->certificate_pem, *std::move(key_pem),
                      enrolled->control_ca_pem, enrolled->audit_public_key};
  if (absl::Status s = store_->Save(id); !s.ok()) return s;
  spdlog::info("enrolled as {}; identity stored in {}", id.identity, store_->Describe());
  return id;
}

absl::Status IdentityManager::CheckControlCaPin(const std::string& control_ca_pem) const {
  absl::StatusOr<ossl::UniquePtr<X509>> control = pki::ParseCertificatePem(control_ca_pem);
  if (!control.ok()) {
    return Refuse(absl::StrCat("the control CA is unreadable: ", control.status().message()));
  }
  absl::StatusOr<std::string> control_pin = pki::SpkiSha256Pin(pki::PublicKeyOf(control->get()));
  if (!control_pin.ok()) return control_pin.status();
  if (*control_pin != options_.pin) {
    return Refuse(absl::StrCat("the control CA has pin ", *control_pin, ", not ", options_.pin));
  }
  return absl::OkStatus();
}

absl::StatusOr<client::Identity> IdentityManager::Renew(const client::Identity& current,
                                                        CaConnection* ca,
                                                        const ConnectFunction& connect) {
  // The renewed certificate is checked against the control CA we hold; when
  // the pin is known, that CA is checked against it as at enrollment.
  if (!options_.pin.empty()) {
    if (absl::Status s = CheckControlCaPin(current.control_ca_pem); !s.ok()) return s;
  }
  absl::StatusOr<KeyAndCsr> request = NewKeyAndCsr(options_.key_algorithm);
  if (!request.ok()) return request.status();
  absl::StatusOr<std::string> certificate_pem = ca->RenewIdentity(request->csr_der);
  if (!certificate_pem.ok()) return certificate_pem.status();
  if (absl::Status s = CheckIssued(*certificate_pem, request->key.get(), current.identity,
                                   current.control_ca_pem);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<SecretBytes> key_pem = pki::PrivateKeyToPkcs8Pem(request->key.get());
  if (!key_pem.ok()) return key_pem.status();
  client::Identity renewed{current.identity, *std::move(certificate_pem), *std::move(key_pem),
                           current.control_ca_pem, current.audit_public_key};
  // The renewed identity is stored before it is first used: the CA
  // supersedes the current one at that first call, so a renewed identity
  // that was used but never stored would lock the agent out. When the first
  // call fails, the current identity (not superseded: the CA never saw the
  // renewed one work) is stored again and stays in use.
  if (absl::Status s = store_->Save(renewed); !s.ok()) return s;
  absl::StatusOr<TrustBundleInfo> first_call = connect(renewed)->GetTrustBundle();
  if (!first_call.ok()) {
    absl::Status restored = store_->Save(current);
    return absl::Status(
        first_call.status().code(),
        absl::StrCat("the renewed identity was not kept: a first call with it failed, so the "
                     "current identity stays in use",
                     restored.ok() ? ""
                                   : absl::StrCat(" (storing it again failed, so the renewed one "
                                                  "stays stored: ",
                                                  restored.message(), ")"),
                     ": ", first_call.status().message()));
  }
  return renewed;
}

absl::Status IdentityManager::CheckIssued(const std::string& certificate_pem, EVP_PKEY* our_key,
                                          const std::string& identity,
                                          const std::string& control_ca_pem) const {
  absl::StatusOr<ossl::UniquePtr<X509>> cert = pki::ParseCertificatePem(certificate_pem);
  if (!cert.ok()) return Refuse(absl::StrCat("it is unreadable: ", cert.status().message()));
  if (!pki::SamePublicKey(pki::PublicKeyOf(cert->get()), our_key)) {
    return Refuse("it is not for the key this agent generated");
  }
  std::vector<std::string> uris = pki::UriSans(cert->get());
  if (std::find(uris.begin(), uris.end(), identity) == uris.end()) {
    return Refuse(absl::StrCat("it does not name ", identity));
  }
  absl::StatusOr<ossl::UniquePtr<X509>> control = pki::ParseCertificatePem(control_ca_pem);
  if (!control.ok()) {
    return Refuse(absl::StrCat("the control CA is unreadable: ", control.status().message()));
  }
  pki::ChainCheck check;
  check.at = clock_->Now();
  check.require_client_auth = true;
  if (absl::Status s = pki::VerifyChain(cert->get(), {}, {control->get()}, check); !s.ok()) {
    return Refuse(absl::StrCat("it does not chain to the control CA: ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace meshtrust::agent
