#include "pki/crl.h"

#include <ctime>

#include "absl/strings/str_cat.h"
#include "pki/der.h"
#include "pki/error.h"
#include "pki/pem.h"

namespace meshtrust::pki {
namespace {

constexpr const char* kReasonNames[] = {
    "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
    "superseded",    "cessationOfOperation", "certificateHold", "",
    "removeFromCRL", "privilegeWithdrawn",   "aACompromise"};

// Signs the filled-in, sorted `crl` with `signer`: the to-be-signed part is
// encoded here from the CRL's own fields, each by OpenSSL's encoder (as for
// certificates, see SignCertificate), and the signed CRL is parsed back.
absl::StatusOr<ossl::UniquePtr<X509_CRL>> SignCrl(X509_CRL* crl, const Signer& signer) {
  absl::StatusOr<std::string> algorithm = SignatureAlgorithmIdentifierDer(signer.algorithm());
  if (!algorithm.ok()) return algorithm.status();
  std::string issuer = EncodeDer(X509_CRL_get_issuer(crl), i2d_X509_NAME);
  std::string this_update = EncodeDer(X509_CRL_get0_lastUpdate(crl), i2d_ASN1_TIME);
  std::string next_update = EncodeDer(X509_CRL_get0_nextUpdate(crl), i2d_ASN1_TIME);
  std::string extensions = EncodeDer(X509_CRL_get0_extensions(crl), i2d_X509_EXTENSIONS);
  if (issuer.empty() || this_update.empty() || next_update.empty() || extensions.empty()) {
    return InternalOpenSslError("encoding a CRL to sign");
  }
  std::string revoked;
  STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(crl);
  for (int i = 0; i < sk_X509_REVOKED_num(entries); ++i) {
    std::string entry = EncodeDer(sk_X509_REVOKED_value(entries, i), i2d_X509_REVOKED);
    if (entry.empty()) return InternalOpenSslError("encoding a CRL entry to sign");
    revoked += entry;
  }
  constexpr char kVersion2[] = {2, 1, 1};  // INTEGER 1 (v2).
  std::string tbs = DerTlv(
      kDerSequence, absl::StrCat(absl::string_view(kVersion2, sizeof(kVersion2)), *algorithm,
                                 issuer, this_update, next_update,
                                 // RFC 5280 5.1.2.6: no revokedCertificates when there are none.
                                 revoked.empty() ? std::string() : DerTlv(kDerSequence, revoked),
                                 DerTlv(kDerExplicit0, extensions)));
  absl::StatusOr<std::string> signed_der = SignX509Envelope(tbs, *algorithm, signer);
  if (!signed_der.ok()) return signed_der.status();
  return ParseCrlDer(*signed_der);
}

}  // namespace

absl::StatusOr<int> ParseRevocationReason(absl::string_view name) {
  for (int i = 0; i < static_cast<int>(sizeof(kReasonNames) / sizeof(kReasonNames[0])); ++i) {
    if (i == CRL_REASON_REMOVE_FROM_CRL || i == 7) continue;
    if (name == kReasonNames[i]) return i;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown revocation reason \"", name,
      "\"; use one of unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, "
      "cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise"));
}

std::string RevocationReasonName(int code) {
  if (code < 0 || code >= static_cast<int>(sizeof(kReasonNames) / sizeof(kReasonNames[0]))) {
    return "unspecified";
  }
  return kReasonNames[code];
}

absl::StatusOr<ossl::UniquePtr<X509_CRL>> IssueCrl(const CrlTemplate& tmpl, X509* issuer,
                                                   const Signer& issuer_signer) {
  if (EVP_PKEY_eq(X509_get0_pubkey(issuer), issuer_signer.public_key()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the signer's key is not the CRL issuer's key");
  }
  if (tmpl.next_update <= tmpl.this_update) {
    return absl::InvalidArgumentError("CRL nextUpdate must be later than thisUpdate");
  }
  ossl::UniquePtr<X509_CRL> crl(X509_CRL_new());
  ossl::UniquePtr<ASN1_TIME> this_update(
      ASN1_TIME_set(nullptr, Clock::to_time_t(tmpl.this_update)));
  ossl::UniquePtr<ASN1_TIME> next_update(
      ASN1_TIME_set(nullptr, Clock::to_time_t(tmpl.next_update)));
  if (crl == nullptr || this_update == nullptr || next_update == nullptr ||
      X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer)) != 1 ||
      X509_CRL_set1_lastUpdate(crl.get(), this_update.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next_update.get()) != 1) {
    return InternalOpenSslError("filling in a CRL");
  }
  for (const RevokedEntry& entry : tmpl.revoked) {
    BIGNUM* bn_raw = nullptr;
    if (BN_hex2bn(&bn_raw, entry.serial_hex.c_str()) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("serial \"", entry.serial_hex, "\" is not hex"));
    }
    ossl::UniquePtr<BIGNUM> bn(bn_raw);
    ossl::UniquePtr<ASN1_STRING> serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    ossl::UniquePtr<ASN1_TIME> when(ASN1_TIME_set(nullptr, Clock::to_time_t(entry.revoked_at)));
    ossl::UniquePtr<X509_REVOKED> owned(X509_REVOKED_new());
    if (owned == nullptr || serial == nullptr || when == nullptr ||
        X509_REVOKED_set_serialNumber(owned.get(), serial.get()) != 1 ||
        X509_REVOKED_set_revocationDate(owned.get(), when.get()) != 1) {
      return InternalOpenSslError("building a CRL entry");
    }
    if (entry.reason != CRL_REASON_UNSPECIFIED) {
      ossl::UniquePtr<ASN1_STRING> reason(ASN1_ENUMERATED_new());
      if (reason == nullptr || ASN1_ENUMERATED_set(reason.get(), entry.reason) != 1 ||
          X509_REVOKED_add1_ext_i2d(owned.get(), NID_crl_reason, reason.get(), 0, 0) != 1) {
        return InternalOpenSslError("adding a CRL reason code");
      }
    }
    if (X509_CRL_add0_revoked(crl.get(), owned.get()) != 1) {
      return InternalOpenSslError("adding a CRL entry");
    }
    owned.release();  // Owned by the CRL now.
  }
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, nullptr, nullptr, crl.get(), 0);
  ossl::UniquePtr<X509_EXTENSION> aki(
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid:always"));
  ossl::UniquePtr<ASN1_STRING> number(ASN1_INTEGER_new());
  if (aki == nullptr || X509_CRL_add_ext(crl.get(), aki.get(), -1) != 1 || number == nullptr ||
      ASN1_INTEGER_set_uint64(number.get(), tmpl.number) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, 0) != 1) {
    return InternalOpenSslError("adding CRL extensions");
  }
  X509_CRL_sort(crl.get());
  return SignCrl(crl.get(), issuer_signer);
}

absl::StatusOr<ossl::UniquePtr<X509_CRL>> IssueCrl(const CrlTemplate& tmpl, X509* issuer,
                                                   EVP_PKEY* issuer_key) {
  absl::StatusOr<std::unique_ptr<Signer>> signer = NewInMemorySigner(ossl::UpRef(issuer_key));
  if (!signer.ok()) return signer.status();
  return IssueCrl(tmpl, issuer, **signer);
}

absl::StatusOr<ossl::UniquePtr<X509_CRL>> ParseCrlDer(absl::string_view der) {
  return ParseWholeDer<X509_CRL>(
      der, d2i_X509_CRL,
      {.not_valid = "CRL is not valid DER", .trailing = "CRL DER has trailing bytes"});
}

absl::StatusOr<std::vector<ossl::UniquePtr<X509_CRL>>> ParseCrlsPem(absl::string_view pem) {
  return ParsePemSequenceWith<X509_CRL>(pem, "X509 CRL", ParseCrlDer);
}

std::string CrlDer(X509_CRL* crl) { return EncodeDer(crl, i2d_X509_CRL); }

std::string CrlPem(X509_CRL* crl) { return EncodePem(CrlDer(crl), "X509 CRL"); }

absl::Status VerifyCrl(X509_CRL* crl, X509* issuer) {
  if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0) {
    return absl::FailedPreconditionError("CRL issuer name does not match the certificate");
  }
  if (X509_CRL_verify(crl, X509_get0_pubkey(issuer)) != 1) {
    ERR_clear_error();
    return absl::FailedPreconditionError("CRL signature does not verify with the issuer's key");
  }
  return absl::OkStatus();
}

uint64_t CrlNumber(X509_CRL* crl) {
  ossl::UniquePtr<ASN1_STRING> number(
      static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl, NID_crl_number, nullptr, nullptr)));
  uint64_t v = 0;
  if (number == nullptr || ASN1_INTEGER_get_uint64(&v, number.get()) != 1) return 0;
  return v;
}

TimePoint CrlThisUpdate(const X509_CRL* crl) {
  return Asn1TimeToTimePoint(X509_CRL_get0_lastUpdate(crl));
}
TimePoint CrlNextUpdate(const X509_CRL* crl) {
  return Asn1TimeToTimePoint(X509_CRL_get0_nextUpdate(crl));
}

std::vector<std::string> RevokedSerials(X509_CRL* crl) {
  std::vector<std::string> out;
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl);  // get0: owned by crl.
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    const ASN1_INTEGER* serial = X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i));
    ossl::UniquePtr<BIGNUM> bn(ASN1_INTEGER_to_BN(serial, nullptr));
    ossl::OpenSslBuffer<char> hex(BN_bn2hex(bn.get()));
    std::string s(hex.get());
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t nz = s.find_first_not_of('0');
    out.push_back(nz == std::string::npos ? "0" : s.substr(nz));
  }
  return out;
}

}  // namespace meshtrust::pki
