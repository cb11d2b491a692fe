#include "keystore/pkcs11_module.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace meshtrust::keystore {
namespace {

// The modules loaded in this process, by path. Weak, so the last holder's
// release unloads the module.
std::mutex& RegistryMutex() {
  static auto* mu = new std::mutex;
  return *mu;
}
std::map<std::string, std::weak_ptr<Pkcs11Module>>& Registry() {
  static auto* registry = new std::map<std::string, std::weak_ptr<Pkcs11Module>>;
  return *registry;
}

}  // namespace

absl::StatusOr<std::shared_ptr<Pkcs11Module>> Pkcs11Module::Load(const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("PKCS#11 module path \"", path, "\" must be absolute"));
  }
  std::lock_guard<std::mutex> lock(RegistryMutex());
  if (std::shared_ptr<Pkcs11Module> loaded = Registry()[path].lock()) return loaded;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(
        "PKCS#11 module ", path,
        " does not exist; install the HSM vendor's client library or fix module-path"));
  }
  // RTLD_NODELETE: C_Finalize ends the module's work, but vendor modules
  // often leave threads or exit handlers behind that must not outlive the
  // code they run, so the library stays mapped once loaded.
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (handle == nullptr) {
    const char* err = ::dlerror();
    return absl::FailedPreconditionError(absl::StrCat("cannot load PKCS#11 module ", path, ": ",
                                                      err != nullptr ? err : "unknown error"));
  }
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(handle, "C_GetFunctionList"));
  CK_FUNCTION_LIST* functions = nullptr;
  if (get_list == nullptr || get_list(&functions) != CKR_OK || functions == nullptr) {
    ::dlclose(handle);
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not a PKCS#11 module (no usable C_GetFunctionList)"));
  }
  if (functions->version.major != 2) {
    ::dlclose(handle);
    return absl::FailedPreconditionError(absl::StrCat("PKCS#11 module ", path, " speaks version ",
                                                      functions->version.major, ".",
                                                      functions->version.minor, ", not 2.x"));
  }
  CK_C_INITIALIZE_ARGS args = {};
  args.flags = CKF_OS_LOCKING_OK;
  CK_RV rv = functions->C_Initialize(&args);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    ::dlclose(handle);
    return absl::FailedPreconditionError(
        absl::StrCat("PKCS#11 module ", path, " failed to initialise (", CkrName(rv),
                     "); check its configuration (for SoftHSM2, SOFTHSM2_CONF and its tokendir)"));
  }
  std::shared_ptr<Pkcs11Module> module(
      new Pkcs11Module(path, handle, functions, /*finalize=*/rv == CKR_OK));
  Registry()[path] = module;
  return module;
}

Pkcs11Module::~Pkcs11Module() {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto it = Registry().find(path_);
  if (it != Registry().end() && it->second.expired()) Registry().erase(it);
  if (finalize_) functions_->C_Finalize(nullptr);
  ::dlclose(handle_);
}

absl::Status Pkcs11Module::Reinitialize() {
  std::unique_lock<std::shared_mutex> exclusive(calls_mu_);
  functions_->C_Finalize(nullptr);
  CK_C_INITIALIZE_ARGS args = {};
  args.flags = CKF_OS_LOCKING_OK;
  CK_RV rv = functions_->C_Initialize(&args);
  generation_.fetch_add(1);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    return absl::UnavailableError(
        absl::StrCat("PKCS#11 module ", path_, " failed to initialise again (", CkrName(rv), ")"));
  }
  finalize_ = true;
  return absl::OkStatus();
}

std::string CkrName(CK_RV rv) {
  switch (rv) {
#define MESHTRUST_CKR(name) \
  case name:                \
    return #name
    MESHTRUST_CKR(CKR_OK);
    MESHTRUST_CKR(CKR_GENERAL_ERROR);
    MESHTRUST_CKR(CKR_HOST_MEMORY);
    MESHTRUST_CKR(CKR_SLOT_ID_INVALID);
    MESHTRUST_CKR(CKR_FUNCTION_FAILED);
    MESHTRUST_CKR(CKR_ARGUMENTS_BAD);
    MESHTRUST_CKR(CKR_ATTRIBUTE_SENSITIVE);
    MESHTRUST_CKR(CKR_ATTRIBUTE_TYPE_INVALID);
    MESHTRUST_CKR(CKR_ATTRIBUTE_VALUE_INVALID);
    MESHTRUST_CKR(CKR_DATA_LEN_RANGE);
    MESHTRUST_CKR(CKR_DEVICE_ERROR);
    MESHTRUST_CKR(CKR_DEVICE_MEMORY);
    MESHTRUST_CKR(CKR_DEVICE_REMOVED);
    MESHTRUST_CKR(CKR_FUNCTION_NOT_SUPPORTED);
    MESHTRUST_CKR(CKR_KEY_HANDLE_INVALID);
    MESHTRUST_CKR(CKR_KEY_TYPE_INCONSISTENT);
    MESHTRUST_CKR(CKR_KEY_FUNCTION_NOT_PERMITTED);
    MESHTRUST_CKR(CKR_MECHANISM_INVALID);
    MESHTRUST_CKR(CKR_MECHANISM_PARAM_INVALID);
    MESHTRUST_CKR(CKR_OBJECT_HANDLE_INVALID);
    MESHTRUST_CKR(CKR_OPERATION_ACTIVE);
    MESHTRUST_CKR(CKR_OPERATION_NOT_INITIALIZED);
    MESHTRUST_CKR(CKR_PIN_INCORRECT);
    MESHTRUST_CKR(CKR_PIN_LEN_RANGE);
    MESHTRUST_CKR(CKR_PIN_EXPIRED);
    MESHTRUST_CKR(CKR_PIN_LOCKED);
    MESHTRUST_CKR(CKR_SESSION_CLOSED);
    MESHTRUST_CKR(CKR_SESSION_COUNT);
    MESHTRUST_CKR(CKR_SESSION_HANDLE_INVALID);
    MESHTRUST_CKR(CKR_SESSION_READ_ONLY);
    MESHTRUST_CKR(CKR_TEMPLATE_INCOMPLETE);
    MESHTRUST_CKR(CKR_TEMPLATE_INCONSISTENT);
    MESHTRUST_CKR(CKR_TOKEN_NOT_PRESENT);
    MESHTRUST_CKR(CKR_TOKEN_NOT_RECOGNIZED);
    MESHTRUST_CKR(CKR_TOKEN_WRITE_PROTECTED);
    MESHTRUST_CKR(CKR_USER_ALREADY_LOGGED_IN);
    MESHTRUST_CKR(CKR_USER_NOT_LOGGED_IN);
    MESHTRUST_CKR(CKR_USER_PIN_NOT_INITIALIZED);
    MESHTRUST_CKR(CKR_USER_TYPE_INVALID);
    MESHTRUST_CKR(CKR_BUFFER_TOO_SMALL);
    MESHTRUST_CKR(CKR_CRYPTOKI_NOT_INITIALIZED);
    MESHTRUST_CKR(CKR_CRYPTOKI_ALREADY_INITIALIZED);
    MESHTRUST_CKR(CKR_CURVE_NOT_SUPPORTED);
#undef MESHTRUST_CKR
  }
  return absl::StrFormat("CKR_0x%08X", static_cast<unsigned long>(rv));
}

std::string CkmName(CK_MECHANISM_TYPE mechanism) {
  switch (mechanism) {
    case CKM_ECDSA:
      return "CKM_ECDSA";
    case CKM_EC_KEY_PAIR_GEN:
      return "CKM_EC_KEY_PAIR_GEN";
    case CKM_RSA_PKCS:
      return "CKM_RSA_PKCS";
    case CKM_RSA_PKCS_KEY_PAIR_GEN:
      return "CKM_RSA_PKCS_KEY_PAIR_GEN";
    case CKM_EDDSA:
      return "CKM_EDDSA";
    case CKM_EC_EDWARDS_KEY_PAIR_GEN:
      return "CKM_EC_EDWARDS_KEY_PAIR_GEN";
  }
  return absl::StrFormat("CKM_0x%08X", static_cast<unsigned long>(mechanism));
}

bool IsTokenGone(CK_RV rv) {
  switch (rv) {
    case CKR_DEVICE_REMOVED:
    case CKR_DEVICE_ERROR:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_TOKEN_NOT_RECOGNIZED:
    case CKR_SESSION_CLOSED:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_SLOT_ID_INVALID:
    case CKR_OBJECT_HANDLE_INVALID:
    case CKR_KEY_HANDLE_INVALID:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
    case CKR_GENERAL_ERROR:
      return true;
  }
  return false;
}

}  // namespace meshtrust::keystore
