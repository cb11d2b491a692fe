#include "pki/csr.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "pki/der.h"
#include "pki/error.h"
#include "pki/pem.h"

namespace meshtrust::pki {
namespace {

std::string ObjectName(const ASN1_OBJECT* obj) {
  int nid = OBJ_obj2nid(obj);
  if (nid != NID_undef) return OBJ_nid2sn(nid);
  // An OID with no name is written in dotted form, however long; one that
  // has no dotted form either (empty or malformed) is named by its bytes, so
  // a message never lists an attribute as "".
  int len = OBJ_obj2txt(nullptr, 0, obj, /*no_name=*/1);
  if (len > 0) {
    std::string dotted(static_cast<size_t>(len) + 1, '\0');
    OBJ_obj2txt(dotted.data(), len + 1, obj, /*no_name=*/1);
    dotted.resize(static_cast<size_t>(len));
    if (!dotted.empty()) return dotted;
  }
  ERR_clear_error();
  const unsigned char* data = OBJ_get0_data(obj);
  size_t size = OBJ_length(obj);
  if (data == nullptr || size == 0) return "empty OID";
  return absl::StrCat("OID bytes ", absl::BytesToHexString(absl::string_view(
                                        reinterpret_cast<const char*>(data), size)));
}

// Walks every TLV of `der` (already parsed by OpenSSL, so well formed) and
// refuses the BER forms DER forbids: indefinite lengths and length octets
// longer than needed. Primitive values are not descended into.
bool HasOnlyDerLengths(const uint8_t* p, size_t n, int depth) {
  if (depth > 64) return false;
  while (n > 0) {
    size_t i = 1;
    if ((p[0] & 0x1f) == 0x1f) {
      while (i < n && (p[i] & 0x80) != 0) ++i;
      ++i;
    }
    if (i >= n) return false;
    uint8_t first = p[i++];
    size_t len = first;
    if (first == 0x80) return false;  // Indefinite length.
    if ((first & 0x80) != 0) {
      size_t octets = first & 0x7f;
      if (octets > sizeof(uint32_t) || i + octets > n || p[i] == 0) return false;
      len = 0;
      for (size_t k = 0; k < octets; ++k) len = (len << 8) | p[i + k];
      if (len < 0x80) return false;  // Short form was required.
      i += octets;
    }
    if (len > n - i) return false;
    if ((p[0] & 0x20) != 0 && !HasOnlyDerLengths(p + i, len, depth + 1)) return false;
    p += i + len;
    n -= i + len;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> BuildCsrDer(EVP_PKEY* key, absl::string_view common_name) {
  ossl::UniquePtr<X509_REQ> req(X509_REQ_new());
  if (req == nullptr || X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1) {
    return InternalOpenSslError("allocating a CSR");
  }
  X509_NAME* name = X509_REQ_get_subject_name(req.get());  // get0: owned by req.
  if (!common_name.empty() &&
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "invalid CSR common name");
  }
  const EVP_MD* md =
      (EVP_PKEY_is_a(key, "EC") && EVP_PKEY_get_bits(key) >= 384) ? EVP_sha384() : EVP_sha256();
  if (X509_REQ_set_pubkey(req.get(), key) != 1 || X509_REQ_sign(req.get(), key, md) <= 0) {
    return InternalOpenSslError("signing a CSR");
  }
  int len = i2d_X509_REQ(req.get(), nullptr);
  if (len <= 0) return InternalOpenSslError("encoding a CSR");
  std::string der(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_X509_REQ(req.get(), &p);
  return der;
}

absl::StatusOr<ossl::UniquePtr<X509_REQ>> ParseCsr(absl::string_view bytes) {
  if (bytes.empty()) return absl::InvalidArgumentError("CSR is empty");
  if (bytes.size() > kMaxCsrBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("CSR is ", bytes.size(), " bytes; the limit is ", kMaxCsrBytes));
  }
  std::string der_storage;
  absl::string_view der = bytes;
  if (bytes.find("-----BEGIN") != absl::string_view::npos) {
    absl::StatusOr<std::string> decoded = DecodeSinglePem(bytes, "CERTIFICATE REQUEST");
    if (!decoded.ok()) return decoded.status();
    der_storage = *std::move(decoded);
    der = der_storage;
  }
  absl::StatusOr<ossl::UniquePtr<X509_REQ>> req = ParseWholeDer<X509_REQ>(
      der, d2i_X509_REQ,
      {.not_valid = "CSR is not valid PKCS#10 DER",
       .trailing = "CSR has $0 trailing bytes after the PKCS#10 structure"});
  if (!req.ok()) return req.status();
  // OpenSSL reads BER; the CA accepts DER only, so one request has one
  // encoding. The walk covers the signed part too, which i2d would re-emit
  // from OpenSSL's cached copy of the original bytes.
  if (!HasOnlyDerLengths(reinterpret_cast<const uint8_t*>(der.data()), der.size(), 0)) {
    return absl::InvalidArgumentError(
        "CSR is not DER (BER encoding: indefinite length or non-minimal length octets)");
  }
  int len = i2d_X509_REQ(req->get(), nullptr);
  std::string reencoded(len > 0 ? static_cast<size_t>(len) : 0, '\0');
  auto* out = reinterpret_cast<unsigned char*>(reencoded.data());
  if (len <= 0 || i2d_X509_REQ(req->get(), &out) != len || reencoded != der) {
    ERR_clear_error();
    return absl::InvalidArgumentError("CSR is not DER (it does not re-encode to the same bytes)");
  }
  if (X509_REQ_get0_pubkey(req->get()) == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "CSR public key cannot be decoded");
  }
  return req;
}

absl::Status VerifyCsrSignature(X509_REQ* csr) {
  EVP_PKEY* key = X509_REQ_get0_pubkey(csr);
  if (key == nullptr || X509_REQ_verify(csr, key) != 1) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "CSR signature does not verify with the CSR's own public key");
  }
  return absl::OkStatus();
}

std::vector<std::string> RequestedExtensions(X509_REQ* csr) {
  std::vector<std::string> out;
  ossl::ExtensionStack exts(X509_REQ_get_extensions(csr));
  if (exts == nullptr) {
    // A malformed extension request attribute still counts as a request.
    ERR_clear_error();
    if (X509_REQ_get_attr_by_NID(csr, NID_ext_req, -1) >= 0) out.push_back("extensionRequest");
    return out;
  }
  for (int i = 0; i < sk_X509_EXTENSION_num(exts.get()); ++i) {
    out.push_back(ObjectName(X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts.get(), i))));
  }
  if (out.empty() && X509_REQ_get_attr_by_NID(csr, NID_ext_req, -1) >= 0) {
    out.push_back("extensionRequest");
  }
  return out;
}

std::vector<std::string> OtherAttributes(X509_REQ* csr) {
  std::vector<std::string> out;
  for (int i = 0; i < X509_REQ_get_attr_count(csr); ++i) {
    const ASN1_OBJECT* obj = X509_ATTRIBUTE_get0_object(X509_REQ_get_attr(csr, i));
    int nid = OBJ_obj2nid(obj);
    if (nid == NID_ext_req || nid == NID_ms_ext_req) continue;
    out.push_back(ObjectName(obj));
  }
  return out;
}

long CsrVersion(X509_REQ* csr) { return X509_REQ_get_version(csr); }  // NOLINT(runtime/int)

std::string CsrSignatureAlgorithm(X509_REQ* csr) {
  const X509_ALGOR* alg = nullptr;
  X509_REQ_get0_signature(csr, nullptr, &alg);
  const ASN1_OBJECT* obj = nullptr;
  X509_ALGOR_get0(&obj, nullptr, nullptr, alg);
  int nid = OBJ_obj2nid(obj);
  if (nid != NID_undef) return OBJ_nid2ln(nid);
  return ObjectName(obj);
}

std::string CsrSignatureDigest(X509_REQ* csr) {
  const X509_ALGOR* alg = nullptr;
  X509_REQ_get0_signature(csr, nullptr, &alg);
  const ASN1_OBJECT* obj = nullptr;
  X509_ALGOR_get0(&obj, nullptr, nullptr, alg);
  int digest = NID_undef;
  if (!OBJ_find_sigid_algs(OBJ_obj2nid(obj), &digest, nullptr) || digest == NID_undef) return "";
  return OBJ_nid2sn(digest);
}

bool HasCompressedEcPoint(X509_REQ* csr) {
  X509_PUBKEY* spki = X509_REQ_get_X509_PUBKEY(csr);  // get0: owned by csr.
  ASN1_OBJECT* alg = nullptr;
  const unsigned char* point = nullptr;
  int len = 0;
  if (spki == nullptr || X509_PUBKEY_get0_param(&alg, &point, &len, nullptr, spki) != 1) {
    return false;
  }
  // SEC 1 2.3.3: 0x04 is uncompressed; 0x02/0x03 compressed; 0x06/0x07 hybrid.
  return OBJ_obj2nid(alg) == NID_X9_62_id_ecPublicKey && len > 0 && point[0] != 0x04;
}

std::vector<SubjectEntry> SubjectEntries(X509_REQ* csr) {
  std::vector<SubjectEntry> out;
  X509_NAME* name = X509_REQ_get_subject_name(csr);  // get0: owned by csr.
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    const ASN1_STRING* value = X509_NAME_ENTRY_get_data(entry);
    out.push_back({ObjectName(X509_NAME_ENTRY_get_object(entry)),
                   std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                               static_cast<size_t>(ASN1_STRING_length(value))),
                   ASN1_STRING_type(value) == V_ASN1_PRINTABLESTRING});
  }
  return out;
}

size_t SubjectDerBytes(X509_REQ* csr) {
  int len = i2d_X509_NAME(X509_REQ_get_subject_name(csr), nullptr);
  return len > 0 ? static_cast<size_t>(len) : 0;
}

EVP_PKEY* PublicKeyOf(X509_REQ* csr) { return X509_REQ_get0_pubkey(csr); }

}  // namespace meshtrust::pki
