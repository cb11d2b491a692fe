#include "ca/core/authority.h"

#include <sodium.h>

#include <algorithm>
#include <limits>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/hex.h"
#include "base/logging.h"
#include "pki/certificate.h"
#include "pki/crl.h"
#include "pki/csr.h"
#include "pki/digest.h"
#include "pki/key.h"

namespace meshtrust::ca {
namespace {

constexpr absl::string_view kTokenPrefix = "mtj1.";
constexpr size_t kTokenBytes = 32;
constexpr int kMaxListLimit = 1000;

// Join tokens are stored as BLAKE2b-256 of the whole token string.
std::string TokenHash(absl::string_view token) {
  unsigned char h[32];
  crypto_generichash(h, sizeof(h), reinterpret_cast<const unsigned char*>(token.data()),
                     token.size(), nullptr, 0);
  return HexEncode(absl::string_view(reinterpret_cast<char*>(h), sizeof(h)));
}

absl::Status ValidateTokenFormat(absl::string_view token) {
  size_t b64_len =
      sodium_base64_encoded_len(kTokenBytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING) - 1;
  if (!absl::StartsWith(token, kTokenPrefix) || token.size() != kTokenPrefix.size() + b64_len) {
    return absl::InvalidArgumentError(
        "join token is malformed: expected \"mtj1.\" followed by 43 base64url characters, as "
        "printed by `meshtrustctl token create`");
  }
  for (char c : token.substr(kTokenPrefix.size())) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return absl::InvalidArgumentError("join token is malformed: invalid character");
  }
  return absl::OkStatus();
}

bool IsSha256Hex(absl::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string ResultOf(const absl::Status& status) {
  if (status.ok()) return "ok";
  return absl::StrCat("refused: ", absl::StatusCodeToString(status.code()), ": ", status.message());
}

}  // namespace

absl::StatusOr<std::unique_ptr<Authority>> Authority::Create(Store* store, keystore::KeyStore* keys,
                                                             const AuditSigner* audit_signer,
                                                             const Clock* clock, ControlCa control,
                                                             AuthorityOptions options) {
  if (control.certificate == nullptr || control.key == nullptr) {
    return absl::InvalidArgumentError("control CA certificate and key are required");
  }
  std::unique_ptr<Authority> authority(
      new Authority(store, keys, audit_signer, clock, std::move(control), std::move(options)));
  authority->control_ca_pem_ = pki::CertificatePem(authority->control_.certificate.get());
  if (absl::Status s = authority->ReloadTrust(); !s.ok()) return s;
  return authority;
}

absl::Status Authority::ReloadTrust() {
  absl::StatusOr<std::vector<RootRecord>> roots = store_->ListRoots();
  if (!roots.ok()) return roots.status();
  auto state = std::make_shared<TrustState>();
  for (const RootRecord& root : *roots) {
    // The bundle holds every non-retired anchor once, oldest first; a new
    // root is appended byte-exactly after the old ones.
    if (root.status != "retired" &&
        state->bundle.roots_pem.find(root.anchor_pem) == std::string::npos) {
      state->bundle.roots_pem += root.anchor_pem;
    }
    auto ca = std::make_shared<SigningCa>();
    ca->key_id = root.key_id;
    absl::StatusOr<ossl::UniquePtr<X509>> cert = pki::ParseCertificatePem(root.certificate_pem);
    if (!cert.ok()) return cert.status();
    ca->certificate = *std::move(cert);
    absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> key = keys_->GetKey(root.key_id);
    if (!key.ok()) return key.status();
    ca->key = *std::move(key);
    if (!pki::SamePublicKey(ca->key.get(), pki::PublicKeyOf(ca->certificate.get()))) {
      return absl::DataLossError(
          absl::StrCat("keystore key \"", root.key_id, "\" does not match its root certificate"));
    }
    ca->chain_pem = root.certificate_pem + root.chain_pem;
    ca->under_offline_root = root.anchor_pem != root.certificate_pem;
    if (root.anchor_pem != root.certificate_pem) ca->chain_pem += root.anchor_pem;
    if (root.status == "active") {
      state->active = ca;
      state->bundle.signing_root_pem = root.anchor_pem;
    }
    state->roots.push_back(std::move(ca));
    state->statuses.push_back(root.status);
  }
  if (state->active == nullptr) {
    return absl::FailedPreconditionError(
        "the store holds no active mesh root; run meshtrust-ca init");
  }
  state->bundle.sha256 = pki::Sha256Hex(state->bundle.roots_pem);
  std::lock_guard<std::mutex> lock(trust_mu_);
  trust_ = std::move(state);
  return absl::OkStatus();
}

absl::Status Authority::CheckReady() {
  absl::StatusOr<std::vector<RootRecord>> roots = store_->ListRoots();
  if (!roots.ok()) return absl::UnavailableError(absl::StrCat("store: ", roots.status().message()));
  std::string active = Trust()->active->key_id;
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> key = keys_->GetKey(active);
  if (!key.ok()) {
    return absl::UnavailableError(
        absl::StrCat("keystore: cannot unseal ", active, ": ", key.status().message()));
  }
  return absl::OkStatus();
}

std::shared_ptr<const Authority::TrustState> Authority::Trust() const {
  std::lock_guard<std::mutex> lock(trust_mu_);
  return trust_;
}

AuditEvent Authority::Event(const Caller& caller, absl::string_view action,
                            absl::string_view target, absl::string_view request_digest) const {
  AuditEvent e;
  e.time = clock_->Now();
  e.caller = caller.ToString();
  e.action = std::string(action);
  e.target = std::string(target);
  e.request_sha256 = std::string(request_digest);
  return e;
}

absl::Status Authority::Refuse(AuditEvent event, absl::Status status) {
  event.result = ResultOf(status);
  spdlog::warn("refused {} by {} for \"{}\": {}", event.action, event.caller, event.target,
               status.ToString());
  if (absl::Status s = store_->AppendAudit(event); !s.ok()) {
    spdlog::error("could not audit a refusal: {}", s.ToString());
  }
  return status;
}

absl::Status Authority::RefuseMalformed(const Caller& caller, absl::string_view action,
                                        absl::string_view target, absl::Status status) {
  return Refuse(Event(caller, action, target, ""), std::move(status));
}

TrustBundle Authority::CurrentBundle() const { return Trust()->bundle; }

AuditCheckpoint Authority::Checkpoint() const {
  AuditHead head = store_->Head();
  absl::StatusOr<AuditCheckpoint> checkpoint = signer_->SignCheckpoint(head);
  if (checkpoint.ok()) return *std::move(checkpoint);
  // The records are signed and stored; only this receipt is not. An unsigned
  // checkpoint verifies nowhere, so no one mistakes it for one.
  spdlog::error("cannot sign the audit checkpoint at record {}: {}", head.sequence,
                checkpoint.status().ToString());
  return AuditCheckpoint{head.sequence, head.hash, ""};
}

absl::StatusOr<ClusterRecord> Authority::AuthorizeAgent(const Caller& caller) {
  if (caller.kind != CallerKind::kAgent) {
    return absl::PermissionDeniedError(absl::StrCat(
        caller.ToString(), " is not a cluster agent; this call needs a cluster identity"));
  }
  absl::StatusOr<CertificateRecord> identity = store_->GetCertificate(caller.serial);
  if (!identity.ok() || identity->kind != kKindAgentIdentity ||
      identity->subject_name != caller.name) {
    return absl::UnauthenticatedError(absl::StrCat("client certificate ", caller.serial,
                                                   " was not issued by this CA as the identity of ",
                                                   caller.ToString()));
  }
  if (absl::Status s = CheckIdentityCurrent(*identity); !s.ok()) return s;
  absl::StatusOr<ClusterRecord> cluster = store_->GetCluster(caller.name);
  if (!cluster.ok()) return cluster.status();
  if (!cluster->enabled) {
    return absl::PermissionDeniedError(
        absl::StrCat("cluster \"", caller.name,
                     "\" is disabled; an operator must run `meshtrustctl cluster "
                     "enable ",
                     caller.name, "`"));
  }
  return cluster;
}

absl::Status Authority::AuthorizeAdmin(const Caller& caller, bool mutating) {
  if (!caller.IsAdmin()) {
    return absl::PermissionDeniedError(
        absl::StrCat(caller.ToString(), " is not an admin; admin calls need an admin identity"));
  }
  if (mutating && caller.kind != CallerKind::kOperator) {
    return absl::PermissionDeniedError(
        absl::StrCat(caller.ToString(), " is an auditor (read-only); this call needs an operator"));
  }
  absl::StatusOr<CertificateRecord> identity = store_->GetCertificate(caller.serial);
  if (!identity.ok() || identity->kind != kKindAdminIdentity ||
      identity->subject_name != caller.name) {
    return absl::UnauthenticatedError(absl::StrCat(
        "client certificate ", caller.serial, " was not issued by this CA as an admin identity"));
  }
  return CheckIdentityCurrent(*identity);
}

absl::Status Authority::CheckIdentityCurrent(const CertificateRecord& identity) const {
  if (identity.revoked) {
    return absl::UnauthenticatedError(
        absl::StrCat("client certificate ", identity.serial, " has been revoked"));
  }
  // TLS checks validity at a full handshake only: a resumed session or a
  // long-lived connection can outlast the certificate, so every call checks.
  if (identity.not_after <= clock_->Now()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "client certificate ", identity.serial, " expired at ", UnixSeconds(identity.not_after),
        " (unix time); renew the identity or enroll again"));
  }
  return absl::OkStatus();
}

absl::Status Authority::Reauthorize(const Caller& caller, absl::string_view action) {
  absl::Status s = caller.kind == CallerKind::kAgent ? AuthorizeAgent(caller).status()
                                                     : AuthorizeAdmin(caller, /*mutating=*/false);
  if (!s.ok()) return Refuse(Event(caller, action, caller.name, ""), s);
  return absl::OkStatus();
}

absl::StatusOr<ossl::UniquePtr<X509>> Authority::IssueIdentity(const EnrollmentSubject& subject,
                                                               EVP_PKEY* key) {
  TimePoint now = clock_->Now();
  pki::CertificateTemplate tmpl;
  tmpl.subject = {{"O", options_.organization}, {"CN", subject.name}};
  tmpl.not_before = now - options_.backdate;
  tmpl.not_after = std::min(now + options_.identity_ttl, pki::NotAfter(control_.certificate.get()));
  tmpl.key_usage = pki::kDigitalSignature;
  if (EVP_PKEY_is_a(key, "RSA")) tmpl.key_usage |= pki::kKeyEncipherment;
  tmpl.extended_key_usage = {pki::ExtendedKeyUsage::kClientAuth};
  tmpl.uris = {subject.ToString()};
  return pki::IssueCertificate(tmpl, key, control_.certificate.get(), control_.key.get());
}

absl::StatusOr<IssuedIdentity> Authority::Enroll(absl::string_view token, absl::string_view csr_der,
                                                 absl::string_view source,
                                                 absl::string_view expected_identity) {
  AuditEvent event = Event(Caller::Anonymous(), "Enroll", "", RequestDigest({csr_der}));
  event.caller = absl::StrCat("anonymous from ", source);
  bool first_refusal = false;
  if (absl::Status s = enroll_limiter_.Check(source, clock_->Now(), &first_refusal); !s.ok()) {
    // A flood is audited once per lockout, not once per attempt.
    if (first_refusal) return Refuse(event, s);
    return s;
  }
  if (absl::Status s = ValidateTokenFormat(token); !s.ok()) {
    enroll_limiter_.RecordGuess(source, clock_->Now());
    return Refuse(event, s);
  }
  std::string hash = TokenHash(token);
  absl::StatusOr<JoinTokenRecord> record = store_->GetJoinToken(hash);
  if (!record.ok()) {
    if (absl::IsNotFound(record.status())) {
      enroll_limiter_.RecordGuess(source, clock_->Now());
      return Refuse(event,
                    absl::UnauthenticatedError(
                        "join token is not valid; create one with `meshtrustctl token create`"));
    }
    return Refuse(event, record.status());
  }
  event.target = record->subject;
  if (!expected_identity.empty() && expected_identity != record->subject) {
    return Refuse(event, absl::PermissionDeniedError(absl::StrCat(
                             "this join token enrolls ", record->subject, ", not ",
                             absl::CHexEscape(expected_identity),
                             "; it belongs to another cluster (the token was not used)")));
  }
  if (record->used) {
    return Refuse(event,
                  absl::UnauthenticatedError(
                      "join token was already used; tokens are single-use, create a new one"));
  }
  TimePoint now = clock_->Now();
  if (record->expires <= now) {
    return Refuse(event, absl::UnauthenticatedError("join token has expired; create a new one"));
  }
  absl::StatusOr<EnrollmentSubject> subject = EnrollmentSubject::Parse(record->subject);
  if (!subject.ok())
    return Refuse(event, absl::DataLossError("stored join token names no identity"));
  if (subject->kind == CallerKind::kAgent) {
    absl::StatusOr<ClusterRecord> cluster = store_->GetCluster(subject->name);
    if (!cluster.ok()) return Refuse(event, cluster.status());
    if (!cluster->enabled) {
      return Refuse(event, absl::PermissionDeniedError(absl::StrCat(
                               "cluster \"", subject->name, "\" is disabled; it cannot enroll")));
    }
  }
  absl::StatusOr<ossl::UniquePtr<X509_REQ>> csr = pki::ParseCsr(csr_der);
  if (!csr.ok()) return Refuse(event, csr.status());
  if (absl::StatusOr<pki::KeyAlgorithm> alg = CheckIdentityCsr(csr->get()); !alg.ok()) {
    return Refuse(event, alg.status());
  }
  absl::StatusOr<ossl::UniquePtr<X509>> cert =
      IssueIdentity(*subject, pki::PublicKeyOf(csr->get()));
  if (!cert.ok()) return Refuse(event, cert.status());

  CertificateRecord rec;
  rec.serial = pki::SerialHex(cert->get());
  rec.kind =
      std::string(subject->kind == CallerKind::kAgent ? kKindAgentIdentity : kKindAdminIdentity);
  rec.subject_name = subject->name;
  rec.subject = pki::SubjectString(cert->get());
  rec.not_before = pki::NotBefore(cert->get());
  rec.not_after = pki::NotAfter(cert->get());
  rec.certificate_pem = pki::CertificatePem(cert->get());
  rec.issued_at = now;
  event.result = "ok";
  event.serial = rec.serial;
  absl::Status redeemed = store_->RedeemJoinToken(hash, now, rec, event);
  if (absl::IsAlreadyExists(redeemed) && absl::StrContains(redeemed.message(), "join token")) {
    return Refuse(event,
                  absl::UnauthenticatedError(
                      "join token was already used; tokens are single-use, create a new one"));
  }
  if (absl::IsDeadlineExceeded(redeemed)) {
    return Refuse(event, absl::UnauthenticatedError("join token has expired; create a new one"));
  }
  if (!redeemed.ok()) return redeemed;
  spdlog::info("enrolled {} with identity certificate {}", record->subject, rec.serial);
  return IssuedIdentity{record->subject, rec.certificate_pem, control_ca_pem_, Checkpoint()};
}

absl::StatusOr<IssuedIdentity> Authority::RenewIdentity(const Caller& caller,
                                                        absl::string_view csr_der) {
  AuditEvent event = Event(caller, "RenewIdentity", caller.name, RequestDigest({csr_der}));
  absl::StatusOr<ClusterRecord> cluster = AuthorizeAgent(caller);
  if (!cluster.ok()) return Refuse(event, cluster.status());
  absl::StatusOr<ossl::UniquePtr<X509_REQ>> csr = pki::ParseCsr(csr_der);
  if (!csr.ok()) return Refuse(event, csr.status());
  if (absl::StatusOr<pki::KeyAlgorithm> alg = CheckIdentityCsr(csr->get()); !alg.ok()) {
    return Refuse(event, alg.status());
  }
  EnrollmentSubject subject{CallerKind::kAgent, caller.name};
  absl::StatusOr<ossl::UniquePtr<X509>> cert = IssueIdentity(subject, pki::PublicKeyOf(csr->get()));
  if (!cert.ok()) return Refuse(event, cert.status());
  CertificateRecord rec;
  rec.serial = pki::SerialHex(cert->get());
  rec.kind = std::string(kKindAgentIdentity);
  rec.subject_name = caller.name;
  rec.subject = pki::SubjectString(cert->get());
  rec.not_before = pki::NotBefore(cert->get());
  rec.not_after = pki::NotAfter(cert->get());
  rec.certificate_pem = pki::CertificatePem(cert->get());
  rec.issued_at = clock_->Now();
  event.result = "ok";
  event.serial = rec.serial;
  if (absl::Status s = store_->RecordCertificate(rec, event); !s.ok()) return s;
  return IssuedIdentity{subject.ToString(), rec.certificate_pem, control_ca_pem_, Checkpoint()};
}

absl::StatusOr<IssuedIntermediate> Authority::SignIntermediate(const Caller& caller,
                                                               absl::string_view cluster_name,
                                                               absl::string_view csr_der,
                                                               std::chrono::seconds ttl) {
  AuditEvent event = Event(caller, "SignIntermediate", cluster_name,
                           RequestDigest({cluster_name, csr_der, std::to_string(ttl.count())}));
  absl::StatusOr<ClusterRecord> cluster = AuthorizeAgent(caller);
  if (!cluster.ok()) return Refuse(event, cluster.status());
  if (cluster_name != caller.name) {
    return Refuse(event,
                  absl::PermissionDeniedError(absl::StrCat("identity ", caller.ToString(),
                                                           " may not request an intermediate for "
                                                           "cluster \"",
                                                           cluster_name, "\"")));
  }
  if (ttl.count() < 0) {
    return Refuse(event, absl::InvalidArgumentError("requested TTL is negative"));
  }
  absl::StatusOr<ossl::UniquePtr<X509_REQ>> csr = pki::ParseCsr(csr_der);
  if (!csr.ok()) return Refuse(event, csr.status());
  absl::StatusOr<pki::KeyAlgorithm> alg =
      CheckIntermediateCsr(csr->get(), cluster_name, cluster->policy);
  if (!alg.ok()) return Refuse(event, alg.status());

  std::shared_ptr<const TrustState> trust = Trust();
  const SigningCa& signer = *trust->active;
  TimePoint now = clock_->Now();
  std::chrono::seconds lifetime =
      ttl.count() == 0 ? cluster->policy.max_ttl : std::min(ttl, cluster->policy.max_ttl);
  TimePoint not_after = std::min(now + lifetime, pki::NotAfter(signer.certificate.get()));
  if (not_after - now < kMinTtl) {
    return Refuse(event, absl::FailedPreconditionError(
                             "the signing root expires within the hour; rotate the root first"));
  }
  pki::CertificateTemplate tmpl;
  tmpl.subject = {{"O", options_.organization},
                  {"OU", cluster->name},
                  {"CN", absl::StrCat(cluster->name, " intermediate CA ", UnixSeconds(now))}};
  tmpl.not_before = now - options_.backdate;
  tmpl.not_after = not_after;
  tmpl.is_ca = true;
  tmpl.path_len = 0;
  tmpl.key_usage = pki::kKeyCertSign | pki::kCrlSign | pki::kDigitalSignature;
  if (cluster->policy.name_constraints) {
    tmpl.permitted_uri_domains = {cluster->policy.trust_domain};
  }
  if (!options_.public_url.empty()) {
    tmpl.crl_distribution_point = absl::StrCat(options_.public_url, "/crl/", signer.key_id, ".der");
  }
  absl::StatusOr<ossl::UniquePtr<X509>> cert = pki::IssueCertificate(
      tmpl, pki::PublicKeyOf(csr->get()), signer.certificate.get(), signer.key.get());
  if (!cert.ok()) return Refuse(event, cert.status());

  CertificateRecord rec;
  rec.serial = pki::SerialHex(cert->get());
  rec.kind = std::string(kKindIntermediate);
  rec.issuer_key_id = signer.key_id;
  rec.subject_name = cluster->name;
  rec.subject = pki::SubjectString(cert->get());
  rec.not_before = pki::NotBefore(cert->get());
  rec.not_after = pki::NotAfter(cert->get());
  rec.certificate_pem = pki::CertificatePem(cert->get());
  rec.issued_at = now;
  event.result = "ok";
  event.serial = rec.serial;
  // The certificate leaves this function only if it and its audit record
  // are durable.
  if (absl::Status s = store_->RecordCertificate(rec, event); !s.ok()) {
    spdlog::error("intermediate for {} not issued: {}", cluster->name, s.ToString());
    return s;
  }
  spdlog::info("issued intermediate {} for cluster {} ({}, until {})", rec.serial, cluster->name,
               std::string(pki::KeyAlgorithmName(*alg)), UnixSeconds(rec.not_after));
  IssuedIntermediate out;
  out.certificate_pem = rec.certificate_pem;
  out.chain_pem = rec.certificate_pem + signer.chain_pem;
  out.bundle = trust->bundle;
  out.serial = rec.serial;
  out.not_after = rec.not_after;
  out.checkpoint = Checkpoint();
  return out;
}

absl::StatusOr<TrustBundle> Authority::GetTrustBundle(const Caller& caller) {
  if (absl::StatusOr<ClusterRecord> cluster = AuthorizeAgent(caller); !cluster.ok()) {
    return Refuse(Event(caller, "GetTrustBundle", caller.name, ""), cluster.status());
  }
  return Trust()->bundle;
}

absl::Status Authority::Ack(const Caller& caller, absl::string_view cluster_name,
                            absl::string_view serial, absl::string_view bundle_sha256,
                            absl::string_view intermediate_crl_pem) {
  AuditEvent event =
      Event(caller, "Ack", cluster_name,
            RequestDigest({cluster_name, serial, bundle_sha256, intermediate_crl_pem}));
  absl::StatusOr<ClusterRecord> cluster = AuthorizeAgent(caller);
  if (!cluster.ok()) return Refuse(event, cluster.status());
  if (cluster_name != caller.name) {
    return Refuse(event, absl::PermissionDeniedError(absl::StrCat(
                             "identity ", caller.ToString(), " may not acknowledge for cluster \"",
                             cluster_name, "\"")));
  }
  if (!IsSha256Hex(bundle_sha256)) {
    return Refuse(event, absl::InvalidArgumentError(
                             "bundle_sha256 must be the 64 lowercase hex digits of the SHA-256 of "
                             "the installed root-cert.pem"));
  }
  absl::StatusOr<CertificateRecord> cert = store_->GetCertificate(serial);
  if (!cert.ok() || cert->kind != kKindIntermediate || cert->subject_name != caller.name) {
    return Refuse(event,
                  absl::InvalidArgumentError(absl::StrCat(
                      "serial \"", serial, "\" is not an intermediate issued to ", caller.name)));
  }
  IntermediateCrlRecord crl;
  if (!intermediate_crl_pem.empty()) {
    // Only a CRL the acknowledged intermediate signed is passed on to the
    // other clusters.
    absl::StatusOr<std::vector<ossl::UniquePtr<X509_CRL>>> crls =
        pki::ParseCrlsPem(intermediate_crl_pem);
    absl::StatusOr<ossl::UniquePtr<X509>> issuer = pki::ParseCertificatePem(cert->certificate_pem);
    absl::Status valid = !crls.ok()          ? crls.status()
                         : crls->size() != 1 ? absl::InvalidArgumentError("expected one CRL")
                         : !issuer.ok()      ? issuer.status()
                                             : pki::VerifyCrl((*crls)[0].get(), issuer->get());
    if (!valid.ok()) {
      return Refuse(event, absl::InvalidArgumentError(absl::StrCat(
                               "the intermediate CRL is not a CRL signed by intermediate ", serial,
                               ": ", valid.message())));
    }
    crl = {std::string(cluster_name), std::string(serial), std::string(intermediate_crl_pem),
           pki::CrlNextUpdate((*crls)[0].get()), cert->not_after};
  }
  event.result = "ok";
  event.serial = std::string(serial);
  if (absl::Status s =
          store_->RecordAck(cluster_name, serial, bundle_sha256, crl, clock_->Now(), event);
      !s.ok()) {
    return s;
  }
  // The other clusters need this cluster's new intermediate CRL.
  if (!intermediate_crl_pem.empty() && intermediate_crl_pem != cluster->intermediate_crl_pem) {
    hub_.Publish("", WatchEventType::kCrlChanged);
  }
  return absl::OkStatus();
}

NewJoinToken Authority::MintToken(const std::string& subject, std::chrono::seconds ttl,
                                  JoinTokenRecord* record) const {
  unsigned char raw[kTokenBytes];
  randombytes_buf(raw, sizeof(raw));
  char b64[64];
  sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(raw, sizeof(raw));
  NewJoinToken token;
  token.token = absl::StrCat(kTokenPrefix, b64);
  sodium_memzero(b64, sizeof(b64));
  token.subject = subject;
  TimePoint now = clock_->Now();
  token.expires = now + ttl;
  record->hash = TokenHash(token.token);
  record->subject = subject;
  record->created = now;
  record->expires = token.expires;
  return token;
}

absl::StatusOr<Authority::AddClusterResult> Authority::AddCluster(const Caller& caller,
                                                                  absl::string_view name,
                                                                  const ClusterPolicy& policy,
                                                                  std::chrono::seconds token_ttl) {
  AuditEvent event = Event(caller, "AddCluster", name, RequestDigest({name, policy.ToJson()}));
  if (absl::Status s = AuthorizeAdmin(caller, /*mutating=*/true); !s.ok()) return Refuse(event, s);
  if (absl::Status s = ValidateClusterName(name); !s.ok()) return Refuse(event, s);
  if (absl::Status s = policy.Validate(); !s.ok()) return Refuse(event, s);
  if (token_ttl.count() == 0) token_ttl = options_.default_token_ttl;
  if (token_ttl.count() < 0 || token_ttl > options_.max_token_ttl) {
    return Refuse(event,
                  absl::InvalidArgumentError("join token TTL must be between 1s and 7 days"));
  }
  AddClusterResult result;
  result.cluster.name = std::string(name);
  result.cluster.enabled = true;
  result.cluster.policy = policy;
  result.cluster.created = clock_->Now();
  JoinTokenRecord token;
  result.token = MintToken(EnrollmentSubject{CallerKind::kAgent, std::string(name)}.ToString(),
                           token_ttl, &token);
  event.result = "ok";
  absl::Status s = store_->AddCluster(result.cluster, token, event);
  if (absl::IsAlreadyExists(s)) return Refuse(event, s);
  if (!s.ok()) return s;
  spdlog::info("{} added cluster {}", caller.ToString(), name);
  return result;
}

absl::StatusOr<std::vector<ClusterRecord>> Authority::ListClusters(const Caller& caller) {
  AuditEvent event = Event(caller, "ListClusters", "", "");
  if (absl::Status s = AuthorizeAdmin(caller, /*mutating=*/false); !s.ok()) return Refuse(event, s);
  event.result = "ok";
  if (absl::Status s = store_->AppendAudit(event); !s.ok()) return s;
  return store_->ListClusters();
}

absl::StatusOr<ClusterRecord> Authority::SetClusterEnabled(const Caller& caller,
                                                           absl::string_view name, bool enabled) {
  AuditEvent event = Event(caller, enabled ? "EnableCluster" : "DisableCluster", name, "");
  if (absl::Status s = AuthorizeAdmin(caller, /*mutating=*/true); !s.ok()) return Refuse(event, s);
  event.result = "ok";
  absl::Status s = store_->SetClusterEnabled(name, enabled, event);
  if (absl::IsNotFound(s)) return Refuse(event, s);
  if (!s.ok()) return s;
  spdlog::info("{} {} cluster {}", caller.ToString(), enabled ? "enabled" : "disabled", name);
  return store_->GetCluster(name);
}

absl::StatusOr<NewJoinToken> Authority::CreateJoinToken(const Caller& caller,
                                                        absl::string_view cluster_name,
                                                        std::chrono::seconds ttl) {
  AuditEvent event = Event(caller, "CreateJoinToken", cluster_name, "");
  if (absl::Status s = AuthorizeAdmin(caller, /*mutating=*/true); !s.ok()) return Refuse(event, s);
  absl::StatusOr<ClusterRecord> cluster = store_->GetCluster(cluster_name);
  if (!cluster.ok()) return Refuse(event, cluster.status());
  if (ttl.count() == 0) ttl = options_.default_token_ttl;
  if (ttl.count() < 0 || ttl > options_.max_token_ttl) {
    return Refuse(event,
                  absl::InvalidArgumentError("join token TTL must be between 1s and 7 days"));
  }
  JoinTokenRecord record;
  NewJoinToken token =
      MintToken(EnrollmentSubject{CallerKind::kAgent, cluster->name}.ToString(), ttl, &record);
  event.result = "ok";
  if (absl::Status s = store_->AddJoinToken(record, event); !s.ok()) return s;
  return token;
}

absl::StatusOr<NewJoinToken> Authority::CreateAdminToken(const EnrollmentSubject& admin,
                                                         std::chrono::seconds ttl) {
  Caller local{CallerKind::kAnonymous, "", ""};
  AuditEvent event = Event(local, "CreateAdminToken", admin.ToString(), "");
  event.caller = "local:meshtrust-ca";
  if (admin.kind != CallerKind::kOperator && admin.kind != CallerKind::kAuditor) {
    return Refuse(event, absl::InvalidArgumentError("admin tokens are for operators or auditors"));
  }
  if (absl::Status s = ValidateAdminName(admin.name); !s.ok()) return Refuse(event, s);
  if (ttl.count() <= 0 || ttl > options_.max_token_ttl) {
    return Refuse(event,
                  absl::InvalidArgumentError("join token TTL must be between 1s and 7 days"));
  }
  JoinTokenRecord record;
  NewJoinToken token = MintToken(admin.ToString(), ttl, &record);
  event.result = "ok";
  if (absl::Status s = store_->AddJoinToken(record, event); !s.ok()) return s;
  return token;
}

absl::StatusOr<std::vector<CertificateRecord>> Authority::ListCertificates(
    const Caller& caller, const CertificateFilter& filter) {
  AuditEvent event = Event(caller, "ListCertificates", filter.subject_name, "");
  if (absl::Status s = AuthorizeAdmin(caller, /*mutating=*/false); !s.ok()) return Refuse(event, s);
  if (!filter.kind.empty() && filter.kind != kKindIntermediate &&
      filter.kind != kKindAgentIdentity && filter.kind != kKindAdminIdentity) {
    return Refuse(event, absl::InvalidArgumentError(absl::StrCat(
                             "certificate kind \"", absl::CHexEscape(filter.kind),
                             "\" is unknown; use intermediate, agent-identity or admin-identity")));
  }
  CertificateFilter f = filter;
  if (f.limit <= 0) f.limit = 100;
  f.limit = std::min(f.limit, kMaxListLimit);
  event.result = "ok";
  if (absl::Status s = store_->AppendAudit(event); !s.ok()) return s;
  return store_->ListCertificates(f);
}

absl::StatusOr<std::vector<AuditRecord>> Authority::ListAudit(const Caller& caller,
                                                              uint64_t after_sequence, int limit) {
  AuditEvent event = Event(caller, "ListAudit", "", "");
  if (absl::Status s = AuthorizeAdmin(caller, /*mutating=*/false); !s.ok()) return Refuse(event, s);
  if (after_sequence > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return Refuse(event, absl::OutOfRangeError(absl::StrCat("after_sequence ", after_sequence,
                                                            " is beyond any audit record")));
  }
  if (limit <= 0) limit = 100;
  limit = std::min(limit, kMaxListLimit);
  event.result = "ok";
  if (absl::Status s = store_->AppendAudit(event); !s.ok()) return s;
  return store_->ReadAudit(after_sequence, limit);
}

absl::StatusOr<AuditVerification> Authority::VerifyAudit(const Caller& caller) {
  AuditEvent event = Event(caller, "VerifyAudit", "", "");
  if (absl::Status s = AuthorizeAdmin(caller, /*mutating=*/false); !s.ok()) return Refuse(event, s);
  absl::StatusOr<AuditVerification> out = VerifyStoredAudit(store_, signer_->public_key());
  if (!out.ok()) return out.status();
  event.result = out->ok ? "ok" : absl::StrCat("chain broken at ", out->first_bad_sequence);
  // A broken chain cannot be appended to meaningfully, but the call is still
  // recorded when the store accepts it.
  if (absl::Status s = store_->AppendAudit(event); !s.ok() && out->ok) return s;
  out->checkpoint = Checkpoint();
  return out;
}

}  // namespace meshtrust::ca
