#include "keystore/pkcs11_keystore.h"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "base/files.h"
#include "base/secret_bytes.h"
#include "keystore/pkcs11_module.h"
#include "pki/error.h"
#include "pki/key.h"
#include "pki/ossl.h"

namespace meshtrust::keystore {
namespace {

// DER of the curves' OBJECT IDENTIFIERs, as CKA_EC_PARAMS carries them.
constexpr absl::string_view kP256Params("\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 10);
constexpr absl::string_view kP384Params("\x06\x05\x2b\x81\x04\x00\x22", 7);
constexpr absl::string_view kEd25519Params("\x06\x03\x2b\x65\x70", 5);
// PKCS#11 3.0 also allows the curve's name as a PrintableString.
constexpr absl::string_view kEd25519NameParams(
    "\x13\x0c"
    "edwards25519",
    14);
// DigestInfo prefix for SHA-256 (RFC 8017 9.2 note 1): PKCS#1 v1.5 signing
// with CKM_RSA_PKCS over a digest made here.
constexpr absl::string_view kSha256DigestInfo(
    "\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20", 19);

// A fixed-width, space-padded PKCS#11 string, trimmed.
std::string PaddedString(const CK_UTF8CHAR* s, size_t n) {
  std::string out(reinterpret_cast<const char*>(s), n);
  while (!out.empty() && (out.back() == ' ' || out.back() == '\0')) out.pop_back();
  return out;
}

absl::StatusCode CodeFor(CK_RV rv) {
  if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_EXPIRED ||
      rv == CKR_PIN_LEN_RANGE) {
    return absl::StatusCode::kPermissionDenied;
  }
  if (IsTokenGone(rv)) return absl::StatusCode::kUnavailable;
  if (rv == CKR_MECHANISM_INVALID || rv == CKR_KEY_TYPE_INCONSISTENT ||
      rv == CKR_KEY_FUNCTION_NOT_PERMITTED || rv == CKR_CURVE_NOT_SUPPORTED ||
      rv == CKR_TOKEN_WRITE_PROTECTED) {
    return absl::StatusCode::kFailedPrecondition;
  }
  return absl::StatusCode::kInternal;
}

absl::Status CkError(absl::string_view what, CK_RV rv) {
  return absl::Status(CodeFor(rv), absl::StrCat(what, ": ", CkrName(rv)));
}

// The contents of a DER OCTET STRING, or kInvalidArgument.
absl::StatusOr<std::string> UnwrapOctetString(absl::string_view der) {
  if (der.size() < 2 || der[0] != 0x04) return absl::InvalidArgumentError("not an OCTET STRING");
  size_t len = static_cast<unsigned char>(der[1]);
  size_t header = 2;
  if (len == 0x81) {
    if (der.size() < 3) return absl::InvalidArgumentError("truncated OCTET STRING");
    len = static_cast<unsigned char>(der[2]);
    header = 3;
  } else if (len > 0x7f) {
    return absl::InvalidArgumentError("OCTET STRING too long for a public point");
  }
  if (der.size() != header + len) {
    return absl::InvalidArgumentError("OCTET STRING length does not match its contents");
  }
  return std::string(der.substr(header));
}

absl::StatusOr<SecretBytes> ReadPin(const std::string& source) {
  if (source.empty()) {
    return absl::InvalidArgumentError(
        "the pkcs11: URI names no PIN source; add ?pin-source=file:/path/to/pin (a 0600 file) "
        "or &pin-source=env:VARIABLE");
  }
  SecretBytes pin;
  if (source.rfind("file:", 0) == 0) {
    std::string path = source.substr(5);
    absl::StatusOr<SecretBytes> read = ReadSecretFile(path, 1024);
    if (!read.ok()) {
      return absl::Status(read.status().code(),
                          absl::StrCat("reading the token PIN (pin-source=", source,
                                       "): ", read.status().message()));
    }
    pin = *std::move(read);
  } else {
    std::string name = source.substr(4);
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("the token PIN's environment variable ", name,
                                                     " (pin-source=", source, ") is not set"));
    }
    pin = SecretBytes::CopyOf(absl::string_view(value));
  }
  // One trailing newline, as `echo` writes it, is not part of the PIN.
  if (!pin.empty() && pin.UnsafeSecretView().back() == '\n') pin.Truncate(pin.size() - 1);
  if (!pin.empty() && pin.UnsafeSecretView().back() == '\r') pin.Truncate(pin.size() - 1);
  if (pin.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("the token PIN from ", source, " is empty"));
  }
  return pin;
}

}  // namespace

// The connection to one token: the module, the slot it sits in, the PIN, and
// the pool of logged-in sessions. Shared by the store and its signers.
class Pkcs11Token {
 public:
  // A session taken from the pool, with a guard that keeps the module from
  // being re-initialised under it; given back when destroyed.
  class Lease {
   public:
    Lease(Pkcs11Token* token, Pkcs11Module::CallGuard guard, CK_SESSION_HANDLE session,
          uint64_t generation)
        : token_(token), guard_(std::move(guard)), session_(session), generation_(generation) {}
    Lease(Lease&& other) noexcept
        : token_(std::exchange(other.token_, nullptr)),
          guard_(std::move(other.guard_)),
          session_(other.session_),
          generation_(other.generation_),
          gone_(other.gone_) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      // Before guard_ is released: the session is closed or pooled while the
      // module cannot be re-initialised.
      if (token_ != nullptr) token_->Release(session_, generation_, gone_);
    }
    CK_SESSION_HANDLE session() const { return session_; }
    uint64_t generation() const { return generation_; }
    // The token answered as if it went away: drop every session on release.
    void MarkGone() { gone_ = true; }

   private:
    Pkcs11Token* token_;
    Pkcs11Module::CallGuard guard_;
    CK_SESSION_HANDLE session_;
    uint64_t generation_;
    bool gone_ = false;
  };

  static absl::StatusOr<std::shared_ptr<Pkcs11Token>> Connect(absl::string_view uri_text) {
    absl::StatusOr<Pkcs11Uri> uri = ParsePkcs11Uri(uri_text);
    if (!uri.ok()) return uri.status();
    if (uri->module_path.empty()) {
      return absl::InvalidArgumentError(
          "the pkcs11: URI names no module; add ?module-path=/path/to/vendor-pkcs11.so");
    }
    if (uri->token.empty() && uri->serial.empty() && !uri->slot_id.has_value()) {
      return absl::InvalidArgumentError(
          "the pkcs11: URI names no token; add token=<label> (or serial= or slot-id=)");
    }
    absl::StatusOr<SecretBytes> pin = ReadPin(uri->pin_source);
    if (!pin.ok()) return pin.status();
    absl::StatusOr<std::shared_ptr<Pkcs11Module>> module = Pkcs11Module::Load(uri->module_path);
    if (!module.ok()) return module.status();
    std::shared_ptr<Pkcs11Token> token(
        new Pkcs11Token(*std::move(module), *std::move(uri), *std::move(pin)));
    Pkcs11Module::CallGuard guard = token->module_->Guard();
    absl::MutexLock lock(&token->mu_);
    if (absl::Status s = token->ConnectLocked(); !s.ok()) return s;
    return token;
  }

  // Closing our sessions is enough: the login ends with the application's
  // last session, and C_Logout would log out other users of the token in
  // this process too.
  ~Pkcs11Token() {
    Pkcs11Module::CallGuard guard = module_->Guard();
    absl::MutexLock lock(&mu_);
    SyncModuleLocked();
    CloseIdleLocked();
  }

  CK_FUNCTION_LIST* f() const { return module_->functions(); }
  const Pkcs11Uri& uri() const { return uri_; }
  std::string Describe() const { return uri_.Describe(); }

  // A logged-in session; reconnects (finds the token, logs in) when the last
  // one went away. kUnavailable when the token cannot be reached.
  absl::StatusOr<Lease> Acquire() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::Status last;
    for (int attempt = 0; attempt < 2; ++attempt) {
      {
        Pkcs11Module::CallGuard guard = module_->Guard();
        absl::MutexLock lock(&mu_);
        SyncModuleLocked();
        if (!connected_) last = ConnectLocked();
        if (connected_) {
          if (!idle_.empty()) {
            CK_SESSION_HANDLE session = idle_.back();
            idle_.pop_back();
            return Lease(this, std::move(guard), session, generation_);
          }
          CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
          CK_RV rv = f()->C_OpenSession(slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr,
                                        nullptr, &session);
          if (rv == CKR_OK) {
            ++open_;
            return Lease(this, std::move(guard), session, generation_);
          }
          if (IsTokenGone(rv)) DisconnectLocked();
          last = CkError("opening a session", rv);
        }
        if (last.code() != absl::StatusCode::kNotFound &&
            last.code() != absl::StatusCode::kUnavailable) {
          break;
        }
      }
      // The token is not where it was. Some modules (SoftHSM2 among them)
      // only see a token that came back after a fresh C_Initialize.
      if (attempt == 0) {
        if (absl::Status s = module_->Reinitialize(); !s.ok()) {
          return absl::UnavailableError(absl::StrCat(
              "token ", Describe(), " is unavailable: ", last.message(), "; ", s.message()));
        }
      }
    }
    return absl::UnavailableError(
        absl::StrCat("token ", Describe(), " is unavailable: ", last.message()));
  }

  // Whether the token offers `mechanism`, as it said when we connected.
  bool Has(CK_MECHANISM_TYPE mechanism) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return mechanisms_.count(mechanism) > 0;
  }

  int OpenSessions() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return open_;
  }

  // Serialises key generation in this process, so two callers cannot both
  // find a label free and both create it.
  absl::Mutex& generate_mutex() { return generate_mu_; }

 private:
  Pkcs11Token(std::shared_ptr<Pkcs11Module> module, Pkcs11Uri uri, SecretBytes pin)
      : module_(std::move(module)), uri_(std::move(uri)), pin_(std::move(pin)) {}

  // Called with the lease's guard held, so the module is as it was when the
  // session was handed out.
  void Release(CK_SESSION_HANDLE session, uint64_t generation, bool gone) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (generation != generation_ || gone || idle_.size() >= kMaxIdle) {
      f()->C_CloseSession(session);
      --open_;
      if (gone && generation == generation_) DisconnectLocked();
      return;
    }
    idle_.push_back(session);
  }

  // After the module was re-initialised every handle we pooled is void (and
  // may since name someone else's session): forget them without closing.
  void SyncModuleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    uint64_t now = module_->generation();
    if (now == module_generation_) return;
    open_ -= static_cast<int>(idle_.size());
    idle_.clear();
    if (connected_) {
      connected_ = false;
      ++generation_;
    }
    module_generation_ = now;
  }

  // Finds the slot whose token the URI names, opens a first session, logs
  // in and reads the mechanism list.
  absl::Status ConnectLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    module_generation_ = module_->generation();
    CK_ULONG count = 0;
    CK_RV rv = f()->C_GetSlotList(CK_TRUE, nullptr, &count);
    if (rv != CKR_OK) return CkError("listing the module's slots", rv);
    std::vector<CK_SLOT_ID> slots(count);
    rv = f()->C_GetSlotList(CK_TRUE, slots.data(), &count);
    if (rv != CKR_OK) return CkError("listing the module's slots", rv);
    slots.resize(count);
    std::vector<CK_SLOT_ID> matches;
    std::vector<std::string> present;
    for (CK_SLOT_ID slot : slots) {
      CK_TOKEN_INFO info;
      if (f()->C_GetTokenInfo(slot, &info) != CKR_OK) continue;
      if (!(info.flags & CKF_TOKEN_INITIALIZED)) continue;
      std::string label = PaddedString(info.label, sizeof(info.label));
      present.push_back(absl::StrCat("\"", label, "\""));
      if (!uri_.token.empty() && label != uri_.token) continue;
      if (!uri_.serial.empty() &&
          PaddedString(info.serialNumber, sizeof(info.serialNumber)) != uri_.serial) {
        continue;
      }
      if (!uri_.manufacturer.empty() &&
          PaddedString(info.manufacturerID, sizeof(info.manufacturerID)) != uri_.manufacturer) {
        continue;
      }
      if (!uri_.model.empty() && PaddedString(info.model, sizeof(info.model)) != uri_.model) {
        continue;
      }
      if (uri_.slot_id.has_value() && *uri_.slot_id != slot) continue;
      matches.push_back(slot);
    }
    if (matches.empty()) {
      return absl::NotFoundError(absl::StrCat(
          "no token matching ", Describe(), " in ", module_->path(),
          " (tokens present: ", present.empty() ? "none" : absl::StrJoin(present, ", "),
          "); check the token label, or that the HSM is connected"));
    }
    if (matches.size() > 1) {
      return absl::FailedPreconditionError(absl::StrCat(matches.size(), " tokens match ",
                                                        Describe(), "; add serial= to choose one"));
    }
    CK_SLOT_ID slot = matches[0];
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    rv = f()->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &session);
    if (rv != CKR_OK) return CkError(absl::StrCat("opening a session with ", Describe()), rv);
    auto pin = pin_.UnsafeSecretView();
    rv = f()->C_Login(session, CKU_USER, const_cast<CK_UTF8CHAR*>(pin.data()), pin.size());
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
      f()->C_CloseSession(session);
      if (rv == CKR_PIN_INCORRECT) {
        return absl::PermissionDeniedError(absl::StrCat(
            "token ", Describe(), " refused the PIN from ", uri_.pin_source,
            " (CKR_PIN_INCORRECT); check that source (one trailing newline is ignored). "
            "Repeated wrong PINs lock the token"));
      }
      return CkError(absl::StrCat("logging in to ", Describe()), rv);
    }
    std::set<CK_MECHANISM_TYPE> mechanisms;
    CK_ULONG n = 0;
    if (f()->C_GetMechanismList(slot, nullptr, &n) == CKR_OK) {
      std::vector<CK_MECHANISM_TYPE> list(n);
      if (f()->C_GetMechanismList(slot, list.data(), &n) == CKR_OK) {
        list.resize(n);
        mechanisms.insert(list.begin(), list.end());
      }
    }
    slot_ = slot;
    mechanisms_ = std::move(mechanisms);
    connected_ = true;
    ++generation_;
    ++open_;
    idle_.push_back(session);
    return absl::OkStatus();
  }

  // Forgets the token: closes the idle sessions (sessions in use are closed
  // when given back) and makes the next Acquire reconnect.
  void DisconnectLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    CloseIdleLocked();
    connected_ = false;
    ++generation_;
  }

  void CloseIdleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (CK_SESSION_HANDLE session : idle_) {
      f()->C_CloseSession(session);
      --open_;
    }
    idle_.clear();
  }

  static constexpr size_t kMaxIdle = 16;

  std::shared_ptr<Pkcs11Module> module_;
  const Pkcs11Uri uri_;
  const SecretBytes pin_;
  mutable absl::Mutex mu_;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  CK_SLOT_ID slot_ ABSL_GUARDED_BY(mu_) = 0;
  // Bumped on every connect and disconnect: object handles and sessions from
  // an older generation are not used again.
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  // The module's generation our pooled handles belong to.
  uint64_t module_generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<CK_SESSION_HANDLE> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<CK_MECHANISM_TYPE> mechanisms_ ABSL_GUARDED_BY(mu_);
  absl::Mutex generate_mu_;
};

namespace {

// One attribute's value, read with the two-call idiom.
absl::StatusOr<std::string> GetAttribute(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE session,
                                         CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
  CK_ATTRIBUTE attr = {type, nullptr, 0};
  CK_RV rv = f->C_GetAttributeValue(session, object, &attr, 1);
  if (rv != CKR_OK) return CkError("reading a key attribute", rv);
  if (attr.ulValueLen == CK_UNAVAILABLE_INFORMATION || attr.ulValueLen > (1 << 16)) {
    return absl::InternalError("the token gave no usable length for a key attribute");
  }
  std::string value(attr.ulValueLen, '\0');
  attr.pValue = value.data();
  rv = f->C_GetAttributeValue(session, object, &attr, 1);
  if (rv != CKR_OK) return CkError("reading a key attribute", rv);
  value.resize(attr.ulValueLen);
  return value;
}

absl::StatusOr<CK_ULONG> GetUlong(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE session,
                                  CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
  CK_ULONG value = 0;
  CK_ATTRIBUTE attr = {type, &value, sizeof(value)};
  CK_RV rv = f->C_GetAttributeValue(session, object, &attr, 1);
  if (rv != CKR_OK) return CkError("reading a key attribute", rv);
  return value;
}

absl::StatusOr<bool> GetBool(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE session,
                             CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
  CK_BBOOL value = CK_FALSE;
  CK_ATTRIBUTE attr = {type, &value, sizeof(value)};
  CK_RV rv = f->C_GetAttributeValue(session, object, &attr, 1);
  if (rv != CKR_OK) return CkError("reading a key attribute", rv);
  return value == CK_TRUE;
}

// Every object matching `tmpl`.
absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> FindObjects(CK_FUNCTION_LIST* f,
                                                          CK_SESSION_HANDLE session,
                                                          std::vector<CK_ATTRIBUTE> tmpl) {
  CK_RV rv = f->C_FindObjectsInit(session, tmpl.data(), tmpl.size());
  if (rv != CKR_OK) return CkError("searching the token", rv);
  std::vector<CK_OBJECT_HANDLE> found;
  for (;;) {
    CK_OBJECT_HANDLE batch[64];
    CK_ULONG n = 0;
    rv = f->C_FindObjects(session, batch, 64, &n);
    if (rv != CKR_OK) {
      f->C_FindObjectsFinal(session);
      return CkError("searching the token", rv);
    }
    found.insert(found.end(), batch, batch + n);
    if (n == 0 || found.size() > 100000) break;
  }
  rv = f->C_FindObjectsFinal(session);
  if (rv != CKR_OK) return CkError("searching the token", rv);
  return found;
}

// The one object of `object_class` labelled `label`: kNotFound when there is
// none, kFailedPrecondition when there are several.
absl::StatusOr<CK_OBJECT_HANDLE> FindKey(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE session,
                                         CK_OBJECT_CLASS object_class, absl::string_view label,
                                         absl::string_view where) {
  std::vector<CK_ATTRIBUTE> tmpl = {
      {CKA_CLASS, &object_class, sizeof(object_class)},
      {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
  };
  absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> found = FindObjects(f, session, tmpl);
  if (!found.ok()) return found.status();
  const char* kind = object_class == CKO_PRIVATE_KEY ? "private" : "public";
  if (found->empty()) {
    return absl::NotFoundError(
        absl::StrCat("no ", kind, " key labelled \"", label, "\" in token ", where));
  }
  if (found->size() > 1) {
    return absl::FailedPreconditionError(
        absl::StrCat(found->size(), " ", kind, " keys are labelled \"", label, "\" in token ",
                     where, "; labels must be unique"));
  }
  return (*found)[0];
}

// The public key object beside a private key, as an OpenSSL public key.
absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> ReadPublicKey(CK_FUNCTION_LIST* f,
                                                        CK_SESSION_HANDLE session,
                                                        CK_OBJECT_HANDLE pub, CK_KEY_TYPE type,
                                                        absl::string_view label) {
  if (type == CKK_RSA) {
    absl::StatusOr<std::string> n = GetAttribute(f, session, pub, CKA_MODULUS);
    if (!n.ok()) return n.status();
    absl::StatusOr<std::string> e = GetAttribute(f, session, pub, CKA_PUBLIC_EXPONENT);
    if (!e.ok()) return e.status();
    ossl::UniquePtr<BIGNUM> bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()),
                                           static_cast<int>(n->size()), nullptr));
    ossl::UniquePtr<BIGNUM> bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()),
                                           static_cast<int>(e->size()), nullptr));
    ossl::UniquePtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
    if (bn_n == nullptr || bn_e == nullptr || bld == nullptr ||
        OSSL_PARAM_BLD_push_BN(bld.get(), "n", bn_n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), "e", bn_e.get()) != 1) {
      return pki::InternalOpenSslError("building an RSA public key");
    }
    ossl::UniquePtr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld.get()));
    ossl::UniquePtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
    EVP_PKEY* key = nullptr;
    if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
      return pki::InternalOpenSslError("building an RSA public key");
    }
    return ossl::UniquePtr<EVP_PKEY>(key);
  }
  absl::StatusOr<std::string> params = GetAttribute(f, session, pub, CKA_EC_PARAMS);
  if (!params.ok()) return params.status();
  absl::StatusOr<std::string> point = GetAttribute(f, session, pub, CKA_EC_POINT);
  if (!point.ok()) return point.status();
  if (type == CKK_EC_EDWARDS) {
    if (*params != kEd25519Params && *params != kEd25519NameParams) {
      return absl::FailedPreconditionError(absl::StrCat(
          "key \"", label, "\" is an Edwards key on a curve other than Ed25519; use Ed25519"));
    }
    std::string raw = *point;
    if (raw.size() != 32) {
      absl::StatusOr<std::string> inner = UnwrapOctetString(raw);
      if (!inner.ok() || inner->size() != 32) {
        return absl::DataLossError(
            absl::StrCat("the token's Ed25519 public key \"", label, "\" is malformed"));
      }
      raw = *inner;
    }
    ossl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new_raw_public_key_ex(
        nullptr, "ED25519", nullptr, reinterpret_cast<const unsigned char*>(raw.data()),
        raw.size()));
    if (key == nullptr) return pki::InternalOpenSslError("building an Ed25519 public key");
    return key;
  }
  const char* group = nullptr;
  size_t raw_size = 0;
  if (*params == kP256Params) {
    group = "prime256v1";
    raw_size = 65;
  } else if (*params == kP384Params) {
    group = "secp384r1";
    raw_size = 97;
  } else {
    return absl::FailedPreconditionError(
        absl::StrCat("key \"", label, "\" is an EC key on a curve other than P-256 or P-384"));
  }
  std::string raw = *point;
  if (raw.size() != raw_size) {
    absl::StatusOr<std::string> inner = UnwrapOctetString(raw);
    if (!inner.ok() || inner->size() != raw_size) {
      return absl::DataLossError(
          absl::StrCat("the token's EC public key \"", label, "\" is malformed"));
    }
    raw = *inner;
  }
  ossl::UniquePtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr || OSSL_PARAM_BLD_push_utf8_string(bld.get(), "group", group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), "pub", raw.data(), raw.size()) != 1) {
    return pki::InternalOpenSslError("building an EC public key");
  }
  ossl::UniquePtr<OSSL_PARAM> ossl_params(OSSL_PARAM_BLD_to_param(bld.get()));
  ossl::UniquePtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* key = nullptr;
  if (ossl_params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, ossl_params.get()) != 1) {
    return pki::OpenSslError(absl::StatusCode::kDataLoss,
                             absl::StrCat("the token's EC public key \"", label, "\" is invalid"));
  }
  return ossl::UniquePtr<EVP_PKEY>(key);
}

class Pkcs11Signer final : public pki::Signer {
 public:
  Pkcs11Signer(std::shared_ptr<Pkcs11Token> token, std::string label, pki::SignatureAlgorithm alg,
               ossl::UniquePtr<EVP_PKEY> public_key, ossl::UniquePtr<EVP_MD> md)
      : token_(std::move(token)),
        label_(std::move(label)),
        alg_(alg),
        public_key_(std::move(public_key)),
        md_(std::move(md)) {
    if (alg_ == pki::SignatureAlgorithm::kEcdsaSha256) field_bytes_ = 32;
    if (alg_ == pki::SignatureAlgorithm::kEcdsaSha384) field_bytes_ = 48;
  }

  pki::SignatureAlgorithm algorithm() const override { return alg_; }
  EVP_PKEY* public_key() const override { return public_key_.get(); }

  absl::StatusOr<std::string> Sign(absl::string_view message) const override {
    // What goes to the token: the digest for ECDSA, a DigestInfo for RSA,
    // the message for EdDSA (which hashes inside).
    std::string input;
    CK_MECHANISM mechanism = {CKM_EDDSA, nullptr, 0};
    if (md_ != nullptr) {
      unsigned char digest[EVP_MAX_MD_SIZE];
      unsigned int len = 0;
      if (EVP_Digest(message.data(), message.size(), digest, &len, md_.get(), nullptr) != 1) {
        return pki::InternalOpenSslError("hashing for a token signature");
      }
      if (alg_ == pki::SignatureAlgorithm::kRsaPkcs1Sha256) {
        input = absl::StrCat(kSha256DigestInfo,
                             absl::string_view(reinterpret_cast<char*>(digest), len));
        mechanism.mechanism = CKM_RSA_PKCS;
      } else {
        input.assign(reinterpret_cast<char*>(digest), len);
        mechanism.mechanism = CKM_ECDSA;
      }
    } else {
      input.assign(message.data(), message.size());
    }
    // A session from before the token went away fails once; the second try
    // reconnects (finds the token, logs in again).
    absl::Status last;
    for (int attempt = 0; attempt < 2; ++attempt) {
      absl::StatusOr<std::string> raw = SignOnce(mechanism, input);
      if (raw.ok()) return Encode(*raw);
      last = raw.status();
      if (last.code() != absl::StatusCode::kUnavailable) return last;
    }
    return last;
  }

 private:
  absl::StatusOr<std::string> SignOnce(CK_MECHANISM& mechanism, const std::string& input) const {
    absl::StatusOr<Pkcs11Token::Lease> lease = token_->Acquire();
    if (!lease.ok()) return lease.status();
    CK_FUNCTION_LIST* f = token_->f();
    absl::StatusOr<CK_OBJECT_HANDLE> key = Handle(*lease);
    if (!key.ok()) {
      if (key.status().code() == absl::StatusCode::kUnavailable) lease->MarkGone();
      return key.status();
    }
    CK_RV rv = f->C_SignInit(lease->session(), &mechanism, *key);
    std::string sig(1024, '\0');
    CK_ULONG len = sig.size();
    if (rv == CKR_OK) {
      rv = f->C_Sign(lease->session(), reinterpret_cast<CK_BYTE*>(const_cast<char*>(input.data())),
                     input.size(), reinterpret_cast<CK_BYTE*>(sig.data()), &len);
    }
    if (rv != CKR_OK) {
      if (IsTokenGone(rv)) {
        lease->MarkGone();
        return absl::UnavailableError(absl::StrCat("signing with key \"", label_, "\" in token ",
                                                   token_->Describe(), " failed: ", CkrName(rv),
                                                   "; the token is unavailable"));
      }
      return absl::Status(CodeFor(rv), absl::StrCat("signing with key \"", label_, "\" (",
                                                    CkmName(mechanism.mechanism), ") in token ",
                                                    token_->Describe(), " failed: ", CkrName(rv)));
    }
    sig.resize(len);
    return sig;
  }

  // The private key's handle in the current connection: handles are only
  // good for the connection that found them.
  absl::StatusOr<CK_OBJECT_HANDLE> Handle(const Pkcs11Token::Lease& lease) const
      ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (handle_generation_ == lease.generation()) return handle_;
    }
    absl::StatusOr<CK_OBJECT_HANDLE> found =
        FindKey(token_->f(), lease.session(), CKO_PRIVATE_KEY, label_, token_->Describe());
    if (!found.ok()) {
      if (found.status().code() == absl::StatusCode::kNotFound) {
        return absl::UnavailableError(absl::StrCat(found.status().message(),
                                                   "; the key was deleted or another token "
                                                   "answers under this label"));
      }
      return found.status();
    }
    absl::MutexLock lock(&mu_);
    handle_ = *found;
    handle_generation_ = lease.generation();
    return handle_;
  }

  // X.509 carries ECDSA signatures as DER ECDSA-Sig-Value; the token gives
  // r||s, each as wide as the curve's field.
  absl::StatusOr<std::string> Encode(const std::string& raw) const {
    if (field_bytes_ == 0) return raw;
    if (raw.size() != 2 * field_bytes_) {
      return absl::InternalError(absl::StrCat("the token returned a ", raw.size(),
                                              "-byte ECDSA signature; expected ",
                                              2 * field_bytes_));
    }
    const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
    ossl::UniquePtr<BIGNUM> r(BN_bin2bn(p, static_cast<int>(field_bytes_), nullptr));
    ossl::UniquePtr<BIGNUM> s(BN_bin2bn(p + field_bytes_, static_cast<int>(field_bytes_), nullptr));
    ossl::UniquePtr<ECDSA_SIG> sig(ECDSA_SIG_new());
    if (r == nullptr || s == nullptr || sig == nullptr ||
        ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
      return pki::InternalOpenSslError("encoding an ECDSA signature");
    }
    // ECDSA_SIG_set0 took ownership of r and s; `sig` frees them.
    r.release();
    s.release();
    unsigned char* der = nullptr;
    int len = i2d_ECDSA_SIG(sig.get(), &der);
    if (len <= 0) return pki::InternalOpenSslError("encoding an ECDSA signature");
    ossl::OpenSslBuffer<unsigned char> owned(der);
    return std::string(reinterpret_cast<char*>(der), len);
  }

  std::shared_ptr<Pkcs11Token> token_;
  std::string label_;
  pki::SignatureAlgorithm alg_;
  ossl::UniquePtr<EVP_PKEY> public_key_;
  ossl::UniquePtr<EVP_MD> md_;  // Null for Ed25519.
  size_t field_bytes_ = 0;      // ECDSA only.
  mutable absl::Mutex mu_;
  mutable uint64_t handle_generation_ ABSL_GUARDED_BY(mu_) = 0;  // 0: none yet.
  mutable CK_OBJECT_HANDLE handle_ ABSL_GUARDED_BY(mu_) = CK_INVALID_HANDLE;
};

struct Mechanisms {
  CK_MECHANISM_TYPE generate;
  CK_MECHANISM_TYPE sign;
  const char* what;
};

Mechanisms MechanismsFor(KeyType type) {
  switch (type) {
    case KeyType::kEcdsaP256:
    case KeyType::kEcdsaP384:
      return {CKM_EC_KEY_PAIR_GEN, CKM_ECDSA, "ECDSA keys"};
    case KeyType::kRsa2048:
    case KeyType::kRsa3072:
    case KeyType::kRsa4096:
      return {CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_RSA_PKCS, "RSA keys"};
    case KeyType::kEd25519:
      return {CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA, "Ed25519 keys"};
  }
  return {CKM_EC_KEY_PAIR_GEN, CKM_ECDSA, "ECDSA keys"};
}

// The signer of the private key labelled `label`, checked: a type we sign
// with, a key the token will not let out, a public key object beside it.
absl::StatusOr<std::shared_ptr<const pki::Signer>> MakeSigner(
    const std::shared_ptr<Pkcs11Token>& token, Pkcs11Token::Lease& lease, absl::string_view label) {
  CK_FUNCTION_LIST* f = token->f();
  std::string where = token->Describe();
  absl::StatusOr<CK_OBJECT_HANDLE> priv =
      FindKey(f, lease.session(), CKO_PRIVATE_KEY, label, where);
  if (!priv.ok()) return priv.status();
  absl::StatusOr<CK_ULONG> type = GetUlong(f, lease.session(), *priv, CKA_KEY_TYPE);
  if (!type.ok()) return type.status();
  if (*type != CKK_EC && *type != CKK_RSA && *type != CKK_EC_EDWARDS) {
    return absl::FailedPreconditionError(
        absl::StrCat("key \"", label, "\" in token ", where, " is of PKCS#11 key type 0x",
                     absl::Hex(*type), "; meshtrust signs with EC (P-256, P-384), RSA or Ed25519"));
  }
  absl::StatusOr<bool> can_sign = GetBool(f, lease.session(), *priv, CKA_SIGN);
  if (!can_sign.ok()) return can_sign.status();
  if (!*can_sign) {
    return absl::FailedPreconditionError(
        absl::StrCat("key \"", label, "\" in token ", where, " is not allowed to sign (CKA_SIGN)"));
  }
  absl::StatusOr<bool> extractable = GetBool(f, lease.session(), *priv, CKA_EXTRACTABLE);
  absl::StatusOr<bool> sensitive = GetBool(f, lease.session(), *priv, CKA_SENSITIVE);
  if (!extractable.ok()) return extractable.status();
  if (!sensitive.ok()) return sensitive.status();
  if (*extractable || !*sensitive) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key \"", label, "\" in token ", where,
        " can leave the token (CKA_EXTRACTABLE true or CKA_SENSITIVE false); meshtrust only "
        "signs with keys the token keeps. Generate a new one inside the token"));
  }
  absl::StatusOr<CK_OBJECT_HANDLE> pub = FindKey(f, lease.session(), CKO_PUBLIC_KEY, label, where);
  if (!pub.ok()) return pub.status();
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> public_key =
      ReadPublicKey(f, lease.session(), *pub, *type, label);
  if (!public_key.ok()) return public_key.status();
  if (*type != CKK_EC_EDWARDS) {
    if (absl::StatusOr<pki::KeyAlgorithm> alg = pki::ClassifyKey(public_key->get()); !alg.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("key \"", label, "\" in token ", where, ": ", alg.status().message()));
    }
  }
  absl::StatusOr<pki::SignatureAlgorithm> alg = pki::SignatureAlgorithmFor(public_key->get());
  if (!alg.ok()) return alg.status();
  CK_MECHANISM_TYPE mechanism = *type == CKK_EC    ? CKM_ECDSA
                                : *type == CKK_RSA ? CKM_RSA_PKCS
                                                   : CKM_EDDSA;
  if (!token->Has(mechanism)) {
    return absl::FailedPreconditionError(absl::StrCat("token ", where, " does not offer ",
                                                      CkmName(mechanism),
                                                      ", needed to sign with "
                                                      "key \"",
                                                      label, "\""));
  }
  ossl::UniquePtr<EVP_MD> md;
  if (*alg != pki::SignatureAlgorithm::kEd25519) {
    const char* name = *alg == pki::SignatureAlgorithm::kEcdsaSha384 ? "SHA2-384" : "SHA2-256";
    md.reset(EVP_MD_fetch(nullptr, name, nullptr));
    if (md == nullptr) return pki::InternalOpenSslError(absl::StrCat("fetching ", name));
  }
  return std::make_shared<Pkcs11Signer>(token, std::string(label), *alg, *std::move(public_key),
                                        std::move(md));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Pkcs11KeyStore>> Pkcs11KeyStore::Open(absl::string_view uri) {
  absl::StatusOr<std::shared_ptr<Pkcs11Token>> token = Pkcs11Token::Connect(uri);
  if (!token.ok()) return token.status();
  return std::unique_ptr<Pkcs11KeyStore>(new Pkcs11KeyStore(*std::move(token)));
}

Pkcs11KeyStore::~Pkcs11KeyStore() = default;

absl::StatusOr<std::shared_ptr<const pki::Signer>> Pkcs11KeyStore::GenerateSigningKey(
    absl::string_view id, KeyType type) {
  if (absl::Status s = ValidateKeyId(id); !s.ok()) return s;
  Mechanisms mechanisms = MechanismsFor(type);
  for (CK_MECHANISM_TYPE m : {mechanisms.generate, mechanisms.sign}) {
    if (!token_->Has(m)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "token ", Describe(), " does not offer ", CkmName(m), ", so it cannot hold ",
          mechanisms.what, type == KeyType::kEd25519 ? "; keep the audit key sealed instead" : ""));
    }
  }
  absl::MutexLock generating(&token_->generate_mutex());
  absl::StatusOr<Pkcs11Token::Lease> lease = token_->Acquire();
  if (!lease.ok()) return lease.status();
  CK_FUNCTION_LIST* f = token_->f();
  // Never overwrite, nor stand beside, an object of the same label.
  std::vector<CK_ATTRIBUTE> by_label = {{CKA_LABEL, const_cast<char*>(id.data()), id.size()}};
  absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> existing =
      FindObjects(f, lease->session(), by_label);
  if (!existing.ok()) return existing.status();
  if (!existing->empty()) {
    return absl::AlreadyExistsError(absl::StrCat("token ", Describe(), " already holds \"", id,
                                                 "\"; a key is never overwritten"));
  }

  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL no = CK_FALSE;
  CK_ULONG bits = 0;
  CK_BYTE exponent[] = {0x01, 0x00, 0x01};
  absl::string_view ec_params;
  CK_MECHANISM mechanism = {mechanisms.generate, nullptr, 0};
  std::vector<CK_ATTRIBUTE> pub = {
      {CKA_TOKEN, &yes, sizeof(yes)},
      {CKA_PRIVATE, &no, sizeof(no)},
      {CKA_VERIFY, &yes, sizeof(yes)},
      {CKA_LABEL, const_cast<char*>(id.data()), id.size()},
      {CKA_ID, const_cast<char*>(id.data()), id.size()},
  };
  switch (type) {
    case KeyType::kEcdsaP256:
      ec_params = kP256Params;
      break;
    case KeyType::kEcdsaP384:
      ec_params = kP384Params;
      break;
    case KeyType::kEd25519:
      ec_params = kEd25519Params;
      break;
    case KeyType::kRsa2048:
      bits = 2048;
      break;
    case KeyType::kRsa3072:
      bits = 3072;
      break;
    case KeyType::kRsa4096:
      bits = 4096;
      break;
  }
  if (bits != 0) {
    pub.push_back({CKA_MODULUS_BITS, &bits, sizeof(bits)});
    pub.push_back({CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent)});
  } else {
    pub.push_back({CKA_EC_PARAMS, const_cast<char*>(ec_params.data()), ec_params.size()});
  }
  std::vector<CK_ATTRIBUTE> priv = {
      {CKA_TOKEN, &yes, sizeof(yes)},
      {CKA_PRIVATE, &yes, sizeof(yes)},
      {CKA_SENSITIVE, &yes, sizeof(yes)},
      {CKA_EXTRACTABLE, &no, sizeof(no)},
      {CKA_SIGN, &yes, sizeof(yes)},
      {CKA_LABEL, const_cast<char*>(id.data()), id.size()},
      {CKA_ID, const_cast<char*>(id.data()), id.size()},
  };
  CK_OBJECT_HANDLE pub_handle = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE priv_handle = CK_INVALID_HANDLE;
  CK_RV rv = f->C_GenerateKeyPair(lease->session(), &mechanism, pub.data(), pub.size(), priv.data(),
                                  priv.size(), &pub_handle, &priv_handle);
  if (rv != CKR_OK) {
    if (IsTokenGone(rv)) lease->MarkGone();
    return CkError(absl::StrCat("generating ", mechanisms.what, " \"", id, "\" in token ",
                                Describe(), " (", CkmName(mechanisms.generate), ")"),
                   rv);
  }
  absl::StatusOr<std::shared_ptr<const pki::Signer>> signer = MakeSigner(token_, *lease, id);
  if (!signer.ok()) {
    // Leave no half-made key behind.
    f->C_DestroyObject(lease->session(), priv_handle);
    f->C_DestroyObject(lease->session(), pub_handle);
  }
  return signer;
}

absl::Status Pkcs11KeyStore::ImportSigningKey(absl::string_view id, EVP_PKEY* key) {
  return absl::FailedPreconditionError(absl::StrCat(
      "importing \"", id, "\" into token ", Describe(),
      " is refused: a key that existed outside the HSM does not get its protection. Generate "
      "the key inside the token, or keep an imported CA in the sealed-file keystore"));
}

absl::StatusOr<std::shared_ptr<const pki::Signer>> Pkcs11KeyStore::GetSigner(
    absl::string_view id) const {
  absl::StatusOr<Pkcs11Token::Lease> lease = token_->Acquire();
  if (!lease.ok()) return lease.status();
  absl::StatusOr<std::shared_ptr<const pki::Signer>> signer = MakeSigner(token_, *lease, id);
  if (!signer.ok() && signer.status().code() == absl::StatusCode::kUnavailable) lease->MarkGone();
  return signer;
}

bool Pkcs11KeyStore::Contains(absl::string_view id) const {
  absl::StatusOr<Pkcs11Token::Lease> lease = token_->Acquire();
  if (!lease.ok()) return false;
  return FindKey(token_->f(), lease->session(), CKO_PRIVATE_KEY, id, Describe()).ok();
}

std::vector<std::string> Pkcs11KeyStore::List() const {
  std::vector<std::string> ids;
  absl::StatusOr<Pkcs11Token::Lease> lease = token_->Acquire();
  if (!lease.ok()) return ids;
  CK_OBJECT_CLASS object_class = CKO_PRIVATE_KEY;
  absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> found = FindObjects(
      token_->f(), lease->session(), {{CKA_CLASS, &object_class, sizeof(object_class)}});
  if (!found.ok()) return ids;
  for (CK_OBJECT_HANDLE handle : *found) {
    absl::StatusOr<std::string> label =
        GetAttribute(token_->f(), lease->session(), handle, CKA_LABEL);
    if (label.ok() && ValidateKeyId(*label).ok()) ids.push_back(*label);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

absl::Status Pkcs11KeyStore::DestroyKey(absl::string_view id) {
  absl::StatusOr<Pkcs11Token::Lease> lease = token_->Acquire();
  if (!lease.ok()) return lease.status();
  std::vector<CK_ATTRIBUTE> by_label = {{CKA_LABEL, const_cast<char*>(id.data()), id.size()}};
  absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> found =
      FindObjects(token_->f(), lease->session(), by_label);
  if (!found.ok()) return found.status();
  for (CK_OBJECT_HANDLE object : *found) {
    CK_RV rv = token_->f()->C_DestroyObject(lease->session(), object);
    if (rv != CKR_OK) return CkError(absl::StrCat("destroying \"", id, "\" in ", Describe()), rv);
  }
  return absl::OkStatus();
}

absl::Status Pkcs11KeyStore::CheckAvailable() const {
  absl::StatusOr<Pkcs11Token::Lease> lease = token_->Acquire();
  if (!lease.ok()) return lease.status();
  CK_SESSION_INFO info;
  CK_RV rv = token_->f()->C_GetSessionInfo(lease->session(), &info);
  if (rv == CKR_OK) {
    CK_TOKEN_INFO token_info;
    rv = token_->f()->C_GetTokenInfo(info.slotID, &token_info);
  }
  if (rv != CKR_OK) {
    if (IsTokenGone(rv)) lease->MarkGone();
    return absl::UnavailableError(
        absl::StrCat("token ", Describe(), " is unavailable: ", CkrName(rv)));
  }
  if (info.state != CKS_RW_USER_FUNCTIONS && info.state != CKS_RO_USER_FUNCTIONS) {
    lease->MarkGone();
    return absl::UnavailableError(absl::StrCat("token ", Describe(), " is not logged in"));
  }
  return absl::OkStatus();
}

int Pkcs11KeyStore::OpenSessions() const { return token_->OpenSessions(); }

std::string Pkcs11KeyStore::Describe() const { return token_->Describe(); }

}  // namespace meshtrust::keystore
