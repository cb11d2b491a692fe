#include "net/tls.h"

#include "pki/certificate.h"
#include "pki/error.h"

namespace meshtrust::net {

absl::StatusOr<ossl::UniquePtr<SSL_CTX>> NewTlsServerContext(const std::string& cert_chain_pem,
                                                             EVP_PKEY* key) {
  absl::StatusOr<std::vector<ossl::UniquePtr<X509>>> chain =
      pki::ParseCertificateChainPem(cert_chain_pem);
  if (!chain.ok()) return chain.status();
  ossl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()));
  if (ctx == nullptr || SSL_CTX_use_certificate(ctx.get(), (*chain)[0].get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.get(), key) != 1 || SSL_CTX_check_private_key(ctx.get()) != 1) {
    return pki::InternalOpenSslError("configuring a TLS server context");
  }
  for (size_t i = 1; i < chain->size(); ++i) {
    // The context takes ownership of one reference.
    if (SSL_CTX_add_extra_chain_cert(ctx.get(), ossl::UpRef((*chain)[i].get()).release()) != 1) {
      return pki::InternalOpenSslError("adding a chain certificate");
    }
  }
  return ctx;
}

}  // namespace meshtrust::net
