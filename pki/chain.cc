#include "pki/chain.h"

#include "absl/strings/str_cat.h"
#include "pki/error.h"
#include "pki/key.h"

namespace meshtrust::pki {

absl::Status VerifyChain(X509* leaf, const std::vector<X509*>& intermediates,
                         const std::vector<X509*>& roots, const ChainCheck& check) {
  if (roots.empty()) return absl::FailedPreconditionError("no trusted roots to verify against");
  ossl::UniquePtr<X509_STORE> store(X509_STORE_new());
  if (store == nullptr) return InternalOpenSslError("allocating a certificate store");
  for (X509* root : roots) {
    if (X509_STORE_add_cert(store.get(), root) != 1) {
      return InternalOpenSslError("adding a trusted root");
    }
  }
  ossl::X509Stack untrusted(sk_X509_new_null());
  for (X509* cert : intermediates) {
    // The stack owns one reference of each certificate.
    if (sk_X509_push(untrusted.get(), ossl::UpRef(cert).release()) == 0) {
      return InternalOpenSslError("building the untrusted chain");
    }
  }
  ossl::UniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  if (ctx == nullptr || X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()) != 1) {
    return InternalOpenSslError("initialising chain verification");
  }
  unsigned long flags = X509_V_FLAG_X509_STRICT;  // NOLINT(runtime/int)
  if (check.at.has_value()) {
    X509_STORE_CTX_set_time(ctx.get(), 0, Clock::to_time_t(*check.at));
  }
  X509_STORE_CTX_set_flags(ctx.get(), flags);
  if (check.require_client_auth) X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    ERR_clear_error();
    return absl::FailedPreconditionError(
        absl::StrCat("certificate chain does not verify: ", X509_verify_cert_error_string(err),
                     " (at depth ", depth, ")"));
  }
  return absl::OkStatus();
}

absl::Status VerifyEndorsement(X509* cross, X509* root, X509* endorser, TimePoint at) {
  if (X509_NAME_cmp(X509_get_subject_name(cross), X509_get_subject_name(root)) != 0) {
    return absl::FailedPreconditionError("the endorsement names another subject than the root");
  }
  if (!SamePublicKey(PublicKeyOf(cross), PublicKeyOf(root))) {
    return absl::FailedPreconditionError("the endorsement is for another key than the root's");
  }
  if (!IsCa(cross)) return absl::FailedPreconditionError("the endorsement is not a CA certificate");
  if (X509_NAME_cmp(X509_get_issuer_name(cross), X509_get_subject_name(endorser)) != 0) {
    return absl::FailedPreconditionError("the endorsement was not issued by the endorsing root");
  }
  ChainCheck check;
  check.at = at;
  return VerifyChain(cross, {}, {endorser}, check);
}

}  // namespace meshtrust::pki
