// The PKCS#11 keystore against a real SoftHSM2 token, made per test.
#include "keystore/pkcs11_keystore.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "keystore/pkcs11_module.h"
#include "pki/key.h"
#include "pki/signer.h"
#include "tests/testing/softhsm.h"
#include "tests/testing/status_matchers.h"

namespace meshtrust::keystore {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::kSoftHsmModule;
using ::meshtrust::testing::SoftHsmToken;
using ::meshtrust::testing::StatusIs;
using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A session of the test's own on the token, logged in, to look at what the
// store made the way another PKCS#11 application would.
class RawSession {
 public:
  explicit RawSession(const SoftHsmToken& token) {
    auto module = Pkcs11Module::Load(kSoftHsmModule);
    if (!module.ok()) return;
    module_ = *std::move(module);
    CK_ULONG n = 0;
    f()->C_GetSlotList(CK_TRUE, nullptr, &n);
    std::vector<CK_SLOT_ID> slots(n);
    f()->C_GetSlotList(CK_TRUE, slots.data(), &n);
    for (CK_ULONG i = 0; i < n; ++i) {
      CK_TOKEN_INFO info;
      if (f()->C_GetTokenInfo(slots[i], &info) != CKR_OK) continue;
      std::string label(reinterpret_cast<char*>(info.label), sizeof(info.label));
      if (label.rfind(token.label() + " ", 0) == 0) slot_ = slots[i];
    }
    if (f()->C_OpenSession(slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                           &session_) != CKR_OK) {
      return;
    }
    std::string pin = token.pin();
    f()->C_Login(session_, CKU_USER, reinterpret_cast<CK_UTF8CHAR*>(pin.data()), pin.size());
  }
  ~RawSession() {
    if (module_ != nullptr && session_ != CK_INVALID_HANDLE) f()->C_CloseSession(session_);
  }
  bool ok() const { return session_ != CK_INVALID_HANDLE; }
  CK_FUNCTION_LIST* f() const { return module_->functions(); }
  CK_SESSION_HANDLE session() const { return session_; }

  CK_OBJECT_HANDLE Find(CK_OBJECT_CLASS cls, const std::string& label) {
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
                           {CKA_LABEL, const_cast<char*>(label.data()), label.size()}};
    f()->C_FindObjectsInit(session_, tmpl, 2);
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_ULONG n = 0;
    f()->C_FindObjects(session_, &h, 1, &n);
    f()->C_FindObjectsFinal(session_);
    return n == 1 ? h : CK_INVALID_HANDLE;
  }
  bool Bool(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type) {
    CK_BBOOL v = CK_FALSE;
    CK_ATTRIBUTE attr = {type, &v, sizeof(v)};
    EXPECT_EQ(f()->C_GetAttributeValue(session_, h, &attr, 1), CKR_OK) << type;
    return v == CK_TRUE;
  }

  // Sessions this process has open with the module: SoftHSM hands out small
  // integer handles, and C_GetSessionInfo answers only for open ones.
  int CountOpenSessions(CK_SESSION_HANDLE except) {
    int count = 0;
    for (CK_SESSION_HANDLE h = 1; h < (1 << 16); ++h) {
      CK_SESSION_INFO info;
      if (h != except && f()->C_GetSessionInfo(h, &info) == CKR_OK) ++count;
    }
    return count;
  }

  // A key pair as another tool might make it: `ec_params` curve, flags as
  // given.
  bool MakeEcKey(const std::string& label, absl::string_view ec_params, bool extractable) {
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_BBOOL ext = extractable ? CK_TRUE : CK_FALSE;
    CK_BBOOL sensitive = extractable ? CK_FALSE : CK_TRUE;
    CK_ATTRIBUTE pub[] = {{CKA_TOKEN, &yes, 1},
                          {CKA_VERIFY, &yes, 1},
                          {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
                          {CKA_EC_PARAMS, const_cast<char*>(ec_params.data()), ec_params.size()}};
    CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &yes, 1},
                           {CKA_PRIVATE, &yes, 1},
                           {CKA_SENSITIVE, &sensitive, 1},
                           {CKA_EXTRACTABLE, &ext, 1},
                           {CKA_SIGN, &yes, 1},
                           {CKA_LABEL, const_cast<char*>(label.data()), label.size()}};
    (void)no;
    CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, nullptr, 0};
    CK_OBJECT_HANDLE a, b;
    return f()->C_GenerateKeyPair(session_, &mech, pub, 4, priv, 6, &a, &b) == CKR_OK;
  }

 private:
  std::shared_ptr<Pkcs11Module> module_;
  CK_SLOT_ID slot_ = 0;
  CK_SESSION_HANDLE session_ = CK_INVALID_HANDLE;
};

class Pkcs11KeyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(token_.error(), ""); }
  std::unique_ptr<Pkcs11KeyStore> OpenStore() {
    auto store = Pkcs11KeyStore::Open(token_.Uri());
    EXPECT_THAT(store, IsOk());
    return store.ok() ? *std::move(store) : nullptr;
  }
  SoftHsmToken token_;
};

void ExpectSignsAndVerifies(const pki::Signer& signer) {
  for (const std::string& message :
       {std::string("tbsCertificate bytes"), std::string(), std::string(100000, 'x')}) {
    ASSERT_OK_AND_ASSIGN(std::string sig, signer.Sign(message));
    EXPECT_TRUE(pki::VerifySignature(signer.public_key(), signer.algorithm(), message, sig))
        << pki::SignatureAlgorithmName(signer.algorithm());
    EXPECT_FALSE(pki::VerifySignature(signer.public_key(), signer.algorithm(), message + "!", sig));
  }
}

TEST_F(Pkcs11KeyStoreTest, GeneratesAndSignsWithEveryKeyType) {
  std::unique_ptr<Pkcs11KeyStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  struct Case {
    const char* id;
    KeyType type;
    pki::SignatureAlgorithm alg;
  } cases[] = {
      {"p256", KeyType::kEcdsaP256, pki::SignatureAlgorithm::kEcdsaSha256},
      {"p384", KeyType::kEcdsaP384, pki::SignatureAlgorithm::kEcdsaSha384},
      {"rsa2048", KeyType::kRsa2048, pki::SignatureAlgorithm::kRsaPkcs1Sha256},
      {"ed25519", KeyType::kEd25519, pki::SignatureAlgorithm::kEd25519},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.id);
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<const pki::Signer> signer,
                         store->GenerateSigningKey(c.id, c.type));
    EXPECT_EQ(signer->algorithm(), c.alg);
    ExpectSignsAndVerifies(*signer);
    // The same key found again, through a new store.
    auto reopened = OpenStore();
    ASSERT_NE(reopened, nullptr);
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<const pki::Signer> again, reopened->GetSigner(c.id));
    EXPECT_TRUE(pki::SamePublicKey(again->public_key(), signer->public_key()));
    ExpectSignsAndVerifies(*again);
  }
  ASSERT_OK_AND_ASSIGN(auto p256, store->GetSigner("p256"));
  EXPECT_EQ(pki::DescribeKey(p256->public_key()), "ECDSA prime256v1");
  EXPECT_THAT(store->List(), ElementsAre("ed25519", "p256", "p384", "rsa2048"));
  EXPECT_TRUE(store->Contains("p384"));
  EXPECT_FALSE(store->Contains("p521"));
}

TEST_F(Pkcs11KeyStoreTest, RsaKeysOfEverySize) {
  std::unique_ptr<Pkcs11KeyStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_OK_AND_ASSIGN(auto rsa3072, store->GenerateSigningKey("rsa3072", KeyType::kRsa3072));
  EXPECT_EQ(EVP_PKEY_get_bits(rsa3072->public_key()), 3072);
  ExpectSignsAndVerifies(*rsa3072);
}

TEST_F(Pkcs11KeyStoreTest, PrivateKeyCannotBeRead) {
  std::unique_ptr<Pkcs11KeyStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->GenerateSigningKey("mesh-root-1", KeyType::kEcdsaP256), IsOk());
  ASSERT_THAT(store->GenerateSigningKey("audit", KeyType::kEd25519), IsOk());
  RawSession raw(token_);
  ASSERT_TRUE(raw.ok());
  for (const char* label : {"mesh-root-1", "audit"}) {
    SCOPED_TRACE(label);
    CK_OBJECT_HANDLE priv = raw.Find(CKO_PRIVATE_KEY, label);
    ASSERT_NE(priv, CK_INVALID_HANDLE);
    unsigned char value[256];
    CK_ATTRIBUTE attr = {CKA_VALUE, value, sizeof(value)};
    EXPECT_EQ(raw.f()->C_GetAttributeValue(raw.session(), priv, &attr, 1), CKR_ATTRIBUTE_SENSITIVE);
    EXPECT_EQ(attr.ulValueLen, CK_UNAVAILABLE_INFORMATION);
    EXPECT_TRUE(raw.Bool(priv, CKA_SENSITIVE));
    EXPECT_TRUE(raw.Bool(priv, CKA_ALWAYS_SENSITIVE));
    EXPECT_FALSE(raw.Bool(priv, CKA_EXTRACTABLE));
    EXPECT_TRUE(raw.Bool(priv, CKA_NEVER_EXTRACTABLE));
    EXPECT_TRUE(raw.Bool(priv, CKA_PRIVATE));
    EXPECT_TRUE(raw.Bool(priv, CKA_TOKEN));
    // The key id is also CKA_ID.
    std::string id(64, '\0');
    CK_ATTRIBUTE id_attr = {CKA_ID, id.data(), id.size()};
    ASSERT_EQ(raw.f()->C_GetAttributeValue(raw.session(), priv, &id_attr, 1), CKR_OK);
    id.resize(id_attr.ulValueLen);
    EXPECT_EQ(id, label);
  }
}

TEST_F(Pkcs11KeyStoreTest, NeverOverwritesAKey) {
  std::unique_ptr<Pkcs11KeyStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_OK_AND_ASSIGN(auto first, store->GenerateSigningKey("mesh-root-1", KeyType::kEcdsaP256));
  EXPECT_THAT(store->GenerateSigningKey("mesh-root-1", KeyType::kEcdsaP384),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("never overwritten")));
  ASSERT_OK_AND_ASSIGN(auto again, store->GetSigner("mesh-root-1"));
  EXPECT_TRUE(pki::SamePublicKey(first->public_key(), again->public_key()));
  EXPECT_THAT(store->List(), ElementsAre("mesh-root-1"));
  EXPECT_THAT(store->GenerateSigningKey("Bad Id", KeyType::kEcdsaP256),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Bad Id")));
}

TEST_F(Pkcs11KeyStoreTest, RefusesToImport) {
  std::unique_ptr<Pkcs11KeyStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_OK_AND_ASSIGN(auto key, pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256));
  EXPECT_THAT(
      store->ImportSigningKey("imported", key.get()),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("Generate the key inside")));
  EXPECT_FALSE(store->Contains("imported"));
}

TEST_F(Pkcs11KeyStoreTest, ConcurrentSigningSharesAPoolAndLeaksNoSession) {
  std::unique_ptr<Pkcs11KeyStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_OK_AND_ASSIGN(auto signer, store->GenerateSigningKey("root", KeyType::kEcdsaP256));
  constexpr int kThreads = 16;
  constexpr int kEach = 40;
  std::atomic<int> good{0};
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string message = absl::StrCat("thread ", t, " message ", i);
        absl::StatusOr<std::string> sig = signer->Sign(message);
        if (sig.ok() &&
            pki::VerifySignature(signer->public_key(), signer->algorithm(), message, *sig)) {
          ++good;
        } else {
          ++bad;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(good.load(), kThreads * kEach);
  EXPECT_EQ(bad.load(), 0);
  // At most one session per concurrent signer, and all of them idle again.
  int pooled = store->OpenSessions();
  EXPECT_GE(pooled, 1);
  EXPECT_LE(pooled, kThreads);
  RawSession raw(token_);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw.CountOpenSessions(raw.session()), pooled);
  // Dropping the store and its signers closes every session.
  signer.reset();
  store.reset();
  EXPECT_EQ(raw.CountOpenSessions(raw.session()), 0);
}

TEST_F(Pkcs11KeyStoreTest, RefusesKeysOfTheWrongTypeOrThatCanLeave) {
  RawSession raw(token_);
  ASSERT_TRUE(raw.ok());
  // secp256k1: an EC key meshtrust does not sign with.
  ASSERT_TRUE(raw.MakeEcKey("k1", absl::string_view("\x06\x05\x2b\x81\x04\x00\x0a", 7), false));
  ASSERT_TRUE(raw.MakeEcKey(
      "extractable", absl::string_view("\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 10), true));
  std::unique_ptr<Pkcs11KeyStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->GetSigner("k1"), StatusIs(absl::StatusCode::kFailedPrecondition,
                                               HasSubstr("other than P-256 or P-384")));
  EXPECT_THAT(store->GetSigner("extractable"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("can leave the token")));
  EXPECT_THAT(
      store->GetSigner("missing"),
      StatusIs(absl::StatusCode::kNotFound, AllOf(HasSubstr("no private key labelled \"missing\""),
                                                  HasSubstr("token=meshtrust-test"))));
}

TEST_F(Pkcs11KeyStoreTest, OperatorErrorsSayWhatToFix) {
  const std::string module = absl::StrCat("?module-path=", kSoftHsmModule);
  const std::string pin = absl::StrCat("&pin-source=file:", token_.pin_file());
  // Module not found.
  EXPECT_THAT(
      Pkcs11KeyStore::Open("pkcs11:token=meshtrust-test?module-path=/nonexistent/"
                           "libvendor-pkcs11.so" +
                           pin),
      StatusIs(absl::StatusCode::kNotFound,
               AllOf(HasSubstr("/nonexistent/libvendor-pkcs11.so"), HasSubstr("does not exist"))));
  // A file that is not a module.
  EXPECT_THAT(
      Pkcs11KeyStore::Open("pkcs11:token=meshtrust-test?module-path=" + token_.conf() + pin),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("cannot load")));
  // Token absent: the message lists what is there.
  EXPECT_THAT(Pkcs11KeyStore::Open("pkcs11:token=other-token" + module + pin),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("no token matching pkcs11:token=other-token"),
                             HasSubstr("\"meshtrust-test\""))));
  // Wrong PIN.
  std::string wrong = token_.dir().Sub("wrong-pin");
  ASSERT_EQ(std::system(("echo 9999-wrong > " + wrong).c_str()), 0);
  EXPECT_THAT(
      Pkcs11KeyStore::Open("pkcs11:token=meshtrust-test" + module + "&pin-source=file:" + wrong),
      StatusIs(
          absl::StatusCode::kPermissionDenied,
          AllOf(HasSubstr("refused the PIN from file:" + wrong), HasSubstr("CKR_PIN_INCORRECT"))));
  // No PIN, a PIN on the command line, a missing PIN file.
  EXPECT_THAT(Pkcs11KeyStore::Open("pkcs11:token=meshtrust-test" + module),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("names no PIN source")));
  EXPECT_THAT(Pkcs11KeyStore::Open("pkcs11:token=meshtrust-test" + module + "&pin-value=1234"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pin-value")));
  EXPECT_THAT(Pkcs11KeyStore::Open("pkcs11:token=meshtrust-test" + module +
                                   "&pin-source=file:" + token_.dir().Sub("no-such-pin")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("reading the token PIN")));
  EXPECT_THAT(Pkcs11KeyStore::Open("pkcs11:token=meshtrust-test" + module +
                                   "&pin-source=env:MESHTRUST_TEST_UNSET_PIN"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("MESHTRUST_TEST_UNSET_PIN")));
  EXPECT_THAT(Pkcs11KeyStore::Open("pkcs11:object=x" + module + pin),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("names no token")));
  EXPECT_THAT(Pkcs11KeyStore::Open("pkcs11:token=meshtrust-test?pin-source=file:/x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("names no module")));
  // The PIN from the environment works.
  ::setenv("MESHTRUST_TEST_HSM_PIN", token_.pin().c_str(), 1);
  EXPECT_THAT(Pkcs11KeyStore::Open("pkcs11:token=meshtrust-test" + module +
                                   "&pin-source=env:MESHTRUST_TEST_HSM_PIN"),
              IsOk());
  ::unsetenv("MESHTRUST_TEST_HSM_PIN");
}

TEST(Pkcs11KeyStoreMechanismTest, ATokenWithoutEd25519SaysSo) {
  SoftHsmToken token("no-eddsa", "slots.mechanisms = -CKM_EC_EDWARDS_KEY_PAIR_GEN,CKM_EDDSA");
  ASSERT_EQ(token.error(), "");
  ASSERT_OK_AND_ASSIGN(auto store, Pkcs11KeyStore::Open(token.Uri()));
  EXPECT_THAT(store->GenerateSigningKey("audit", KeyType::kEd25519),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("does not offer CKM_E"),
                             AnyOf(HasSubstr("CKM_EDDSA"), HasSubstr("CKM_EC_EDWARDS")),
                             HasSubstr("keep the audit key sealed"))));
  EXPECT_FALSE(store->Contains("audit"));
  // What it does offer still works.
  ASSERT_OK_AND_ASSIGN(auto root, store->GenerateSigningKey("root", KeyType::kEcdsaP384));
  ExpectSignsAndVerifies(*root);
}

TEST_F(Pkcs11KeyStoreTest, RemovedTokenFailsClosedAndRecovers) {
  std::unique_ptr<Pkcs11KeyStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_OK_AND_ASSIGN(auto signer, store->GenerateSigningKey("root", KeyType::kEcdsaP256));
  ASSERT_THAT(signer->Sign("before"), IsOk());
  EXPECT_THAT(store->CheckAvailable(), IsOk());

  ASSERT_TRUE(token_.Remove());
  EXPECT_THAT(signer->Sign("while away"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("token=meshtrust-test")));
  EXPECT_THAT(store->CheckAvailable(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("token=meshtrust-test")));
  EXPECT_THAT(store->GetSigner("root"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("unavailable")));

  ASSERT_TRUE(token_.Restore());
  EXPECT_THAT(store->CheckAvailable(), IsOk());
  ASSERT_OK_AND_ASSIGN(std::string sig, signer->Sign("after"));
  EXPECT_TRUE(pki::VerifySignature(signer->public_key(), signer->algorithm(), "after", sig));
}

}  // namespace
}  // namespace meshtrust::keystore
