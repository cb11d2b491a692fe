// Signer: a private key that signs, without ever handing the key out.
//
// Everything meshtrust signs — certificates, CRLs, audit records — is signed
// through this interface, so a key may live in memory (sealed-file keystore),
// or in a token that never lets it go (PKCS#11): the caller gets signatures
// and the public key, nothing else.
//
// Implementations are thread safe: any number of threads may call Sign at
// once on one Signer.
#ifndef MESHTRUST_PKI_SIGNER_H_
#define MESHTRUST_PKI_SIGNER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pki/ossl.h"

namespace meshtrust::pki {

// How a signer signs. The digest follows the key, as RFC 5480 advises:
// SHA-384 for P-384, SHA-256 for P-256 and RSA (PKCS#1 v1.5); Ed25519 signs
// the message itself.
enum class SignatureAlgorithm { kEcdsaSha256, kEcdsaSha384, kRsaPkcs1Sha256, kEd25519 };

absl::string_view SignatureAlgorithmName(SignatureAlgorithm alg);

class Signer {
 public:
  virtual ~Signer() = default;

  virtual SignatureAlgorithm algorithm() const = 0;
  // The public half, borrowed for the signer's lifetime. It holds no private
  // key material, whatever the backend.
  virtual EVP_PKEY* public_key() const = 0;
  // Signs `message` (hashed inside, by algorithm()). ECDSA signatures are
  // DER ECDSA-Sig-Value, as X.509 carries them; RSA and Ed25519 signatures
  // are their raw bytes. kUnavailable when the backend cannot sign right now
  // (a token removed, say); the message says which key and why.
  virtual absl::StatusOr<std::string> Sign(absl::string_view message) const = 0;
};

// The signature algorithm a key signs with: ECDSA with SHA-384 for curves of
// 384 bits and more, SHA-256 below; RSA PKCS#1 v1.5 with SHA-256; Ed25519.
// kInvalidArgument for any other key. (Which keys are acceptable at all is
// ClassifyKey's decision, not this one's.)
absl::StatusOr<SignatureAlgorithm> SignatureAlgorithmFor(EVP_PKEY* key);

// A signer over a key held in this process's memory: for keys unsealed by
// the sealed-file keystore, keys an agent generated for itself, and tests.
// The key is held only inside the returned signer and freed with it.
absl::StatusOr<std::unique_ptr<Signer>> NewInMemorySigner(ossl::UniquePtr<EVP_PKEY> key);

// Verifies `signature` over `message` with `signer`'s public key and
// algorithm: true only for a valid signature.
bool VerifySignature(EVP_PKEY* public_key, SignatureAlgorithm alg, absl::string_view message,
                     absl::string_view signature);

// The DER AlgorithmIdentifier X.509 names `alg` with.
absl::StatusOr<std::string> SignatureAlgorithmIdentifierDer(SignatureAlgorithm alg);

// X.509's signed envelope, SEQUENCE { tbs, algorithm, BIT STRING signature },
// around the DER `tbs` signed by `signer`; `algorithm` is the DER
// AlgorithmIdentifier of the signer's algorithm, the one `tbs` names inside
// (RFC 5280 4.1.1.2 and 5.1.1.2 require both to be equal).
absl::StatusOr<std::string> SignX509Envelope(absl::string_view tbs, absl::string_view algorithm,
                                             const Signer& signer);

}  // namespace meshtrust::pki

#endif  // MESHTRUST_PKI_SIGNER_H_
