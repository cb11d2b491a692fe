// Builders for keys and CSRs that meshtrust must refuse. All made by code at
// test time; nothing is a committed blob.
#ifndef MESHTRUST_TESTS_TESTING_HOSTILE_INPUTS_H_
#define MESHTRUST_TESTS_TESTING_HOSTILE_INPUTS_H_

#include <string>
#include <vector>

#include "pki/ossl.h"

namespace meshtrust::testing {

// A self-signed CA root nobody trusts ("CN=rogue root", a day long) and its
// key: what an impostor puts in a bundle or signs a CRL with.
struct RogueRoot {
  ossl::UniquePtr<EVP_PKEY> key;
  ossl::UniquePtr<X509> cert;
};
RogueRoot MakeRogueRoot();

// Keys.
ossl::UniquePtr<EVP_PKEY> EcKeyOnCurve(const char* curve_name);              // e.g. "secp256k1"
ossl::UniquePtr<EVP_PKEY> RsaKey(int bits, unsigned long exponent = 65537);  // NOLINT
// A P-256 key whose encoding carries explicit curve parameters, as an
// attacker's CSR would (round-tripped through DER so OpenSSL marks it).
ossl::UniquePtr<EVP_PKEY> ExplicitParamsP256Key();

// An RSA public key (no private half) with a random odd modulus of
// `modulus_bits` and public exponent 2^exponent_bits + 1 (16 gives 65537).
ossl::UniquePtr<EVP_PKEY> RsaPublicKey(int modulus_bits, int exponent_bits = 16);
// A DER CSR for the public key `subject_key` signed with `signer` (another
// key): the signature cannot verify, so a refusal that names the key proves
// the key was checked first.
std::string CsrSignedByOtherKey(EVP_PKEY* subject_key, EVP_PKEY* signer);
// A DER CSR for `key` with exactly these subject entries, in order.
std::string CsrWithSubject(EVP_PKEY* key,
                           const std::vector<std::pair<std::string, std::string>>& subject);
// `depth` nested DER SEQUENCEs around nothing.
std::string DeeplyNestedDer(int depth);

// A DER CSR for `key` that requests `extensions` (OpenSSL config syntax,
// e.g. {"basicConstraints", "critical,CA:TRUE,pathlen:5"}).
std::string CsrWithExtensions(EVP_PKEY* key,
                              const std::vector<std::pair<std::string, std::string>>& extensions,
                              const std::string& common_name = "attacker");
// A DER CSR whose SAN is a URI with exactly these bytes (may contain NUL).
std::string CsrWithRawUriSan(EVP_PKEY* key, const std::string& uri);
// A DER CSR with a challengePassword attribute.
std::string CsrWithChallengePassword(EVP_PKEY* key);
// A DER CSR with one attribute of type `oid` (dotted) holding a UTF8String.
std::string CsrWithAttribute(EVP_PKEY* key, const std::string& oid);
// A DER CSR requesting an unknown critical extension (OID 1.3.6.1.4.1.99999.1).
std::string CsrWithUnknownCriticalExtension(EVP_PKEY* key);
// A DER CSR for `key` (CN=attacker) signed with digest `md` (EVP_md5(), EVP_sha1()).
std::string CsrSignedWith(EVP_PKEY* key, const EVP_MD* md);
// A DER CSR for `key` whose version field is `version`, signed so it verifies.
std::string CsrWithVersion(EVP_PKEY* key, int version);
// A DER CSR whose SubjectPublicKeyInfo holds `key` (EC) as a compressed point.
std::string CsrWithCompressedKey(EVP_PKEY* key);
// A DER CSR with exactly these subject entries, each an ASN.1 string of
// `asn1_type` (V_ASN1_UTF8STRING, V_ASN1_PRINTABLESTRING) holding the bytes
// as given: no length limit or character set is applied.
std::string CsrWithRawSubject(EVP_PKEY* key,
                              const std::vector<std::pair<std::string, std::string>>& subject,
                              int asn1_type);

// BER that is not DER. The first two change only the outer SEQUENCE header,
// outside the signature, so the signature still verifies; the third encodes
// the signed CertificationRequestInfo with non-minimal length octets and
// signs those bytes.
std::string WithNonMinimalOuterLength(const std::string& der);
std::string WithIndefiniteOuterLength(const std::string& der);
std::string CsrWithBerInSignedPart(EVP_PKEY* key);

// `der` with one bit flipped in its last byte (inside the signature).
std::string FlipLastBit(std::string der);

}  // namespace meshtrust::testing

#endif  // MESHTRUST_TESTS_TESTING_HOSTILE_INPUTS_H_
