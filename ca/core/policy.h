// Signing policy: what a cluster may be issued, and the CSR checks that every
// request passes before anything is signed.
#ifndef MESHTRUST_CA_CORE_POLICY_H_
#define MESHTRUST_CA_CORE_POLICY_H_

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pki/key.h"
#include "pki/ossl.h"

namespace meshtrust::ca {

inline constexpr std::chrono::seconds kDefaultMaxTtl = std::chrono::hours(24 * 30);
inline constexpr std::chrono::seconds kMinTtl = std::chrono::hours(1);

// How many certificates one cluster may be issued, per kind (intermediates;
// agent identity renewals): a bucket of `burst` that refills by one every
// `refill_every`. The default fits a cluster's normal life with room to
// spare: an intermediate renewed at 2/3 of 30 days and an identity at 2/3 of
// 24 h use a token every few days or hours, an agent restart or a failed
// install retried a few times a handful; ten at once with three more an
// hour covers all of it, while a runaway or compromised agent gets at most
// 72 a day instead of thousands a minute. A rotation the operator or the CA
// asks for (`rotate intermediate`, root rotation) is not counted: the first
// intermediate issued for it is always allowed.
struct IssuanceLimit {
  bool unlimited = false;
  int burst = 10;
  std::chrono::seconds refill_every = std::chrono::minutes(20);

  // "burst 10, then one every 1200s" or "unlimited", for messages.
  std::string Describe() const;
  bool operator==(const IssuanceLimit& o) const {
    return unlimited == o.unlimited && burst == o.burst && refill_every == o.refill_every;
  }
};

struct ClusterPolicy {
  std::string trust_domain = "cluster.local";
  std::vector<pki::KeyAlgorithm> allowed_keys = pki::AllKeyAlgorithms();
  std::chrono::seconds max_ttl = kDefaultMaxTtl;
  bool name_constraints = false;
  IssuanceLimit issuance;

  // kInvalidArgument naming the bad field.
  absl::Status Validate() const;
  // "ECDSA P-256/P-384 or RSA-2048/3072/4096", for messages.
  std::string DescribeAllowedKeys() const;
  std::string ToJson() const;
  static absl::StatusOr<ClusterPolicy> FromJson(absl::string_view json);
};

// Checks a CSR's structure, not its key policy, in this order: version 1
// (0); an EC key is an uncompressed point; the signature uses SHA-256,
// SHA-384 or SHA-512 and verifies with the CSR's own key; no extension
// requests and no other attributes; a subject of at most 1 KiB with no NUL
// byte, a CN of at most 64 bytes and PrintableStrings holding only what
// PrintableString allows. kInvalidArgument with what was found. (DER-only
// encoding is enforced earlier, by pki::ParseCsr.)
absl::Status CheckCsrStructure(X509_REQ* csr);

// The key against the cluster policy, then CheckCsrStructure (the key first:
// it is the cheap check). Returns the key's algorithm, or kInvalidArgument /
// kPermissionDenied saying why.
absl::StatusOr<pki::KeyAlgorithm> CheckIntermediateCsr(X509_REQ* csr, absl::string_view cluster,
                                                       const ClusterPolicy& policy);

// Any approved key, then CheckCsrStructure.
absl::StatusOr<pki::KeyAlgorithm> CheckIdentityCsr(X509_REQ* csr);

// A CSR subject may name no cluster but the caller's own. An OU or CN that
// names another cluster (`is_cluster` answers for a name) is refused with
// kInvalidArgument, although the CA writes its own subject: a misleading
// request is refused and audited, as the other malformed ones are. A value
// names a cluster when the whole of it, its part before the first space
// (the CA's own CN reads "<cluster> intermediate CA ..."), or the segment
// after "/cluster/" of a SPIFFE-style identity is one.
absl::Status CheckSubjectNamesNoOtherCluster(
    X509_REQ* csr, absl::string_view own_cluster,
    const std::function<bool(absl::string_view)>& is_cluster);

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_POLICY_H_
