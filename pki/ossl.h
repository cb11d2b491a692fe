// Owning pointers for OpenSSL objects.
//
// ossl::UniquePtr<T> frees T with its matching OpenSSL *_free function. This is
// the only header in the tree that names a *_free function: every other file
// owns OpenSSL objects through UniquePtr and, where ownership passes to
// OpenSSL, comments the .release() with who takes it.
#ifndef MESHTRUST_PKI_OSSL_H_
#define MESHTRUST_PKI_OSSL_H_

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace meshtrust::ossl {

template <typename T>
struct Deleter;

#define MESHTRUST_OSSL_DELETER(type, free_fn)      \
  template <>                                      \
  struct Deleter<type> {                           \
    void operator()(type* p) const { free_fn(p); } \
  }

MESHTRUST_OSSL_DELETER(EVP_PKEY, EVP_PKEY_free);
MESHTRUST_OSSL_DELETER(EVP_PKEY_CTX, EVP_PKEY_CTX_free);
MESHTRUST_OSSL_DELETER(EVP_MD_CTX, EVP_MD_CTX_free);
MESHTRUST_OSSL_DELETER(EVP_MD, EVP_MD_free);
MESHTRUST_OSSL_DELETER(X509_ALGOR, X509_ALGOR_free);
MESHTRUST_OSSL_DELETER(X509, X509_free);
MESHTRUST_OSSL_DELETER(X509_REQ, X509_REQ_free);
MESHTRUST_OSSL_DELETER(X509_CRL, X509_CRL_free);
MESHTRUST_OSSL_DELETER(X509_REVOKED, X509_REVOKED_free);
MESHTRUST_OSSL_DELETER(X509_NAME, X509_NAME_free);
MESHTRUST_OSSL_DELETER(X509_EXTENSION, X509_EXTENSION_free);
MESHTRUST_OSSL_DELETER(X509_STORE, X509_STORE_free);
MESHTRUST_OSSL_DELETER(X509_STORE_CTX, X509_STORE_CTX_free);
MESHTRUST_OSSL_DELETER(BIO, BIO_free_all);
MESHTRUST_OSSL_DELETER(BIGNUM, BN_clear_free);
// ASN1_INTEGER, ASN1_TIME, ASN1_OCTET_STRING, ASN1_IA5STRING ... are all
// ASN1_STRING to C++, so one deleter serves them all.
MESHTRUST_OSSL_DELETER(ASN1_STRING, ASN1_STRING_free);
MESHTRUST_OSSL_DELETER(GENERAL_NAMES, GENERAL_NAMES_free);
MESHTRUST_OSSL_DELETER(GENERAL_NAME, GENERAL_NAME_free);
MESHTRUST_OSSL_DELETER(GENERAL_SUBTREE, GENERAL_SUBTREE_free);
MESHTRUST_OSSL_DELETER(ASN1_OBJECT, ASN1_OBJECT_free);
MESHTRUST_OSSL_DELETER(BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free);
MESHTRUST_OSSL_DELETER(AUTHORITY_KEYID, AUTHORITY_KEYID_free);
MESHTRUST_OSSL_DELETER(EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free);
MESHTRUST_OSSL_DELETER(PKCS8_PRIV_KEY_INFO, PKCS8_PRIV_KEY_INFO_free);
MESHTRUST_OSSL_DELETER(SSL_CTX, SSL_CTX_free);
MESHTRUST_OSSL_DELETER(SSL, SSL_free);
MESHTRUST_OSSL_DELETER(NAME_CONSTRAINTS, NAME_CONSTRAINTS_free);
MESHTRUST_OSSL_DELETER(EC_GROUP, EC_GROUP_free);
MESHTRUST_OSSL_DELETER(EC_POINT, EC_POINT_free);
MESHTRUST_OSSL_DELETER(ECDSA_SIG, ECDSA_SIG_free);
MESHTRUST_OSSL_DELETER(OSSL_PARAM_BLD, OSSL_PARAM_BLD_free);
MESHTRUST_OSSL_DELETER(OSSL_PARAM, OSSL_PARAM_free);

#undef MESHTRUST_OSSL_DELETER

// Frees a STACK_OF(X509) together with the certificates it holds.
struct X509StackDeleter {
  void operator()(STACK_OF(X509) * p) const { sk_X509_pop_free(p, X509_free); }
};
// Frees a STACK_OF(X509_EXTENSION) together with its extensions.
struct ExtensionStackDeleter {
  void operator()(STACK_OF(X509_EXTENSION) * p) const {
    sk_X509_EXTENSION_pop_free(p, X509_EXTENSION_free);
  }
};
// OPENSSL_free for buffers OpenSSL allocated for us (hex strings, DER output).
struct OpenSslBufferDeleter {
  void operator()(void* p) const { OPENSSL_free(p); }
};

template <typename T>
using UniquePtr = std::unique_ptr<T, Deleter<T>>;
using X509Stack = std::unique_ptr<STACK_OF(X509), X509StackDeleter>;
using ExtensionStack = std::unique_ptr<STACK_OF(X509_EXTENSION), ExtensionStackDeleter>;
template <typename T>
using OpenSslBuffer = std::unique_ptr<T, OpenSslBufferDeleter>;

// Takes one more reference on `p` and returns an owner of it (the get1 idiom).
inline UniquePtr<EVP_PKEY> UpRef(EVP_PKEY* p) {
  EVP_PKEY_up_ref(p);
  return UniquePtr<EVP_PKEY>(p);
}
inline UniquePtr<X509> UpRef(X509* p) {
  X509_up_ref(p);
  return UniquePtr<X509>(p);
}

}  // namespace meshtrust::ossl

#endif  // MESHTRUST_PKI_OSSL_H_
