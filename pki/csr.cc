#include "pki/csr.h"

#include "absl/strings/str_cat.h"
#include "pki/der.h"
#include "pki/error.h"
#include "pki/pem.h"

namespace meshtrust::pki {
namespace {

std::string ObjectName(const ASN1_OBJECT* obj) {
  int nid = OBJ_obj2nid(obj);
  if (nid != NID_undef) return OBJ_nid2sn(nid);
  char buf[128];
  OBJ_obj2txt(buf, sizeof(buf), obj, /*no_name=*/1);
  return buf;
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

EVP_PKEY* PublicKeyOf(X509_REQ* csr) { return X509_REQ_get0_pubkey(csr); }

}  // namespace meshtrust::pki
