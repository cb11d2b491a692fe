// Pkcs11KeyStore: signing keys that live in a PKCS#11 token (an HSM) and
// never leave it.
//
// The store is opened from an RFC 7512 URI (keystore/pkcs11_uri.h) naming
// the module, the token and where the PIN comes from. A KeyStore key id is
// the key's CKA_LABEL, and also its CKA_ID (the id's bytes), so tools that
// select by either find it. Keys are generated inside the token as token
// objects with CKA_SENSITIVE, CKA_PRIVATE and CKA_SIGN true and
// CKA_EXTRACTABLE false; an existing label is never overwritten. Importing a
// key made elsewhere is refused: a key that was ever outside the HSM does not
// get the HSM's protection, so an HSM root is generated inside it.
//
// Signing hashes in this process (SHA-256 or SHA-384) and signs the digest in
// the token: CKM_ECDSA (the token's r||s is re-encoded as DER
// ECDSA-Sig-Value), CKM_RSA_PKCS over a DigestInfo (PKCS#1 v1.5), and
// CKM_EDDSA over the whole message for Ed25519. Keys are made with
// CKM_EC_KEY_PAIR_GEN, CKM_RSA_PKCS_KEY_PAIR_GEN and
// CKM_EC_EDWARDS_KEY_PAIR_GEN.
//
// Sessions are pooled: a Sign takes an idle session (or opens one), signs and
// gives it back, so concurrent signers never share a session and sessions do
// not grow past the peak concurrency. When the token goes away (removed,
// device error, sessions or login lost), signing fails closed with
// kUnavailable, every pooled session is dropped, and the next call finds the
// token again, logs in and goes on.
//
// Thread safe. Signers hold the connection, so they may outlive the store.
#ifndef MESHTRUST_KEYSTORE_PKCS11_KEYSTORE_H_
#define MESHTRUST_KEYSTORE_PKCS11_KEYSTORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "keystore/keystore.h"
#include "keystore/pkcs11_uri.h"

namespace meshtrust::keystore {

class Pkcs11Token;  // The connection: module, slot, PIN, session pool.

class Pkcs11KeyStore final : public KeyStore {
 public:
  // Loads the module, finds the token and logs in with the PIN from the
  // URI's pin-source. Errors name what to fix: the module missing
  // (kNotFound), no such token (kNotFound, listing the tokens present), a
  // wrong PIN (kPermissionDenied), no PIN source (kInvalidArgument). The
  // URI's object/id, if any, are ignored here: keys are chosen by id.
  static absl::StatusOr<std::unique_ptr<Pkcs11KeyStore>> Open(absl::string_view uri);
  ~Pkcs11KeyStore() override;

  // kFailedPrecondition when the token lacks the key-generation or signing
  // mechanism for `type` (Ed25519 on many HSMs).
  absl::StatusOr<std::shared_ptr<const pki::Signer>> GenerateSigningKey(absl::string_view id,
                                                                        KeyType type) override;
  // Always kFailedPrecondition (see above).
  absl::Status ImportSigningKey(absl::string_view id, EVP_PKEY* key) override;
  // kNotFound when no private key is labelled `id`; kFailedPrecondition when
  // it is of a type meshtrust does not sign with, may be extracted, or has
  // no public key object beside it; kUnavailable when the token is away.
  absl::StatusOr<std::shared_ptr<const pki::Signer>> GetSigner(absl::string_view id) const override;
  bool Contains(absl::string_view id) const override;
  std::vector<std::string> List() const override;

  // Destroys the key pair labelled `id`, for undoing a `meshtrust-ca init`
  // that failed after making it: never for a key whose certificate was
  // handed out. OK when there is none.
  absl::Status DestroyKey(absl::string_view id);

  // OK when the token is present and a session is logged in; kUnavailable
  // saying why not. For readiness probes.
  absl::Status CheckAvailable() const;
  // Sessions this store has open right now (idle and in use).
  int OpenSessions() const;
  // The URI without its query, for messages.
  std::string Describe() const;

 private:
  explicit Pkcs11KeyStore(std::shared_ptr<Pkcs11Token> token) : token_(std::move(token)) {}
  std::shared_ptr<Pkcs11Token> token_;
};

}  // namespace meshtrust::keystore

#endif  // MESHTRUST_KEYSTORE_PKCS11_KEYSTORE_H_
