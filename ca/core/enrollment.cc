#include "ca/core/enrollment.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "ca/core/policy.h"
#include "ca/core/profiles.h"
#include "pki/certificate.h"
#include "pki/csr.h"

namespace meshtrust::ca {
namespace {

constexpr absl::string_view kTokenUsed =
    "join token was already used; tokens are single-use, create a new one";
constexpr absl::string_view kTokenExpired = "join token has expired; create a new one";

// A client identity for the key of `subject`'s (checked) `csr`, from the
// control CA's template.
absl::StatusOr<pki::IssuedCertificate> IssueIdentity(const ControlCa& control,
                                                     const AuthorityOptions& options, TimePoint now,
                                                     const EnrollmentSubject& subject,
                                                     X509_REQ* csr) {
  absl::StatusOr<pki::KeyAlgorithm> algorithm = pki::ClassifyKey(pki::PublicKeyOf(csr));
  if (!algorithm.ok()) return algorithm.status();
  pki::CertificateTemplate tmpl = profiles::Identity(
      options.organization, subject, *algorithm, now - options.backdate,
      std::min(now + options.identity_ttl, pki::NotAfter(control.certificate.get())));
  return pki::IssueCertificateForCsr(tmpl, csr, control.certificate.get(), *control.signer);
}

}  // namespace

Enrollment::Enrollment(Store* store, const Clock* clock, const AuditTrail* audit,
                       const Authorizer* authorizer, ControlCa control,
                       const AuthorityOptions* options)
    : store_(store),
      clock_(clock),
      audit_(audit),
      authorizer_(authorizer),
      control_(std::move(control)),
      control_ca_pem_(pki::CertificatePem(control_.certificate.get())),
      options_(options),
      limiter_(options->enroll_limits) {}

absl::StatusOr<IssuedIdentity> Enrollment::Enroll(absl::string_view token,
                                                  absl::string_view csr_der,
                                                  absl::string_view source,
                                                  absl::string_view expected_identity) {
  AuditedCall call = audit_->BeginAs(absl::StrCat("anonymous from ", source), "Enroll", "",
                                     RequestDigest({csr_der}));
  bool first_refusal = false;
  if (absl::Status s = limiter_.Check(source, clock_->Now(), &first_refusal); !s.ok()) {
    // A flood is audited once per lockout, not once per attempt.
    return first_refusal ? call.Refuse(s) : call.Fail(s);
  }
  if (absl::Status s = ValidateJoinTokenFormat(token); !s.ok()) {
    limiter_.RecordGuess(source, clock_->Now());
    return call.Refuse(s);
  }
  std::string hash = JoinTokenHash(token);
  absl::StatusOr<JoinTokenRecord> record = store_->GetJoinToken(hash);
  if (!record.ok()) {
    if (absl::IsNotFound(record.status())) {
      limiter_.RecordGuess(source, clock_->Now());
      return call.Refuse(absl::UnauthenticatedError(
          "join token is not valid; create one with `meshtrustctl token create`"));
    }
    return call.Refuse(record.status());
  }
  call.set_target(record->subject);
  if (!expected_identity.empty() && expected_identity != record->subject) {
    return call.Refuse(absl::PermissionDeniedError(absl::StrCat(
        "this join token enrolls ", record->subject, ", not ", absl::CHexEscape(expected_identity),
        "; it belongs to another cluster (the token was not used)")));
  }
  if (record->used) return call.Refuse(absl::UnauthenticatedError(kTokenUsed));
  TimePoint now = clock_->Now();
  if (record->expires <= now) return call.Refuse(absl::UnauthenticatedError(kTokenExpired));
  absl::StatusOr<EnrollmentSubject> subject = EnrollmentSubject::Parse(record->subject);
  if (!subject.ok()) {
    return call.Refuse(absl::DataLossError("stored join token names no identity"));
  }
  if (subject->kind == CallerKind::kAgent) {
    absl::StatusOr<ClusterRecord> cluster = store_->GetCluster(subject->name);
    if (!cluster.ok()) return call.Refuse(cluster.status());
    if (!cluster->enabled) {
      return call.Refuse(absl::PermissionDeniedError(
          absl::StrCat("cluster \"", subject->name, "\" is disabled; it cannot enroll")));
    }
  }
  absl::StatusOr<ossl::UniquePtr<X509_REQ>> csr = pki::ParseCsr(csr_der);
  if (!csr.ok()) return call.Refuse(csr.status());
  if (absl::StatusOr<pki::KeyAlgorithm> alg = CheckIdentityCsr(csr->get()); !alg.ok()) {
    return call.Refuse(alg.status());
  }
  if (subject->kind == CallerKind::kAgent) {
    if (absl::Status s = CheckSubjectCluster(csr->get(), subject->name); !s.ok()) {
      return call.Refuse(s);
    }
  }
  absl::StatusOr<pki::IssuedCertificate> cert =
      IssueIdentity(control_, *options_, clock_->Now(), *subject, csr->get());
  if (!cert.ok()) return call.Refuse(cert.status());

  CertificateRecord rec =
      IssuedCertificateRecord(*std::move(cert),
                              subject->kind == CallerKind::kAgent ? CertificateKind::kAgentIdentity
                                                                  : CertificateKind::kAdminIdentity,
                              subject->name, now);
  call.set_serial(rec.serial);
  absl::Status redeemed = store_->RedeemJoinToken(hash, now, rec, call.Succeeded());
  // Concurrent redemptions of one token: the store lets exactly one win.
  if (absl::IsAlreadyExists(redeemed) && absl::StrContains(redeemed.message(), "join token")) {
    return call.Refuse(absl::UnauthenticatedError(kTokenUsed));
  }
  if (absl::IsDeadlineExceeded(redeemed)) {
    return call.Refuse(absl::UnauthenticatedError(kTokenExpired));
  }
  if (!redeemed.ok()) return redeemed;
  spdlog::info("enrolled {} with identity certificate {}", record->subject, rec.serial);
  return IssuedIdentity{record->subject, rec.certificate_pem, control_ca_pem_,
                        audit_->Checkpoint()};
}

absl::StatusOr<IssuedIdentity> Enrollment::RenewIdentity(const Caller& caller,
                                                         absl::string_view csr_der) {
  AuditedCall call = audit_->Begin(caller, "RenewIdentity", caller.name, RequestDigest({csr_der}));
  absl::StatusOr<ClusterRecord> cluster = authorizer_->AuthorizeAgent(caller);
  if (!cluster.ok()) return call.Refuse(cluster.status());
  absl::StatusOr<ossl::UniquePtr<X509_REQ>> csr = pki::ParseCsr(csr_der);
  if (!csr.ok()) return call.Refuse(csr.status());
  if (absl::StatusOr<pki::KeyAlgorithm> alg = CheckIdentityCsr(csr->get()); !alg.ok()) {
    return call.Refuse(alg.status());
  }
  if (absl::Status s = CheckSubjectCluster(csr->get(), caller.name); !s.ok()) {
    return call.Refuse(s);
  }
  if (absl::Status s = renewals_.Admit(*cluster, clock_->Now(), &call); !s.ok()) return s;
  EnrollmentSubject subject{CallerKind::kAgent, caller.name};
  absl::StatusOr<pki::IssuedCertificate> cert =
      IssueIdentity(control_, *options_, clock_->Now(), subject, csr->get());
  if (!cert.ok()) return call.Refuse(cert.status());
  CertificateRecord rec = IssuedCertificateRecord(*std::move(cert), CertificateKind::kAgentIdentity,
                                                  caller.name, clock_->Now());
  // The caller's identity stays valid until the renewed one is first used.
  rec.renews = caller.serial;
  call.set_serial(rec.serial);
  if (absl::Status s = store_->RecordCertificate(rec, call.Succeeded()); !s.ok()) return s;
  return IssuedIdentity{subject.ToString(), rec.certificate_pem, control_ca_pem_,
                        audit_->Checkpoint()};
}

absl::StatusOr<NewJoinToken> Enrollment::CreateAdminToken(const EnrollmentSubject& admin,
                                                          std::chrono::seconds ttl) {
  AuditedCall call =
      audit_->BeginAs("local:meshtrust-ca", "CreateAdminToken", admin.ToString(), "");
  if (admin.kind != CallerKind::kOperator && admin.kind != CallerKind::kAuditor) {
    return call.Refuse(absl::InvalidArgumentError("admin tokens are for operators or auditors"));
  }
  if (absl::Status s = ValidateAdminName(admin.name); !s.ok()) return call.Refuse(s);
  if (absl::Status s = CheckJoinTokenTtl(ttl, options_->max_token_ttl); !s.ok()) {
    return call.Refuse(s);
  }
  JoinTokenRecord record;
  NewJoinToken token = MintJoinToken(admin.ToString(), ttl, clock_->Now(), &record);
  if (absl::Status s = store_->AddJoinToken(record, call.Succeeded()); !s.ok()) return s;
  return token;
}

absl::Status Enrollment::CheckSubjectCluster(X509_REQ* csr, absl::string_view cluster) {
  return CheckSubjectNamesNoOtherCluster(
      csr, cluster, [this](absl::string_view name) { return store_->GetCluster(name).ok(); });
}

}  // namespace meshtrust::ca
