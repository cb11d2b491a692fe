#include "ca/core/profiles.h"

#include "absl/strings/str_cat.h"
#include "base/clock.h"

namespace meshtrust::ca::profiles {
namespace {

pki::CertificateTemplate SelfSignedCa(std::vector<pki::NameEntry> subject, int path_len,
                                      pki::TimePoint now, std::chrono::seconds lifetime) {
  pki::CertificateTemplate t;
  t.subject = std::move(subject);
  t.not_before = now - kSelfSignedBackdate;
  t.not_after = now + lifetime;
  t.is_ca = true;
  t.path_len = path_len;
  t.key_usage = pki::kKeyCertSign | pki::kCrlSign;
  return t;
}

}  // namespace

pki::CertificateTemplate MeshRoot(absl::string_view organization, absl::string_view label,
                                  pki::TimePoint now, std::chrono::seconds lifetime) {
  return SelfSignedCa({{"O", std::string(organization)},
                       {"CN", absl::StrCat(organization, " mesh root CA ", label)}},
                      /*path_len=*/1, now, lifetime);
}

pki::CertificateTemplate RootEndorsement(const pki::CertificateTemplate& root, pki::TimePoint now,
                                         pki::TimePoint endorser_not_after) {
  pki::CertificateTemplate t = root;
  t.not_before = now - kSelfSignedBackdate;
  t.not_after = std::min(root.not_after, endorser_not_after);
  return t;
}

pki::CertificateTemplate ControlCa(absl::string_view organization, pki::TimePoint now,
                                   std::chrono::seconds lifetime) {
  return SelfSignedCa(
      {{"O", std::string(organization)}, {"CN", absl::StrCat(organization, " control CA")}},
      /*path_len=*/0, now, lifetime);
}

pki::CertificateTemplate Server(absl::string_view organization,
                                const std::vector<std::string>& dns_names,
                                const std::vector<std::string>& ip_addresses, pki::TimePoint now,
                                std::chrono::seconds lifetime) {
  pki::CertificateTemplate t;
  t.subject = {{"O", std::string(organization)}, {"CN", "meshtrust-ca"}};
  t.not_before = now - kSelfSignedBackdate;
  t.not_after = now + lifetime;
  t.key_usage = pki::kDigitalSignature;
  t.extended_key_usage = {pki::ExtendedKeyUsage::kServerAuth};
  t.dns_names = dns_names;
  t.ip_addresses = ip_addresses;
  return t;
}

pki::CertificateTemplate ClusterIntermediate(const IntermediateInputs& in) {
  pki::CertificateTemplate t;
  t.subject = {{"O", in.organization},
               {"OU", in.cluster},
               {"CN", absl::StrCat(in.cluster, " intermediate CA ", UnixSeconds(in.issued_at))}};
  t.not_before = in.not_before;
  t.not_after = in.not_after;
  t.is_ca = true;
  t.path_len = 0;
  t.key_usage = pki::kKeyCertSign | pki::kCrlSign | pki::kDigitalSignature;
  if (!in.permitted_trust_domain.empty()) t.permitted_uri_domains = {in.permitted_trust_domain};
  t.crl_distribution_point = in.crl_distribution_point;
  return t;
}

pki::CertificateTemplate Identity(absl::string_view organization, const EnrollmentSubject& subject,
                                  pki::KeyAlgorithm subject_key, pki::TimePoint not_before,
                                  pki::TimePoint not_after) {
  pki::CertificateTemplate t;
  t.subject = {{"O", std::string(organization)}, {"CN", subject.name}};
  t.not_before = not_before;
  t.not_after = not_after;
  t.key_usage = pki::kDigitalSignature;
  if (subject_key == pki::KeyAlgorithm::kRsa2048 || subject_key == pki::KeyAlgorithm::kRsa3072 ||
      subject_key == pki::KeyAlgorithm::kRsa4096) {
    t.key_usage |= pki::kKeyEncipherment;
  }
  t.extended_key_usage = {pki::ExtendedKeyUsage::kClientAuth};
  t.uris = {subject.ToString()};
  return t;
}

}  // namespace meshtrust::ca::profiles
