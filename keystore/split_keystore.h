// SplitKeyStore: one KeyStore over two, choosing by key id. The CA keeps the
// keys an operator put in an HSM (the mesh roots, optionally the control CA)
// in a Pkcs11KeyStore and every other key in its sealed-file keystore; the
// code that signs sees one store.
//
// Thread safe when both stores are. Borrows both; they must outlive it.
#ifndef MESHTRUST_KEYSTORE_SPLIT_KEYSTORE_H_
#define MESHTRUST_KEYSTORE_SPLIT_KEYSTORE_H_

#include <functional>
#include <string>
#include <vector>

#include "keystore/keystore.h"

namespace meshtrust::keystore {

class SplitKeyStore final : public KeyStore {
 public:
  // Ids for which `in_token` is true go to `token`, the rest to `other`.
  SplitKeyStore(KeyStore* token, KeyStore* other, std::function<bool(absl::string_view)> in_token)
      : token_(token), other_(other), in_token_(std::move(in_token)) {}

  absl::StatusOr<std::shared_ptr<const pki::Signer>> GenerateSigningKey(absl::string_view id,
                                                                        KeyType type) override {
    return For(id).GenerateSigningKey(id, type);
  }
  absl::Status ImportSigningKey(absl::string_view id, EVP_PKEY* key) override {
    return For(id).ImportSigningKey(id, key);
  }
  absl::StatusOr<std::shared_ptr<const pki::Signer>> GetSigner(
      absl::string_view id) const override {
    return For(id).GetSigner(id);
  }
  bool Contains(absl::string_view id) const override { return For(id).Contains(id); }
  // The ids each store holds for this split (a token shared with other
  // users may hold more).
  std::vector<std::string> List() const override;

 private:
  KeyStore& For(absl::string_view id) const { return in_token_(id) ? *token_ : *other_; }
  KeyStore* token_;
  KeyStore* other_;
  std::function<bool(absl::string_view)> in_token_;
};

}  // namespace meshtrust::keystore

#endif  // MESHTRUST_KEYSTORE_SPLIT_KEYSTORE_H_
