// A signer that refuses while it is switched off, as a token that was pulled
// from its reader would. Shared by every test of "a key that cannot sign
// changes nothing".
#ifndef MESHTRUST_TESTS_TESTING_SWITCHABLE_SIGNER_H_
#define MESHTRUST_TESTS_TESTING_SWITCHABLE_SIGNER_H_

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pki/signer.h"

namespace meshtrust::testing {

class SwitchableSigner : public pki::Signer {
 public:
  // Follows `off` when given (one switch for many signers), else its own.
  explicit SwitchableSigner(std::shared_ptr<const pki::Signer> real,
                            const std::atomic<bool>* off = nullptr,
                            std::string refusal = "the token was removed")
      : real_(std::move(real)), off_(off ? off : &own_), refusal_(std::move(refusal)) {}

  pki::SignatureAlgorithm algorithm() const override { return real_->algorithm(); }
  EVP_PKEY* public_key() const override { return real_->public_key(); }
  absl::StatusOr<std::string> Sign(absl::string_view message) const override {
    if (off_->load()) {
      ++refused;
      return absl::UnavailableError(refusal_);
    }
    return real_->Sign(message);
  }

  // Switches this signer's own flag; a signer built on a shared switch is
  // switched through that switch only, so calling this on one fails the test.
  void set_off(bool off) {
    EXPECT_EQ(off_, &own_) << "this signer follows a shared switch; set that one";
    own_ = off;
  }
  // How many signatures were refused.
  mutable std::atomic<int> refused{0};

 private:
  std::shared_ptr<const pki::Signer> real_;
  std::atomic<bool> own_{false};
  const std::atomic<bool>* off_;
  std::string refusal_;
};

}  // namespace meshtrust::testing

#endif  // MESHTRUST_TESTS_TESTING_SWITCHABLE_SIGNER_H_
