#include "pki/certificate.h"

#include <arpa/inet.h>
#include <openssl/rand.h>
#include <sodium.h>

#include <ctime>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "pki/crl.h"
#include "pki/der.h"
#include "pki/digest.h"
#include "pki/error.h"
#include "pki/key.h"
#include "pki/pem.h"

namespace meshtrust::pki {
namespace {

absl::StatusOr<ossl::UniquePtr<ASN1_INTEGER>> RandomSerial() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return InternalOpenSslError("drawing a random serial");
  bytes[0] &= 0x7f;  // Positive.
  bytes[0] |= 0x40;  // Exactly 127 significant bits: never zero, never short.
  ossl::UniquePtr<BIGNUM> bn(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  if (bn == nullptr) return InternalOpenSslError("building a serial");
  ossl::UniquePtr<ASN1_INTEGER> serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (serial == nullptr) return InternalOpenSslError("building a serial");
  return serial;
}

// Signs the filled-in `cert` with `signer`. OpenSSL signs only with keys it
// holds (or providers it loads), so the to-be-signed part is encoded here
// from the certificate's own fields, each by OpenSSL's encoder, and the
// signed certificate is parsed back.
absl::StatusOr<std::string> SignCertificateDer(X509* cert, const Signer& signer) {
  absl::StatusOr<std::string> algorithm = SignatureAlgorithmIdentifierDer(signer.algorithm());
  if (!algorithm.ok()) return algorithm.status();
  std::string serial = EncodeDer(X509_get0_serialNumber(cert), i2d_ASN1_INTEGER);
  std::string issuer = EncodeDer(X509_get_issuer_name(cert), i2d_X509_NAME);
  std::string not_before = EncodeDer(X509_get0_notBefore(cert), i2d_ASN1_TIME);
  std::string not_after = EncodeDer(X509_get0_notAfter(cert), i2d_ASN1_TIME);
  std::string subject = EncodeDer(X509_get_subject_name(cert), i2d_X509_NAME);
  std::string spki = EncodeDer(X509_get_X509_PUBKEY(cert), i2d_X509_PUBKEY);
  std::string extensions = EncodeDer(X509_get0_extensions(cert), i2d_X509_EXTENSIONS);
  if (serial.empty() || issuer.empty() || not_before.empty() || not_after.empty() ||
      subject.empty() || spki.empty() || extensions.empty()) {
    return InternalOpenSslError("encoding a certificate to sign");
  }
  constexpr char kVersion3[] = {'\xa0', 3, 2, 1, 2};  // [0] EXPLICIT INTEGER 2 (v3).
  std::string tbs =
      DerTlv(kDerSequence,
             absl::StrCat(absl::string_view(kVersion3, sizeof(kVersion3)), serial, *algorithm,
                          issuer, DerTlv(kDerSequence, absl::StrCat(not_before, not_after)),
                          subject, spki, DerTlv(kDerExplicit3, extensions)));
  return SignX509Envelope(tbs, *algorithm, signer);
}

// Gives `cert` the public key `spki` holds, copied field by field: unlike
// X509_set_pubkey, no key is decoded or encoded (OpenSSL 3 runs its
// provider decoder and encoder machinery for that, which costs more than
// the signature).
absl::Status CopyPublicKey(const X509_PUBKEY* spki, X509* cert) {
  ASN1_OBJECT* key_oid = nullptr;
  const unsigned char* bits = nullptr;
  int bits_len = 0;
  X509_ALGOR* algorithm = nullptr;
  if (X509_PUBKEY_get0_param(&key_oid, &bits, &bits_len, &algorithm, spki) != 1 ||
      algorithm == nullptr) {
    return absl::InvalidArgumentError("the public key is unreadable");
  }
  const ASN1_OBJECT* oid = nullptr;
  int param_type = V_ASN1_UNDEF;
  const void* param = nullptr;
  X509_ALGOR_get0(&oid, &param_type, &param, algorithm);
  // Only an OID (EC curves) or a SEQUENCE (explicit parameters) is an
  // object to copy; an RSA key's NULL is no object (OpenSSL's decoder even
  // leaves a non-null marker in its place) and Ed25519 has none.
  void* param_copy = nullptr;
  if (param_type == V_ASN1_OBJECT) {
    param_copy = OBJ_dup(static_cast<const ASN1_OBJECT*>(param));
  } else if (param_type == V_ASN1_SEQUENCE) {
    param_copy = ASN1_STRING_dup(static_cast<const ASN1_STRING*>(param));
  } else if (param_type != V_ASN1_NULL && param_type != V_ASN1_UNDEF) {
    return absl::InvalidArgumentError("the public key's algorithm parameters are of no known kind");
  }
  bool needs_param = param_type == V_ASN1_OBJECT || param_type == V_ASN1_SEQUENCE;
  ASN1_OBJECT* oid_copy = OBJ_dup(oid);
  unsigned char* bits_copy = static_cast<unsigned char*>(OPENSSL_memdup(bits, bits_len));
  // X509_PUBKEY_set0_param takes every copy when it succeeds, none when it
  // fails.
  if (oid_copy == nullptr || bits_copy == nullptr || (needs_param && param_copy == nullptr) ||
      X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), oid_copy, param_type, param_copy,
                             bits_copy, bits_len) != 1) {
    ASN1_OBJECT_free(oid_copy);
    OPENSSL_free(bits_copy);
    if (param_type == V_ASN1_OBJECT) ASN1_OBJECT_free(static_cast<ASN1_OBJECT*>(param_copy));
    if (param_type == V_ASN1_SEQUENCE) ASN1_STRING_free(static_cast<ASN1_STRING*>(param_copy));
    return InternalOpenSslError("copying a public key");
  }
  return absl::OkStatus();
}

absl::Status AddConfExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  ossl::UniquePtr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return InternalOpenSslError(absl::StrCat("adding extension ", OBJ_nid2sn(nid)));
  }
  return absl::OkStatus();
}

absl::Status AddExtension(X509* cert, int nid, bool critical, void* value) {
  if (X509_add1_ext_i2d(cert, nid, value, critical ? 1 : 0, X509V3_ADD_APPEND) != 1) {
    return InternalOpenSslError(absl::StrCat("adding extension ", OBJ_nid2sn(nid)));
  }
  return absl::OkStatus();
}

// Appends a general name of `type` holding `value` to `names`.
absl::Status PushGeneralName(GENERAL_NAMES* names, int type, ossl::UniquePtr<ASN1_STRING> value) {
  ossl::UniquePtr<GENERAL_NAME> gn(GENERAL_NAME_new());
  if (gn == nullptr) return InternalOpenSslError("building a general name");
  GENERAL_NAME_set0_value(gn.get(), type, value.release());  // gn takes ownership of the value.
  if (sk_GENERAL_NAME_push(names, gn.get()) == 0) {
    return InternalOpenSslError("building a general name");
  }
  gn.release();  // Owned by `names` now.
  return absl::OkStatus();
}

absl::Status PushName(GENERAL_NAMES* names, int type, absl::string_view value) {
  ossl::UniquePtr<ASN1_STRING> s(ASN1_IA5STRING_new());
  if (s == nullptr || ASN1_STRING_set(s.get(), value.data(), static_cast<int>(value.size())) != 1) {
    return InternalOpenSslError("building a general name");
  }
  return PushGeneralName(names, type, std::move(s));
}

absl::Status PushIp(GENERAL_NAMES* names, const std::string& ip) {
  ossl::UniquePtr<ASN1_STRING> addr(a2i_IPADDRESS(ip.c_str()));
  if (addr == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        absl::StrCat("\"", ip, "\" is not an IP address"));
  }
  return PushGeneralName(names, GEN_IPADD, std::move(addr));
}

absl::Status AddSubjectAltNames(X509* cert, const CertificateTemplate& tmpl) {
  if (tmpl.dns_names.empty() && tmpl.ip_addresses.empty() && tmpl.uris.empty()) {
    return absl::OkStatus();
  }
  ossl::UniquePtr<GENERAL_NAMES> names(sk_GENERAL_NAME_new_null());
  if (names == nullptr) return InternalOpenSslError("building subjectAltName");
  for (const std::string& dns : tmpl.dns_names) {
    if (absl::Status s = PushName(names.get(), GEN_DNS, dns); !s.ok()) return s;
  }
  for (const std::string& ip : tmpl.ip_addresses) {
    if (absl::Status s = PushIp(names.get(), ip); !s.ok()) return s;
  }
  for (const std::string& uri : tmpl.uris) {
    if (absl::Status s = PushName(names.get(), GEN_URI, uri); !s.ok()) return s;
  }
  // A subject with no name needs a critical SAN (RFC 5280 4.2.1.6).
  return AddExtension(cert, NID_subject_alt_name, tmpl.subject.empty(), names.get());
}

absl::Status AddNameConstraints(X509* cert, const CertificateTemplate& tmpl) {
  if (tmpl.permitted_uri_domains.empty()) return absl::OkStatus();
  ossl::UniquePtr<NAME_CONSTRAINTS> nc(NAME_CONSTRAINTS_new());
  if (nc == nullptr) return InternalOpenSslError("building nameConstraints");
  nc->permittedSubtrees = sk_GENERAL_SUBTREE_new_null();
  if (nc->permittedSubtrees == nullptr) return InternalOpenSslError("building nameConstraints");
  for (const std::string& domain : tmpl.permitted_uri_domains) {
    ossl::UniquePtr<GENERAL_NAMES> holder(sk_GENERAL_NAME_new_null());
    if (absl::Status s = PushName(holder.get(), GEN_URI, domain); !s.ok()) return s;
    ossl::UniquePtr<GENERAL_SUBTREE> subtree(GENERAL_SUBTREE_new());
    if (subtree == nullptr) return InternalOpenSslError("building nameConstraints");
    // The subtree takes the name; its placeholder is freed here.
    ossl::UniquePtr<GENERAL_NAME> placeholder(
        std::exchange(subtree->base, sk_GENERAL_NAME_pop(holder.get())));
    if (sk_GENERAL_SUBTREE_push(nc->permittedSubtrees, subtree.get()) == 0) {
      return InternalOpenSslError("building nameConstraints");
    }
    subtree.release();  // Owned by the name constraints now.
  }
  return AddExtension(cert, NID_name_constraints, /*critical=*/true, nc.get());
}

std::string KeyUsageConf(uint32_t bits) {
  std::string out = "critical";
  if (bits & kDigitalSignature) out += ",digitalSignature";
  if (bits & kKeyEncipherment) out += ",keyEncipherment";
  if (bits & kKeyCertSign) out += ",keyCertSign";
  if (bits & kCrlSign) out += ",cRLSign";
  return out;
}

absl::StatusOr<ossl::UniquePtr<X509_NAME>> BuildName(const std::vector<NameEntry>& entries) {
  ossl::UniquePtr<X509_NAME> name(X509_NAME_new());
  if (name == nullptr) return InternalOpenSslError("building a name");
  for (const NameEntry& e : entries) {
    if (X509_NAME_add_entry_by_txt(name.get(), e.field.c_str(), MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(e.value.data()),
                                   static_cast<int>(e.value.size()), -1, 0) != 1) {
      return OpenSslError(absl::StatusCode::kInvalidArgument,
                          absl::StrCat("invalid name entry ", e.field));
    }
  }
  return name;
}

// Fills in an unsigned certificate from `tmpl` for the subject key `spki`
// or, when null, `subject_key`, issued by `issuer` (self-signed when null).
absl::StatusOr<ossl::UniquePtr<X509>> BuildCertificate(const CertificateTemplate& tmpl,
                                                       const X509_PUBKEY* spki,
                                                       EVP_PKEY* subject_key, X509* issuer,
                                                       const Signer& issuer_signer) {
  EVP_PKEY* expected_signer = issuer != nullptr ? X509_get0_pubkey(issuer) : subject_key;
  if (expected_signer == nullptr || EVP_PKEY_eq(expected_signer, issuer_signer.public_key()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        issuer != nullptr ? "the signer's key is not the issuer certificate's key"
                          : "a self-signed certificate must be signed by its own key");
  }
  if (tmpl.not_after <= tmpl.not_before) {
    return absl::InvalidArgumentError("certificate notAfter must be later than notBefore");
  }
  ossl::UniquePtr<X509> cert(X509_new());
  if (cert == nullptr || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return InternalOpenSslError("allocating a certificate");
  }
  absl::StatusOr<ossl::UniquePtr<ASN1_INTEGER>> serial = RandomSerial();
  if (!serial.ok()) return serial.status();
  absl::StatusOr<ossl::UniquePtr<X509_NAME>> subject = BuildName(tmpl.subject);
  if (!subject.ok()) return subject.status();
  ossl::UniquePtr<ASN1_TIME> not_before(ASN1_TIME_set(nullptr, Clock::to_time_t(tmpl.not_before)));
  ossl::UniquePtr<ASN1_TIME> not_after(ASN1_TIME_set(nullptr, Clock::to_time_t(tmpl.not_after)));
  X509_NAME* issuer_name = issuer != nullptr ? X509_get_subject_name(issuer) : subject->get();
  if (not_before == nullptr || not_after == nullptr ||
      X509_set_serialNumber(cert.get(), serial->get()) != 1 ||
      X509_set_subject_name(cert.get(), subject->get()) != 1 ||
      X509_set_issuer_name(cert.get(), issuer_name) != 1 ||
      X509_set1_notBefore(cert.get(), not_before.get()) != 1 ||
      X509_set1_notAfter(cert.get(), not_after.get()) != 1) {
    return InternalOpenSslError("filling in a certificate");
  }
  if (spki != nullptr) {
    if (absl::Status s = CopyPublicKey(spki, cert.get()); !s.ok()) return s;
  } else if (X509_set_pubkey(cert.get(), subject_key) != 1) {
    return InternalOpenSslError("filling in a certificate");
  }

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  std::string bc =
      tmpl.is_ca ? (tmpl.path_len >= 0 ? absl::StrCat("critical,CA:TRUE,pathlen:", tmpl.path_len)
                                       : std::string("critical,CA:TRUE"))
                 : std::string("critical,CA:FALSE");
  if (absl::Status s = AddConfExtension(cert.get(), &ctx, NID_basic_constraints, bc.c_str());
      !s.ok()) {
    return s;
  }
  if (tmpl.key_usage != 0) {
    std::string ku = KeyUsageConf(tmpl.key_usage);
    if (absl::Status s = AddConfExtension(cert.get(), &ctx, NID_key_usage, ku.c_str()); !s.ok()) {
      return s;
    }
  }
  if (!tmpl.extended_key_usage.empty()) {
    std::string eku;
    for (ExtendedKeyUsage u : tmpl.extended_key_usage) {
      if (!eku.empty()) eku += ",";
      eku += u == ExtendedKeyUsage::kServerAuth ? "serverAuth" : "clientAuth";
    }
    if (absl::Status s = AddConfExtension(cert.get(), &ctx, NID_ext_key_usage, eku.c_str());
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = AddConfExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash");
      !s.ok()) {
    return s;
  }
  if (issuer != nullptr) {
    if (absl::Status s =
            AddConfExtension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = AddSubjectAltNames(cert.get(), tmpl); !s.ok()) return s;
  if (absl::Status s = AddNameConstraints(cert.get(), tmpl); !s.ok()) return s;
  if (!tmpl.crl_distribution_point.empty()) {
    std::string dp = absl::StrCat("URI:", tmpl.crl_distribution_point);
    if (absl::Status s =
            AddConfExtension(cert.get(), &ctx, NID_crl_distribution_points, dp.c_str());
        !s.ok()) {
      return s;
    }
  }
  return cert;
}

}  // namespace

absl::StatusOr<ossl::UniquePtr<X509>> IssueCertificate(const CertificateTemplate& tmpl,
                                                       EVP_PKEY* subject_key, X509* issuer,
                                                       const Signer& issuer_signer) {
  absl::StatusOr<ossl::UniquePtr<X509>> cert =
      BuildCertificate(tmpl, nullptr, subject_key, issuer, issuer_signer);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> der = SignCertificateDer(cert->get(), issuer_signer);
  if (!der.ok()) return der.status();
  return ParseCertificateDer(*der);
}

absl::StatusOr<IssuedCertificate> IssueCertificateForCsr(const CertificateTemplate& tmpl,
                                                         X509_REQ* csr, X509* issuer,
                                                         const Signer& issuer_signer) {
  if (issuer == nullptr) return absl::InvalidArgumentError("a CSR's certificate needs an issuer");
  absl::StatusOr<ossl::UniquePtr<X509>> cert = BuildCertificate(
      tmpl, X509_REQ_get_X509_PUBKEY(csr), X509_REQ_get0_pubkey(csr), issuer, issuer_signer);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> der = SignCertificateDer(cert->get(), issuer_signer);
  if (!der.ok()) return der.status();
  IssuedCertificate out;
  out.serial_hex = SerialHex(cert->get());
  out.subject = SubjectString(cert->get());
  out.not_before = NotBefore(cert->get());
  out.not_after = NotAfter(cert->get());
  out.pem = EncodePem(*der, "CERTIFICATE");
  out.der = *std::move(der);
  return out;
}

absl::StatusOr<ossl::UniquePtr<X509>> IssueCertificate(const CertificateTemplate& tmpl,
                                                       EVP_PKEY* subject_key, X509* issuer,
                                                       EVP_PKEY* issuer_key) {
  absl::StatusOr<std::unique_ptr<Signer>> signer = NewInMemorySigner(ossl::UpRef(issuer_key));
  if (!signer.ok()) return signer.status();
  return IssueCertificate(tmpl, subject_key, issuer, **signer);
}

absl::StatusOr<ossl::UniquePtr<X509>> ParseCertificateDer(absl::string_view der) {
  return ParseWholeDer<X509>(der, d2i_X509,
                             {.not_valid = "certificate is not valid DER",
                              .trailing = "certificate DER has trailing bytes"});
}

absl::StatusOr<ossl::UniquePtr<X509>> ParseCertificatePem(absl::string_view pem) {
  absl::StatusOr<std::string> der = DecodeSinglePem(pem, "CERTIFICATE");
  if (!der.ok()) return der.status();
  return ParseCertificateDer(*der);
}

absl::StatusOr<std::vector<ossl::UniquePtr<X509>>> ParseCertificateChainPem(absl::string_view pem) {
  return ParsePemSequenceWith<X509>(pem, "CERTIFICATE", ParseCertificateDer);
}

std::string CertificateDer(X509* cert) { return EncodeDer(cert, i2d_X509); }

std::string CertificatePem(X509* cert) { return EncodePem(CertificateDer(cert), "CERTIFICATE"); }

std::string SerialHex(const X509* cert) {
  ossl::UniquePtr<BIGNUM> bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (bn == nullptr) return "";
  ossl::OpenSslBuffer<char> hex(BN_bn2hex(bn.get()));
  std::string out(hex.get());
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t nz = out.find_first_not_of('0');
  return nz == std::string::npos ? "0" : out.substr(nz);
}

int SerialBits(const X509* cert) {
  ossl::UniquePtr<BIGNUM> bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  return bn == nullptr ? 0 : BN_num_bits(bn.get());
}

TimePoint Asn1TimeToTimePoint(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return TimePoint{};
  return FromUnixSeconds(timegm(&tm));
}

TimePoint NotBefore(const X509* cert) { return Asn1TimeToTimePoint(X509_get0_notBefore(cert)); }
TimePoint NotAfter(const X509* cert) { return Asn1TimeToTimePoint(X509_get0_notAfter(cert)); }

namespace {
std::string NameString(const X509_NAME* name) {
  ossl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);  // NOLINT(runtime/int)
  return std::string(data, static_cast<size_t>(len));
}
}  // namespace

std::string SubjectString(const X509* cert) { return NameString(X509_get_subject_name(cert)); }
std::string IssuerString(const X509* cert) { return NameString(X509_get_issuer_name(cert)); }
// Declared in pki/crl.h; here beside the name printer it shares.
std::string CrlIssuerString(const X509_CRL* crl) { return NameString(X509_CRL_get_issuer(crl)); }

namespace {
// The names of one GeneralName type in the SAN, as text: URI and DNS names
// as written, IP addresses in their usual notation.
std::vector<std::string> SansOfType(X509* cert, int type) {
  std::vector<std::string> out;
  ossl::UniquePtr<GENERAL_NAMES> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != type) continue;
    if (type != GEN_IPADD) {
      const ASN1_IA5STRING* s = gn->d.ia5;
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       static_cast<size_t>(ASN1_STRING_length(s)));
      continue;
    }
    const ASN1_OCTET_STRING* ip = gn->d.iPAddress;
    int len = ASN1_STRING_length(ip);
    char buf[INET6_ADDRSTRLEN] = {};
    if ((len == 4 || len == 16) &&
        ::inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(ip), buf, sizeof(buf))) {
      out.emplace_back(buf);
    }
  }
  return out;
}
}  // namespace

std::vector<std::string> UriSans(X509* cert) { return SansOfType(cert, GEN_URI); }

std::vector<std::string> DnsSans(X509* cert) { return SansOfType(cert, GEN_DNS); }

std::vector<std::string> IpSans(X509* cert) { return SansOfType(cert, GEN_IPADD); }

bool IsCa(X509* cert) {
  return X509_check_ca(cert) == 1 && (X509_get_extension_flags(cert) & EXFLAG_CA);
}

long PathLen(X509* cert) { return X509_get_pathlen(cert); }  // NOLINT(runtime/int)

bool PermitsKeyUsage(X509* cert, uint32_t usages) {
  // OpenSSL numbers the bits the other way round (KU_DIGITAL_SIGNATURE is
  // 0x80) and answers UINT32_MAX when the extension is absent.
  uint32_t ku = X509_get_key_usage(cert);
  if (ku == UINT32_MAX) return true;
  uint32_t ossl_bits = 0;
  if (usages & kDigitalSignature) ossl_bits |= KU_DIGITAL_SIGNATURE;
  if (usages & kKeyEncipherment) ossl_bits |= KU_KEY_ENCIPHERMENT;
  if (usages & kKeyCertSign) ossl_bits |= KU_KEY_CERT_SIGN;
  if (usages & kCrlSign) ossl_bits |= KU_CRL_SIGN;
  return (ku & ossl_bits) == ossl_bits;
}

bool IsSelfSigned(X509* cert) {
  bool self_signed =
      X509_check_issued(cert, cert) == X509_V_OK && X509_verify(cert, X509_get0_pubkey(cert)) == 1;
  ERR_clear_error();
  return self_signed;
}

bool HasExtendedKeyUsage(X509* cert) {
  return (X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) != 0;
}

EVP_PKEY* PublicKeyOf(X509* cert) { return X509_get0_pubkey(cert); }

std::string CertificateSha256Hex(X509* cert) { return Sha256Hex(CertificateDer(cert)); }

}  // namespace meshtrust::pki
