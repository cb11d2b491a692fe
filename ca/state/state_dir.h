// The CA's state directory: creating it (`meshtrust-ca init`) and opening it.
//
//   <state>/               0700
//     keys/                the sealed keystore (mesh roots, control CA, server
//                          TLS key, audit signing key); see keystore-format.md
//     ca.db                SQLite: clusters, tokens, certificates, roots, audit
//     control-ca.pem       the control CA certificate (public)
//     server.pem           the server TLS certificate, then the control CA
//     audit-public-key     the audit log's Ed25519 public key, hex
//     audit-checkpoint.json  the newest audit checkpoint handed out (JSON);
//                          written by `serve`, checked by every opening
//     hsm-keys             only when keys live in a PKCS#11 token: the token
//                          (URI without its query) and which keys it holds
//
// No file in it holds a private key in the clear.
#ifndef MESHTRUST_CA_STATE_STATE_DIR_H_
#define MESHTRUST_CA_STATE_STATE_DIR_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/clock.h"
#include "ca/audit/audit_chain.h"
#include "ca/core/authority.h"
#include "ca/state/published_checkpoint.h"
#include "ca/store/sqlite_store.h"
#include "keystore/pkcs11_keystore.h"
#include "keystore/sealed_file_keystore.h"
#include "pki/key.h"

namespace meshtrust::ca {

struct InitOptions {
  std::string state_dir;
  keystore::KekSource kek;
  keystore::Argon2Params argon2;
  std::string organization = "meshtrust";
  pki::KeyAlgorithm root_algorithm = pki::KeyAlgorithm::kEcdsaP256;
  std::chrono::seconds root_ttl = std::chrono::hours(24 * 365 * 10);
  // Import instead of generating: a CA certificate and its key (PEM), plus,
  // when it is not self-signed, the chain above it ending in the trust anchor.
  std::string import_certificate;
  std::string import_key;
  std::string import_chain;
  // Names the server certificate answers to.
  std::vector<std::string> server_dns_names = {"localhost"};
  std::vector<std::string> server_ip_addresses = {"127.0.0.1", "::1"};
  std::string admin_name = "admin";
  std::chrono::seconds admin_token_ttl = std::chrono::hours(1);
  // A pkcs11: URI: the mesh roots (this one and every one root rotation
  // makes) are generated inside that token; with `hsm_control_ca`, the
  // control CA too. Empty: every key is sealed.
  std::string hsm_uri;
  bool hsm_control_ca = false;
};

struct InitResult {
  std::string control_ca_pin;  // sha256:<hex> of the control CA's SPKI.
  // SHA-256 of the mesh root certificate (the bundle's anchor), which agents
  // pin with --root-fingerprint.
  std::string root_fingerprint;
  std::string admin_token;  // Enrolls the first operator; shown once.
  std::string admin_identity;
};

// Creates a new state directory. Refuses a directory that is not empty; on
// failure removes everything it created.
absl::StatusOr<InitResult> InitializeStateDir(const InitOptions& options, const Clock& clock);

// An opened state directory.
struct CaState {
  std::string dir;
  std::unique_ptr<keystore::SealedFileKeyStore> keys;
  // When keys live in a token: the token, and the store that sends each key
  // id to the token or to `keys`. Declared after `keys`, destroyed before.
  std::unique_ptr<keystore::Pkcs11KeyStore> token;
  std::unique_ptr<keystore::KeyStore> split_keys;
  // Where signing keys are looked up and made: the split store when there
  // is a token, else the sealed keystore.
  keystore::KeyStore* signing_keys() const {
    return split_keys != nullptr ? split_keys.get() : keys.get();
  }
  std::unique_ptr<AuditSigner> audit_signer;
  std::unique_ptr<SqliteStore> store;
  // The newest checkpoint handed out, kept outside the database; opening
  // refused when the log is behind it.
  std::unique_ptr<PublishedCheckpoint> published_checkpoint;
  std::string control_ca_pem;
  std::string server_chain_pem;
  SecretBytes server_key_pem;

  // The control CA certificate and its key, for an Authority.
  absl::StatusOr<ControlCa> LoadControlCa() const;
};

// Opens `dir`: checks its permissions, unseals the keystore with `kek`, opens
// the token when the CA keeps keys in one (`hsm_uri` must then name that
// token; kFailedPrecondition when it is missing, given to a CA without a
// token, or names another token), opens the database.
absl::StatusOr<CaState> OpenStateDir(const std::string& dir, const keystore::KekSource& kek,
                                     const std::string& hsm_uri = "");

// An opened state directory and the Authority over it.
struct OpenedCa {
  CaState state;
  // Over `state`'s store, keys and control CA; declared after `state`, so
  // destroyed before it.
  std::unique_ptr<Authority> authority;
};

// Opens `dir` (OpenStateDir) and creates the Authority over it with its
// control CA: how every command that serves or changes the CA starts.
// `clock` must outlive the result.
absl::StatusOr<OpenedCa> OpenCa(const std::string& dir, const keystore::KekSource& kek,
                                const Clock* clock, AuthorityOptions options,
                                const std::string& hsm_uri = "");

// Opens only what offline audit verification needs (no key material).
absl::StatusOr<std::unique_ptr<SqliteStore>> OpenStoreReadOnly(const std::string& dir);
absl::StatusOr<std::string> ReadAuditPublicKey(const std::string& path);

inline constexpr absl::string_view kControlCaKeyId = "control-ca";
inline constexpr absl::string_view kServerKeyId = "server-tls";
inline constexpr absl::string_view kAuditKeyId = "audit-signing";
// Every mesh root's key id starts so ("mesh-root-1", "mesh-root-2", ...).
inline constexpr absl::string_view kMeshRootKeyPrefix = "mesh-root-";

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_STATE_STATE_DIR_H_
