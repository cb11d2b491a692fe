#include "ca/core/policy.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ca/core/identity.h"
#include "nlohmann/json.hpp"
#include "pki/csr.h"

namespace meshtrust::ca {

absl::Status ClusterPolicy::Validate() const {
  if (absl::Status s = ValidateTrustDomain(trust_domain); !s.ok()) return s;
  if (allowed_keys.empty()) {
    return absl::InvalidArgumentError("policy allows no key algorithm; allow at least one");
  }
  if (max_ttl < kMinTtl) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy max TTL ", max_ttl.count(), "s is below the minimum of 1h"));
  }
  if (max_ttl > std::chrono::hours(24 * 366)) {
    return absl::InvalidArgumentError(
        "policy max TTL is above one year; intermediates must rotate");
  }
  if (!issuance.unlimited) {
    if (issuance.burst < 1 || issuance.burst > 10000) {
      return absl::InvalidArgumentError(absl::StrCat(
          "issuance burst ", issuance.burst,
          " is out of range; allow 1 to 10000 certificates at once, or lift the limit"));
    }
    if (issuance.refill_every < std::chrono::seconds(1) ||
        issuance.refill_every > std::chrono::hours(24 * 30)) {
      return absl::InvalidArgumentError(absl::StrCat("issuance refill interval ",
                                                     issuance.refill_every.count(),
                                                     "s is out of range; use 1s to 30 days"));
    }
  }
  return absl::OkStatus();
}

std::string IssuanceLimit::Describe() const {
  if (unlimited) return "unlimited";
  return absl::StrCat("burst ", burst, ", then one every ", refill_every.count(), "s");
}

std::string ClusterPolicy::DescribeAllowedKeys() const {
  std::vector<std::string> names;
  for (pki::KeyAlgorithm alg : allowed_keys) names.emplace_back(pki::KeyAlgorithmName(alg));
  return absl::StrJoin(names, ", ");
}

std::string ClusterPolicy::ToJson() const {
  nlohmann::json j;
  j["trust_domain"] = trust_domain;
  std::vector<std::string> keys;
  for (pki::KeyAlgorithm alg : allowed_keys) keys.emplace_back(pki::KeyAlgorithmName(alg));
  j["allowed_keys"] = keys;
  j["max_ttl_seconds"] = max_ttl.count();
  j["name_constraints"] = name_constraints;
  j["issuance"] = {{"unlimited", issuance.unlimited},
                   {"burst", issuance.burst},
                   {"refill_every_seconds", issuance.refill_every.count()}};
  return j.dump();
}

absl::StatusOr<ClusterPolicy> ClusterPolicy::FromJson(absl::string_view json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::DataLossError("stored policy is not JSON");
  ClusterPolicy p;
  try {
    p.trust_domain = j.at("trust_domain").get<std::string>();
    p.allowed_keys.clear();
    for (const auto& name : j.at("allowed_keys")) {
      absl::StatusOr<pki::KeyAlgorithm> alg = pki::ParseKeyAlgorithm(name.get<std::string>());
      if (!alg.ok()) return alg.status();
      p.allowed_keys.push_back(*alg);
    }
    p.max_ttl = std::chrono::seconds(j.at("max_ttl_seconds").get<int64_t>());
    p.name_constraints = j.at("name_constraints").get<bool>();
    // Policies stored before issuance limits existed take the default.
    if (j.contains("issuance")) {
      const nlohmann::json& limit = j.at("issuance");
      p.issuance.unlimited = limit.at("unlimited").get<bool>();
      p.issuance.burst = limit.at("burst").get<int>();
      p.issuance.refill_every =
          std::chrono::seconds(limit.at("refill_every_seconds").get<int64_t>());
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("stored policy is malformed: ", e.what()));
  }
  return p;
}

namespace {

// RFC 5280 ub-common-name; the whole subject gets a generous 1 KiB.
constexpr size_t kMaxCommonNameBytes = 64;
constexpr size_t kMaxSubjectBytes = 1024;

// X.680 PrintableString: letters, digits, space and '()+,-./:=?.
bool IsPrintableStringChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view(" '()+,-./:=?").find(c) != absl::string_view::npos;
}

// The subject never reaches a certificate; a malformed or misleading one is
// still refused, so a client that sends one learns of it and the audit log
// records it.
absl::Status CheckSubject(X509_REQ* csr) {
  size_t subject_bytes = pki::SubjectDerBytes(csr);
  if (subject_bytes > kMaxSubjectBytes) {
    return absl::InvalidArgumentError(absl::StrCat("CSR subject is ", subject_bytes,
                                                   " bytes; the limit is ", kMaxSubjectBytes,
                                                   "; send an empty subject"));
  }
  for (const pki::SubjectEntry& entry : pki::SubjectEntries(csr)) {
    if (absl::StrContains(entry.value, '\0')) {
      return absl::InvalidArgumentError(
          absl::StrCat("CSR subject has a NUL byte (in ", entry.field, "); send an empty subject"));
    }
    if (entry.field == "CN" && entry.value.size() > kMaxCommonNameBytes) {
      return absl::InvalidArgumentError(absl::StrCat("CSR subject CN is ", entry.value.size(),
                                                     " bytes; the limit is ", kMaxCommonNameBytes,
                                                     " (RFC 5280 ub-common-name)"));
    }
    if (entry.printable_string &&
        !std::all_of(entry.value.begin(), entry.value.end(), IsPrintableStringChar)) {
      return absl::InvalidArgumentError(
          absl::StrCat("CSR subject ", entry.field,
                       " is a PrintableString holding a character a PrintableString may not"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckCsrStructure(X509_REQ* csr) {
  if (long version = pki::CsrVersion(csr); version != 0) {  // NOLINT(runtime/int)
    return absl::InvalidArgumentError(
        absl::StrCat("CSR version is ", version, "; only version 1 (0) exists"));
  }
  if (pki::HasCompressedEcPoint(csr)) {
    return absl::InvalidArgumentError(
        "CSR public key is a compressed EC point; send it uncompressed");
  }
  // Checked before the signature so a weak digest is named even where it
  // would verify.
  std::string digest = pki::CsrSignatureDigest(csr);
  if (digest != "SHA256" && digest != "SHA384" && digest != "SHA512") {
    return absl::InvalidArgumentError(absl::StrCat("CSR is signed with ",
                                                   pki::CsrSignatureAlgorithm(csr),
                                                   "; only SHA-256 or stronger is accepted"));
  }
  if (absl::Status s = pki::VerifyCsrSignature(csr); !s.ok()) return s;
  std::vector<std::string> exts = pki::RequestedExtensions(csr);
  if (!exts.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CSR requests extensions (", absl::StrJoin(exts, ", "),
        "); meshtrust builds certificates from its own profile only, so send a CSR without "
        "extension requests"));
  }
  std::vector<std::string> attrs = pki::OtherAttributes(csr);
  if (!attrs.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("CSR carries attributes (",
                                                   absl::StrJoin(attrs, ", "),
                                                   "); send a CSR without attributes"));
  }
  return CheckSubject(csr);
}

absl::StatusOr<pki::KeyAlgorithm> CheckIntermediateCsr(X509_REQ* csr, absl::string_view cluster,
                                                       const ClusterPolicy& policy) {
  // The key is checked before the signature: it is cheap, and it keeps an
  // oversized or odd key from costing the CA a signature verification.
  EVP_PKEY* key = pki::PublicKeyOf(csr);
  absl::StatusOr<pki::KeyAlgorithm> alg = pki::ClassifyKey(key);
  if (!alg.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("CSR ", alg.status().message(), "; ", cluster,
                                                   "'s policy allows ",
                                                   policy.DescribeAllowedKeys()));
  }
  if (std::find(policy.allowed_keys.begin(), policy.allowed_keys.end(), *alg) ==
      policy.allowed_keys.end()) {
    return absl::PermissionDeniedError(absl::StrCat("CSR key is ", pki::KeyAlgorithmName(*alg),
                                                    "; ", cluster, "'s policy allows ",
                                                    policy.DescribeAllowedKeys()));
  }
  if (absl::Status s = CheckCsrStructure(csr); !s.ok()) return s;
  return alg;
}

absl::StatusOr<pki::KeyAlgorithm> CheckIdentityCsr(X509_REQ* csr) {
  absl::StatusOr<pki::KeyAlgorithm> alg = pki::ClassifyKey(pki::PublicKeyOf(csr));
  if (!alg.ok()) return absl::InvalidArgumentError(absl::StrCat("CSR ", alg.status().message()));
  if (absl::Status s = CheckCsrStructure(csr); !s.ok()) return s;
  return alg;
}

absl::Status CheckSubjectNamesNoOtherCluster(
    X509_REQ* csr, absl::string_view own_cluster,
    const std::function<bool(absl::string_view)>& is_cluster) {
  for (const pki::SubjectEntry& entry : pki::SubjectEntries(csr)) {
    if (entry.field != "OU" && entry.field != "CN") continue;
    absl::string_view value = entry.value;
    std::vector<absl::string_view> named = {value, value.substr(0, value.find(' '))};
    if (size_t at = value.find("/cluster/"); at != absl::string_view::npos) {
      absl::string_view rest = value.substr(at + 9);
      named.push_back(rest.substr(0, rest.find('/')));
    }
    for (absl::string_view as_written : named) {
      // Cluster names are lowercase; "CLUSTER2" names cluster2 as well.
      std::string name = absl::AsciiStrToLower(as_written);
      if (name.empty() || name == own_cluster || !is_cluster(name)) continue;
      return absl::InvalidArgumentError(
          absl::StrCat("CSR subject ", entry.field, " names cluster \"", name,
                       "\", but the caller is cluster \"", own_cluster,
                       "\"; send an empty subject (the CA writes its own)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace meshtrust::ca
