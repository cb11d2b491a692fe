// A SoftHSM2 token of its own for one test: a temporary directory with a
// softhsm2.conf whose tokendir is inside it, SOFTHSM2_CONF pointing there,
// and a token initialised with softhsm2-util.
//
// SoftHSM reads its configuration when the module initialises, which
// happens when the first user in the process loads it; keep every store and
// signer of one test inside that test, so the next test's token is read
// afresh.
#ifndef MESHTRUST_TESTS_TESTING_SOFTHSM_H_
#define MESHTRUST_TESTS_TESTING_SOFTHSM_H_

#include <string>

#include "tests/testing/temp_dir.h"

namespace meshtrust::testing {

// Where Debian's softhsm2 package puts the module.
inline constexpr char kSoftHsmModule[] = "/usr/lib/softhsm/libsofthsm2.so";

class SoftHsmToken {
 public:
  // `extra_config` goes into softhsm2.conf (e.g. "slots.mechanisms = ...").
  explicit SoftHsmToken(const std::string& label = "meshtrust-test",
                        const std::string& extra_config = "");
  ~SoftHsmToken();
  SoftHsmToken(const SoftHsmToken&) = delete;
  SoftHsmToken& operator=(const SoftHsmToken&) = delete;

  // Empty when the token is ready; otherwise what went wrong.
  const std::string& error() const { return error_; }
  const std::string& label() const { return label_; }
  const std::string& pin() const { return pin_; }
  const std::string& pin_file() const { return pin_file_; }
  const std::string& token_dir() const { return token_dir_; }
  const std::string& conf() const { return conf_; }
  const TempDir& dir() const { return dir_; }

  // pkcs11:token=<label>?module-path=...&pin-source=file:<pin file>
  std::string Uri() const;

  // Moves the token directory away (as if the token were pulled out) and
  // back.
  bool Remove();
  bool Restore();

 private:
  TempDir dir_;
  std::string label_;
  std::string pin_ = "4711-meshtrust";
  std::string pin_file_;
  std::string token_dir_;
  std::string conf_;
  std::string error_;
};

}  // namespace meshtrust::testing

#endif  // MESHTRUST_TESTS_TESTING_SOFTHSM_H_
