#include "pki/signer.h"

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "pki/der.h"
#include "pki/error.h"
#include "pki/key.h"

namespace meshtrust::pki {
namespace {

// The digest `alg` hashes with, fetched once per signer: no algorithm lookup
// on the signing path. Null for Ed25519, which takes the message whole.
absl::StatusOr<ossl::UniquePtr<EVP_MD>> FetchDigest(SignatureAlgorithm alg) {
  const char* name = nullptr;
  switch (alg) {
    case SignatureAlgorithm::kEcdsaSha256:
    case SignatureAlgorithm::kRsaPkcs1Sha256:
      name = "SHA2-256";
      break;
    case SignatureAlgorithm::kEcdsaSha384:
      name = "SHA2-384";
      break;
    case SignatureAlgorithm::kEd25519:
      return ossl::UniquePtr<EVP_MD>();
  }
  ossl::UniquePtr<EVP_MD> md(EVP_MD_fetch(nullptr, name, nullptr));
  if (md == nullptr) return InternalOpenSslError(absl::StrCat("fetching ", name));
  return md;
}

absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> PublicOnlyCopy(EVP_PKEY* key) {
  absl::StatusOr<std::string> spki = PublicKeySpkiDer(key);
  if (!spki.ok()) return spki.status();
  return PublicKeyFromSpkiDer(*spki);
}

class InMemorySigner final : public Signer {
 public:
  InMemorySigner(ossl::UniquePtr<EVP_PKEY> key, ossl::UniquePtr<EVP_PKEY> public_key,
                 SignatureAlgorithm alg, ossl::UniquePtr<EVP_MD> md)
      : key_(std::move(key)), public_key_(std::move(public_key)), alg_(alg), md_(std::move(md)) {}

  SignatureAlgorithm algorithm() const override { return alg_; }
  EVP_PKEY* public_key() const override { return public_key_.get(); }

  absl::StatusOr<std::string> Sign(absl::string_view message) const override {
    ossl::UniquePtr<EVP_MD_CTX> ctx = StartSignature();
    if (ctx == nullptr) return InternalOpenSslError("starting a signature");
    const auto* in = reinterpret_cast<const unsigned char*>(message.data());
    size_t len = 0;
    if (EVP_DigestSign(ctx.get(), nullptr, &len, in, message.size()) != 1) {
      return InternalOpenSslError("sizing a signature");
    }
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                       message.size()) != 1) {
      return InternalOpenSslError("signing");
    }
    sig.resize(len);
    return sig;
  }

 private:
  ossl::UniquePtr<EVP_MD_CTX> NewSignature() const {
    ossl::UniquePtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
    if (ctx == nullptr ||
        EVP_DigestSignInit_ex(ctx.get(), nullptr,
                              md_ == nullptr ? nullptr : EVP_MD_get0_name(md_.get()), nullptr,
                              nullptr, key_.get(), nullptr) != 1) {
      return nullptr;
    }
    return ctx;
  }

  // A context ready to sign: a copy of one set up once. Setting one up
  // fetches the algorithms and prepares the key, which costs several times
  // the signature itself.
  ossl::UniquePtr<EVP_MD_CTX> StartSignature() const {
    absl::MutexLock lock(&mu_);
    if (ready_ == nullptr) ready_ = NewSignature();
    if (ready_ != nullptr) {
      ossl::UniquePtr<EVP_MD_CTX> copy(EVP_MD_CTX_new());
      if (copy != nullptr && EVP_MD_CTX_copy_ex(copy.get(), ready_.get()) == 1) return copy;
      ERR_clear_error();
    }
    return NewSignature();
  }

  ossl::UniquePtr<EVP_PKEY> key_;
  ossl::UniquePtr<EVP_PKEY> public_key_;
  SignatureAlgorithm alg_;
  ossl::UniquePtr<EVP_MD> md_;
  mutable absl::Mutex mu_;
  mutable ossl::UniquePtr<EVP_MD_CTX> ready_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::string_view SignatureAlgorithmName(SignatureAlgorithm alg) {
  switch (alg) {
    case SignatureAlgorithm::kEcdsaSha256:
      return "ecdsa-with-SHA256";
    case SignatureAlgorithm::kEcdsaSha384:
      return "ecdsa-with-SHA384";
    case SignatureAlgorithm::kRsaPkcs1Sha256:
      return "sha256WithRSAEncryption";
    case SignatureAlgorithm::kEd25519:
      return "Ed25519";
  }
  return "unknown";
}

absl::StatusOr<SignatureAlgorithm> SignatureAlgorithmFor(EVP_PKEY* key) {
  if (key == nullptr) return absl::InvalidArgumentError("no key");
  if (EVP_PKEY_is_a(key, "ED25519")) return SignatureAlgorithm::kEd25519;
  if (EVP_PKEY_is_a(key, "EC")) {
    return EVP_PKEY_get_bits(key) >= 384 ? SignatureAlgorithm::kEcdsaSha384
                                         : SignatureAlgorithm::kEcdsaSha256;
  }
  if (EVP_PKEY_is_a(key, "RSA")) return SignatureAlgorithm::kRsaPkcs1Sha256;
  return absl::InvalidArgumentError(
      absl::StrCat("cannot sign with ", DescribeKey(key), "; use ECDSA, RSA or Ed25519"));
}

absl::StatusOr<std::unique_ptr<Signer>> NewInMemorySigner(ossl::UniquePtr<EVP_PKEY> key) {
  absl::StatusOr<SignatureAlgorithm> alg = SignatureAlgorithmFor(key.get());
  if (!alg.ok()) return alg.status();
  absl::StatusOr<ossl::UniquePtr<EVP_MD>> md = FetchDigest(*alg);
  if (!md.ok()) return md.status();
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> pub = PublicOnlyCopy(key.get());
  if (!pub.ok()) return pub.status();
  return std::make_unique<InMemorySigner>(std::move(key), *std::move(pub), *alg, *std::move(md));
}

bool VerifySignature(EVP_PKEY* public_key, SignatureAlgorithm alg, absl::string_view message,
                     absl::string_view signature) {
  absl::StatusOr<ossl::UniquePtr<EVP_MD>> md = FetchDigest(alg);
  if (!md.ok()) return false;
  ossl::UniquePtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  bool ok =
      ctx != nullptr &&
      EVP_DigestVerifyInit_ex(ctx.get(), nullptr,
                              *md == nullptr ? nullptr : EVP_MD_get0_name(md->get()), nullptr,
                              nullptr, public_key, nullptr) == 1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) == 1;
  ERR_clear_error();
  return ok;
}

absl::StatusOr<std::string> SignatureAlgorithmIdentifierDer(SignatureAlgorithm alg) {
  int nid = NID_undef;
  int param_type = V_ASN1_UNDEF;  // RFC 5758, RFC 8410: no parameters.
  switch (alg) {
    case SignatureAlgorithm::kEcdsaSha256:
      nid = NID_ecdsa_with_SHA256;
      break;
    case SignatureAlgorithm::kEcdsaSha384:
      nid = NID_ecdsa_with_SHA384;
      break;
    case SignatureAlgorithm::kRsaPkcs1Sha256:
      nid = NID_sha256WithRSAEncryption;
      param_type = V_ASN1_NULL;  // RFC 4055: parameters are NULL.
      break;
    case SignatureAlgorithm::kEd25519:
      nid = NID_ED25519;
      break;
  }
  ossl::UniquePtr<X509_ALGOR> algor(X509_ALGOR_new());
  if (algor == nullptr ||
      X509_ALGOR_set0(algor.get(), OBJ_nid2obj(nid), param_type, nullptr) != 1) {
    return InternalOpenSslError("building an AlgorithmIdentifier");
  }
  std::string der = EncodeDer(algor.get(), i2d_X509_ALGOR);
  if (der.empty()) return InternalOpenSslError("encoding an AlgorithmIdentifier");
  return der;
}

absl::StatusOr<std::string> SignX509Envelope(absl::string_view tbs, absl::string_view algorithm,
                                             const Signer& signer) {
  absl::StatusOr<std::string> signature = signer.Sign(tbs);
  if (!signature.ok()) return signature.status();
  // A BIT STRING's first content byte counts the unused bits: none.
  std::string bits = absl::StrCat(absl::string_view("\0", 1), *signature);
  return DerTlv(kDerSequence, absl::StrCat(tbs, algorithm, DerTlv(kDerBitString, bits)));
}

}  // namespace meshtrust::pki
