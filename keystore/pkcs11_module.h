// Pkcs11Module: a PKCS#11 module (a vendor's .so) loaded into this process.
//
// A module may be initialised only once per process (C_Initialize answers
// CKR_CRYPTOKI_ALREADY_INITIALIZED to a second caller), so modules are shared:
// Load returns the one instance per path while anyone holds it, and the last
// holder's release finalises and unloads it. The PKCS#11 C API comes from
// p11-kit's headers; the module is opened with dlopen, so meshtrust links no
// vendor code.
//
// Thread safe: the module is initialised with CKF_OS_LOCKING_OK, so any
// thread may call through functions().
#ifndef MESHTRUST_KEYSTORE_PKCS11_MODULE_H_
#define MESHTRUST_KEYSTORE_PKCS11_MODULE_H_

#include <p11-kit/pkcs11.h>

#include <atomic>
#include <memory>
#include <shared_mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace meshtrust::keystore {

class Pkcs11Module {
 public:
  // Loads and initialises the module at `path` (absolute), or returns the
  // instance already loaded. kNotFound when the file is missing,
  // kFailedPrecondition when it is not a PKCS#11 module or will not
  // initialise.
  static absl::StatusOr<std::shared_ptr<Pkcs11Module>> Load(const std::string& path);
  ~Pkcs11Module();

  Pkcs11Module(const Pkcs11Module&) = delete;
  Pkcs11Module& operator=(const Pkcs11Module&) = delete;

  // The module's function table; valid while this object lives. Hold a
  // CallGuard while calling through it, so a Reinitialize waits for the call.
  CK_FUNCTION_LIST* functions() const { return functions_; }
  const std::string& path() const { return path_; }

  // Held (shared) around calls into the module and for as long as a session
  // handle obtained under it is in use.
  using CallGuard = std::shared_lock<std::shared_mutex>;
  CallGuard Guard() const { return CallGuard(calls_mu_); }

  // Finalises and initialises the module again, once every CallGuard is
  // released: some modules (SoftHSM2 among them) only see a token that came
  // back, or a token directory restored, after a fresh C_Initialize. Every
  // session and object handle from before is void afterwards; generation()
  // tells users so.
  absl::Status Reinitialize();
  // Bumped by every Reinitialize.
  uint64_t generation() const { return generation_.load(); }

 private:
  Pkcs11Module(std::string path, void* handle, CK_FUNCTION_LIST* functions, bool finalize)
      : path_(std::move(path)), handle_(handle), functions_(functions), finalize_(finalize) {}
  std::string path_;
  void* handle_;
  CK_FUNCTION_LIST* functions_;
  bool finalize_;  // We initialised it, so we finalise it.
  mutable std::shared_mutex calls_mu_;
  std::atomic<uint64_t> generation_{1};
};

// "CKR_PIN_INCORRECT" and the like, or "CKR_0x..." for codes we do not name.
std::string CkrName(CK_RV rv);
// "CKM_ECDSA" and the like, for messages.
std::string CkmName(CK_MECHANISM_TYPE mechanism);

// Whether `rv` says the token (or our sessions with it) went away: removed,
// not present, device error, sessions or login gone. A signer that sees one
// drops its sessions and reconnects on the next call.
bool IsTokenGone(CK_RV rv);

}  // namespace meshtrust::keystore

#endif  // MESHTRUST_KEYSTORE_PKCS11_MODULE_H_
