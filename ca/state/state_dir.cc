#include "ca/state/state_dir.h"

#include <dirent.h>
#include <sys/stat.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/files.h"
#include "base/hex.h"
#include "base/logging.h"
#include "ca/core/profiles.h"
#include "ca/core/states.h"
#include "keystore/keystore.h"
#include "keystore/split_keystore.h"
#include "pki/certificate.h"
#include "pki/chain.h"

namespace meshtrust::ca {
namespace {

namespace fs = std::filesystem;

std::string Path(const std::string& dir, absl::string_view name) {
  return absl::StrCat(dir, "/", name);
}

absl::StatusOr<bool> IsEmptyDirectory(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return false;
  if (!fs::is_directory(dir, ec)) {
    return absl::AlreadyExistsError(absl::StrCat(dir, " exists and is not a directory"));
  }
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename();
    if (name == "lost+found") continue;  // Fresh ext4 volumes.
    return absl::AlreadyExistsError(
        absl::StrCat("state directory ", dir,
                     " is not empty; meshtrust-ca init never overwrites a CA. "
                     "Choose a new directory or remove this one deliberately"));
  }
  return true;
}

// Which keys live in a token, as recorded in <state>/hsm-keys:
//   token pkcs11:token=...
//   keys mesh-root-* [control-ca]
struct HsmKeys {
  std::string token;  // The token's URI without its query.
  bool control_ca = false;
};

constexpr absl::string_view kHsmKeysFile = "hsm-keys";

std::string FormatHsmKeys(const HsmKeys& keys) {
  return absl::StrCat("token ", keys.token, "\nkeys mesh-root-*",
                      keys.control_ca ? " control-ca" : "", "\n");
}

absl::StatusOr<HsmKeys> ParseHsmKeys(absl::string_view text, absl::string_view path) {
  HsmKeys out;
  bool have_keys = false;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&line, "token ")) {
      out.token = std::string(line);
    } else if (absl::ConsumePrefix(&line, "keys ")) {
      have_keys = true;
      for (absl::string_view key : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
        if (key == "control-ca") {
          out.control_ca = true;
        } else if (key != "mesh-root-*") {
          return absl::DataLossError(absl::StrCat(path, " names an unknown key \"", key, "\""));
        }
      }
    } else {
      return absl::DataLossError(absl::StrCat(path, " has an unknown line \"", line, "\""));
    }
  }
  if (out.token.empty() || !have_keys) {
    return absl::DataLossError(absl::StrCat(path, " does not name a token and its keys"));
  }
  return out;
}

// Which key ids the token holds.
std::function<bool(absl::string_view)> InToken(bool control_ca) {
  return [control_ca](absl::string_view id) {
    return absl::StartsWith(id, kMeshRootKeyPrefix) || (control_ca && id == kControlCaKeyId);
  };
}

struct GeneratedCa {
  ossl::UniquePtr<X509> certificate;
  std::shared_ptr<const pki::Signer> signer;  // Its key, kept in the keystore.
  std::string chain_pem;
  std::string anchor_pem;
};

// A new self-signed CA whose key the keystore makes (and keeps) as `key_id`.
absl::StatusOr<GeneratedCa> GenerateSelfSignedCa(keystore::KeyStore& keys, absl::string_view key_id,
                                                 pki::KeyAlgorithm alg,
                                                 const pki::CertificateTemplate& tmpl) {
  absl::StatusOr<std::shared_ptr<const pki::Signer>> signer =
      keys.GenerateSigningKey(key_id, keystore::KeyTypeFor(alg));
  if (!signer.ok()) return signer.status();
  absl::StatusOr<ossl::UniquePtr<X509>> cert =
      pki::IssueCertificate(tmpl, (*signer)->public_key(), nullptr, **signer);
  if (!cert.ok()) return cert.status();
  GeneratedCa out;
  out.anchor_pem = pki::CertificatePem(cert->get());
  out.certificate = *std::move(cert);
  out.signer = *std::move(signer);
  return out;
}

// Imports an operator-supplied CA (a root, or an intermediate of an offline
// root) after checking that it can sign cluster intermediates.
// Its key goes into the keystore as `key_id`.
absl::StatusOr<GeneratedCa> ImportCa(const InitOptions& options, TimePoint now,
                                     keystore::KeyStore& keys, absl::string_view key_id) {
  absl::StatusOr<std::string> cert_pem = ReadFile(options.import_certificate, 1 << 20);
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<ossl::UniquePtr<X509>> cert = pki::ParseCertificatePem(*cert_pem);
  if (!cert.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.import_certificate, ": ", cert.status().message()));
  }
  absl::StatusOr<SecretBytes> key_pem = ReadSecretFile(options.import_key, 1 << 20);
  if (!key_pem.ok()) return key_pem.status();
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> key = pki::PrivateKeyFromPem(*key_pem);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.import_key, ": ", key.status().message()));
  }
  if (!pki::SamePublicKey(key->get(), pki::PublicKeyOf(cert->get()))) {
    return absl::InvalidArgumentError("the imported key does not match the imported certificate");
  }
  if (absl::StatusOr<pki::KeyAlgorithm> alg = pki::ClassifyKey(key->get()); !alg.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("imported CA ", alg.status().message()));
  }
  if (!pki::IsCa(cert->get()) || !pki::PermitsKeyUsage(cert->get(), pki::kKeyCertSign)) {
    return absl::InvalidArgumentError(
        "the imported certificate is not a CA with keyCertSign; it cannot sign intermediates");
  }
  if (pki::NotAfter(cert->get()) <= now + std::chrono::hours(24 * 30)) {
    return absl::InvalidArgumentError("the imported CA expires within 30 days");
  }
  GeneratedCa out;
  if (pki::IsSelfSigned(cert->get())) {
    out.anchor_pem = pki::CertificatePem(cert->get());
  } else {
    if (options.import_chain.empty()) {
      return absl::InvalidArgumentError(
          "the imported CA is not self-signed; give --import-chain with the CAs above it, ending "
          "with the offline root");
    }
    long path_len = pki::PathLen(cert->get());  // NOLINT(runtime/int)
    if (path_len == 0) {
      return absl::InvalidArgumentError(
          "the imported intermediate has pathlen:0, so it cannot sign cluster intermediates; it "
          "needs pathlen >= 1 or none");
    }
    absl::StatusOr<std::string> chain_pem = ReadFile(options.import_chain, 1 << 20);
    if (!chain_pem.ok()) return chain_pem.status();
    absl::StatusOr<std::vector<ossl::UniquePtr<X509>>> chain =
        pki::ParseCertificateChainPem(*chain_pem);
    if (!chain.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(options.import_chain, ": ", chain.status().message()));
    }
    X509* anchor = chain->back().get();
    if (!pki::IsSelfSigned(anchor)) {
      return absl::InvalidArgumentError(
          "the last certificate of --import-chain must be the self-signed root");
    }
    std::vector<X509*> between;
    for (size_t i = 0; i + 1 < chain->size(); ++i) {
      between.push_back((*chain)[i].get());
      out.chain_pem += pki::CertificatePem((*chain)[i].get());
    }
    if (absl::Status s = pki::VerifyChain(cert->get(), between, {anchor}); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the imported CA does not chain to the given root: ", s.message()));
    }
    out.anchor_pem = pki::CertificatePem(anchor);
  }
  if (absl::Status s = keys.ImportSigningKey(key_id, key->get()); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<const pki::Signer>> signer = keys.GetSigner(key_id);
  if (!signer.ok()) return signer.status();
  out.certificate = *std::move(cert);
  out.signer = *std::move(signer);
  return out;
}

absl::StatusOr<InitResult> Initialize(const InitOptions& options, const Clock& clock,
                                      keystore::Pkcs11KeyStore* hsm) {
  const std::string& dir = options.state_dir;
  TimePoint now = clock.Now();
  std::string keys_dir = Path(dir, "keys");
  if (absl::Status s = MakeDirectory(keys_dir, 0700); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<keystore::SealedFileKeyStore>> keys =
      keystore::SealedFileKeyStore::Create(keys_dir, options.kek, options.argon2);
  if (!keys.ok()) return keys.status();
  // With a token, the roots (and maybe the control CA) are made in it.
  std::unique_ptr<keystore::SplitKeyStore> split;
  if (hsm != nullptr) {
    split = std::make_unique<keystore::SplitKeyStore>(hsm, keys->get(),
                                                      InToken(options.hsm_control_ca));
    HsmKeys recorded{hsm->Describe(), options.hsm_control_ca};
    if (absl::Status s =
            WriteFileAtomically(Path(dir, kHsmKeysFile), FormatHsmKeys(recorded), 0644, true);
        !s.ok()) {
      return s;
    }
  }
  keystore::KeyStore& signing_keys =
      split != nullptr ? static_cast<keystore::KeyStore&>(*split) : **keys;

  // The audit key first: everything after it is audited.
  absl::StatusOr<std::shared_ptr<const pki::Signer>> audit_key =
      (*keys)->GenerateSigningKey(kAuditKeyId, keystore::KeyType::kEd25519);
  if (!audit_key.ok()) return audit_key.status();
  absl::StatusOr<std::unique_ptr<AuditSigner>> signer = AuditSigner::Create(*std::move(audit_key));
  if (!signer.ok()) return signer.status();
  if (absl::Status s = WriteFileAtomically(Path(dir, "audit-public-key"),
                                           HexEncode((*signer)->public_key()) + "\n", 0644, true);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::unique_ptr<SqliteStore>> store =
      SqliteStore::Open(Path(dir, "ca.db"), signer->get());
  if (!store.ok()) return store.status();

  // The mesh root.
  const std::string root_key_id = "mesh-root-1";
  absl::StatusOr<GeneratedCa> root =
      options.import_certificate.empty()
          ? GenerateSelfSignedCa(
                signing_keys, root_key_id, options.root_algorithm,
                profiles::MeshRoot(options.organization, "1", now, options.root_ttl))
          : ImportCa(options, now, signing_keys, root_key_id);
  if (!root.ok()) return root.status();
  RootRecord record;
  record.key_id = root_key_id;
  record.certificate_pem = pki::CertificatePem(root->certificate.get());
  record.chain_pem = root->chain_pem;
  record.anchor_pem = root->anchor_pem;
  record.status = std::string(RootStatusName(RootStatus::kActive));
  record.created = now;
  AuditEvent event;
  event.time = now;
  event.caller = "local:meshtrust-ca";
  event.action = options.import_certificate.empty() ? "CreateRoot" : "ImportRoot";
  event.target = root_key_id;
  event.result = "ok";
  event.serial = pki::SerialHex(root->certificate.get());
  if (absl::Status s = (*store)->AddRoot(record, event); !s.ok()) return s;

  // The control CA, a separate trust domain for client and server identities.
  absl::StatusOr<GeneratedCa> control = GenerateSelfSignedCa(
      signing_keys, kControlCaKeyId, pki::KeyAlgorithm::kEcdsaP256,
      profiles::ControlCa(options.organization, now, std::chrono::hours(24 * 365 * 10)));
  if (!control.ok()) return control.status();
  std::string control_pem = pki::CertificatePem(control->certificate.get());
  if (absl::Status s = WriteFileAtomically(Path(dir, "control-ca.pem"), control_pem, 0644, true);
      !s.ok()) {
    return s;
  }

  // The server's TLS certificate.
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> server_key =
      pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  if (!server_key.ok()) return server_key.status();
  pki::CertificateTemplate server =
      profiles::Server(options.organization, options.server_dns_names, options.server_ip_addresses,
                       now, std::chrono::hours(24 * 365));
  absl::StatusOr<ossl::UniquePtr<X509>> server_cert = pki::IssueCertificate(
      server, server_key->get(), control->certificate.get(), *control->signer);
  if (!server_cert.ok()) return server_cert.status();
  if (absl::Status s = (*keys)->PutKey(kServerKeyId, server_key->get()); !s.ok()) return s;
  if (absl::Status s =
          WriteFileAtomically(Path(dir, "server.pem"),
                              pki::CertificatePem(server_cert->get()) + control_pem, 0644, true);
      !s.ok()) {
    return s;
  }

  // The first operator enrolls with a one-time token, generating its key on
  // its own machine: the CA never holds an admin's private key.
  ControlCa control_ca{std::move(control->certificate), std::move(control->signer)};
  absl::StatusOr<std::unique_ptr<Authority>> authority =
      Authority::Create(store->get(), &signing_keys, signer->get(), &clock, std::move(control_ca),
                        AuthorityOptions{});
  if (!authority.ok()) return authority.status();
  EnrollmentSubject admin{CallerKind::kOperator, options.admin_name};
  absl::StatusOr<NewJoinToken> token =
      (*authority)->CreateAdminToken(admin, options.admin_token_ttl);
  if (!token.ok()) return token.status();

  InitResult result;
  absl::StatusOr<ossl::UniquePtr<X509>> control_cert = pki::ParseCertificatePem(control_pem);
  if (!control_cert.ok()) return control_cert.status();
  absl::StatusOr<std::string> pin = pki::SpkiSha256Pin(pki::PublicKeyOf(control_cert->get()));
  if (!pin.ok()) return pin.status();
  result.control_ca_pin = *pin;
  // The anchor is what the bundle holds and agents pin (for an imported
  // intermediate, the offline root above it).
  absl::StatusOr<ossl::UniquePtr<X509>> anchor = pki::ParseCertificatePem(root->anchor_pem);
  if (!anchor.ok()) return anchor.status();
  result.root_fingerprint = pki::CertificateSha256Hex(anchor->get());
  result.admin_token = token->token;
  result.admin_identity = admin.ToString();
  return result;
}

}  // namespace

absl::StatusOr<InitResult> InitializeStateDir(const InitOptions& options, const Clock& clock) {
  const std::string& dir = options.state_dir;
  if (dir.empty()) return absl::InvalidArgumentError("--state-dir is required");
  if (absl::Status s = ValidateAdminName(options.admin_name); !s.ok()) return s;
  absl::StatusOr<bool> exists_empty = IsEmptyDirectory(dir);
  if (!exists_empty.ok()) return exists_empty.status();
  // The token first: a wrong PIN or a missing module leaves nothing behind.
  std::unique_ptr<keystore::Pkcs11KeyStore> token;
  std::vector<std::string> token_ids;
  if (!options.hsm_uri.empty()) {
    if (!options.import_certificate.empty()) {
      return absl::InvalidArgumentError(
          "--import-cert and --hsm-uri do not go together: a key that existed outside "
          "the HSM does not get its protection, so a token-held root is generated inside it");
    }
    absl::StatusOr<std::unique_ptr<keystore::Pkcs11KeyStore>> opened =
        keystore::Pkcs11KeyStore::Open(options.hsm_uri);
    if (!opened.ok()) return opened.status();
    token = *std::move(opened);
    token_ids.push_back(absl::StrCat(kMeshRootKeyPrefix, "1"));
    if (options.hsm_control_ca) token_ids.emplace_back(kControlCaKeyId);
    for (const std::string& id : token_ids) {
      if (token->Contains(id)) {
        return absl::AlreadyExistsError(
            absl::StrCat("token ", token->Describe(), " already holds a key labelled \"", id,
                         "\" (another CA's?); give each CA a token of its own"));
      }
    }
  } else if (options.hsm_control_ca) {
    return absl::InvalidArgumentError("--hsm-control-ca needs --hsm-uri");
  }
  bool created = false;
  if (!*exists_empty) {
    if (absl::Status s = MakeDirectory(dir, 0700); !s.ok()) return s;
    created = true;
  } else if (::chmod(dir.c_str(), 0700) != 0) {
    return absl::PermissionDeniedError(absl::StrCat("cannot chmod 0700 ", dir));
  }
  absl::StatusOr<InitResult> result = Initialize(options, clock, token.get());
  if (!result.ok()) {
    // Keys this init made in the token: nothing was ever signed for them
    // that anyone kept.
    for (const std::string& id : token_ids) (void)token->DestroyKey(id);
    // Leave nothing half-made behind.
    std::error_code ec;
    if (created) {
      fs::remove_all(dir, ec);
    } else {
      for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (entry.path().filename() != "lost+found") fs::remove_all(entry.path(), ec);
      }
    }
  }
  return result;
}

absl::StatusOr<ControlCa> CaState::LoadControlCa() const {
  absl::StatusOr<ossl::UniquePtr<X509>> cert = pki::ParseCertificatePem(control_ca_pem);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::shared_ptr<const pki::Signer>> signer =
      signing_keys()->GetSigner(kControlCaKeyId);
  if (!signer.ok()) return signer.status();
  if (!pki::SamePublicKey((*signer)->public_key(), pki::PublicKeyOf(cert->get()))) {
    return absl::DataLossError("control-ca.pem does not match the control CA key in the keystore");
  }
  return ControlCa{*std::move(cert), *std::move(signer)};
}

absl::StatusOr<CaState> OpenStateDir(const std::string& dir, const keystore::KekSource& kek,
                                     const std::string& hsm_uri) {
  if (!PathExists(dir)) {
    return absl::NotFoundError(
        absl::StrCat("state directory ", dir, " does not exist; run meshtrust-ca init"));
  }
  if (absl::Status s = CheckPrivatePermissions(dir); !s.ok()) return s;
  if (absl::Status s = CheckPrivatePermissions(Path(dir, "keys")); !s.ok()) return s;
  CaState state;
  state.dir = dir;
  absl::StatusOr<std::unique_ptr<keystore::SealedFileKeyStore>> keys =
      keystore::SealedFileKeyStore::Open(Path(dir, "keys"), kek);
  if (!keys.ok()) return keys.status();
  state.keys = *std::move(keys);
  std::string hsm_keys_path = Path(dir, kHsmKeysFile);
  if (PathExists(hsm_keys_path)) {
    absl::StatusOr<std::string> text = ReadFile(hsm_keys_path, 4096);
    if (!text.ok()) return text.status();
    absl::StatusOr<HsmKeys> recorded = ParseHsmKeys(*text, hsm_keys_path);
    if (!recorded.ok()) return recorded.status();
    if (hsm_uri.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "this CA keeps its mesh roots in token ", recorded->token, "; give --hsm-uri '",
          recorded->token, "?module-path=/path/to/module.so&pin-source=file:/path/to/pin'"));
    }
    absl::StatusOr<std::unique_ptr<keystore::Pkcs11KeyStore>> token =
        keystore::Pkcs11KeyStore::Open(hsm_uri);
    if (!token.ok()) return token.status();
    if ((*token)->Describe() != recorded->token) {
      return absl::FailedPreconditionError(absl::StrCat("--hsm-uri names ", (*token)->Describe(),
                                                        ", but this CA's keys are in ",
                                                        recorded->token));
    }
    state.token = *std::move(token);
    state.split_keys = std::make_unique<keystore::SplitKeyStore>(
        state.token.get(), state.keys.get(), InToken(recorded->control_ca));
  } else if (!hsm_uri.empty()) {
    return absl::FailedPreconditionError(
        "--hsm-uri is given, but this CA keeps every key in its sealed keystore (it was "
        "initialised without a token)");
  }
  absl::StatusOr<std::shared_ptr<const pki::Signer>> audit_key = state.keys->GetSigner(kAuditKeyId);
  if (!audit_key.ok()) return audit_key.status();
  absl::StatusOr<std::unique_ptr<AuditSigner>> signer = AuditSigner::Create(*std::move(audit_key));
  if (!signer.ok()) return signer.status();
  state.audit_signer = *std::move(signer);
  absl::StatusOr<std::string> pub = ReadAuditPublicKey(Path(dir, "audit-public-key"));
  if (!pub.ok()) return pub.status();
  if (*pub != state.audit_signer->public_key()) {
    return absl::DataLossError(
        "audit-public-key does not match the audit signing key in the keystore");
  }
  absl::StatusOr<std::unique_ptr<SqliteStore>> store =
      SqliteStore::Open(Path(dir, "ca.db"), state.audit_signer.get());
  if (!store.ok()) return store.status();
  state.store = *std::move(store);
  absl::StatusOr<std::unique_ptr<PublishedCheckpoint>> published =
      PublishedCheckpoint::Open(dir, state.store.get(), state.audit_signer->public_key());
  if (!published.ok()) return published.status();
  state.published_checkpoint = *std::move(published);
  absl::StatusOr<std::string> control = ReadFile(Path(dir, "control-ca.pem"), 1 << 20);
  if (!control.ok()) return control.status();
  state.control_ca_pem = *std::move(control);
  absl::StatusOr<std::string> server = ReadFile(Path(dir, "server.pem"), 1 << 20);
  if (!server.ok()) return server.status();
  state.server_chain_pem = *std::move(server);
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> server_key = state.keys->GetKey(kServerKeyId);
  if (!server_key.ok()) return server_key.status();
  absl::StatusOr<SecretBytes> server_key_pem = pki::PrivateKeyToPkcs8Pem(server_key->get());
  if (!server_key_pem.ok()) return server_key_pem.status();
  state.server_key_pem = *std::move(server_key_pem);
  return state;
}

absl::StatusOr<OpenedCa> OpenCa(const std::string& dir, const keystore::KekSource& kek,
                                const Clock* clock, AuthorityOptions options,
                                const std::string& hsm_uri) {
  OpenedCa opened;
  absl::StatusOr<CaState> state = OpenStateDir(dir, kek, hsm_uri);
  if (!state.ok()) return state.status();
  opened.state = *std::move(state);
  absl::StatusOr<ControlCa> control = opened.state.LoadControlCa();
  if (!control.ok()) return control.status();
  options.checkpoint_sink = opened.state.published_checkpoint.get();
  absl::StatusOr<std::unique_ptr<Authority>> authority = Authority::Create(
      opened.state.store.get(), opened.state.signing_keys(), opened.state.audit_signer.get(), clock,
      *std::move(control), std::move(options));
  if (!authority.ok()) return authority.status();
  opened.authority = *std::move(authority);
  return opened;
}

absl::StatusOr<std::unique_ptr<SqliteStore>> OpenStoreReadOnly(const std::string& dir) {
  std::string db = Path(dir, "ca.db");
  if (!PathExists(db)) return absl::NotFoundError(absl::StrCat("no CA database at ", db));
  return SqliteStore::Open(db, nullptr);
}

absl::StatusOr<std::string> ReadAuditPublicKey(const std::string& path) {
  absl::StatusOr<std::string> hex = ReadFile(path, 1024);
  if (!hex.ok()) return hex.status();
  absl::string_view trimmed = absl::StripAsciiWhitespace(*hex);
  absl::StatusOr<std::string> key = HexDecode(trimmed);
  if (!key.ok() || key->size() != 32) {
    return absl::DataLossError(
        absl::StrCat(path, " does not hold a 32-byte hex Ed25519 public key"));
  }
  return key;
}

}  // namespace meshtrust::ca
