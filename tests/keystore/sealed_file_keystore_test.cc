#include "keystore/sealed_file_keystore.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "base/files.h"
#include "pki/key.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace meshtrust::keystore {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::meshtrust::testing::TempDir;
using ::testing::HasSubstr;

void WriteBytes(const std::string& path, const std::string& data) {
  ASSERT_THAT(WriteFileAtomically(path, data, 0600), IsOk());
}

std::string Slurp(const std::string& path) { return *ReadFile(path); }

class SealedFileKeyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteBytes(dir_.Sub("kek"), std::string(32, '\x42'));
    std::filesystem::create_directory(dir_.Sub("keys"));
    auto store = SealedFileKeyStore::Create(dir_.Sub("keys"), KekSource::KeyFile(dir_.Sub("kek")));
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
    key_ = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
    ASSERT_THAT(store_->PutKey("root", key_.get()), IsOk());
  }
  TempDir dir_;
  std::unique_ptr<SealedFileKeyStore> store_;
  ossl::UniquePtr<EVP_PKEY> key_;
};

TEST_F(SealedFileKeyStoreTest, RoundTripsThroughReopen) {
  ASSERT_OK_AND_ASSIGN(auto reopened, SealedFileKeyStore::Open(
                                          dir_.Sub("keys"), KekSource::KeyFile(dir_.Sub("kek"))));
  ASSERT_OK_AND_ASSIGN(ossl::UniquePtr<EVP_PKEY> back, reopened->GetKey("root"));
  EXPECT_TRUE(pki::SamePublicKey(back.get(), key_.get()));
  EXPECT_THAT(reopened->List(), ::testing::ElementsAre("root"));
  EXPECT_TRUE(reopened->Contains("root"));
  EXPECT_FALSE(reopened->Contains("other"));
}

TEST_F(SealedFileKeyStoreTest, FileHoldsNoPlaintextKey) {
  ASSERT_OK_AND_ASSIGN(SecretBytes der, pki::PrivateKeyToPkcs8Der(key_.get()));
  std::string file = Slurp(store_->PathFor("root"));
  // Neither the PKCS#8 encoding nor any 16-byte window of it appears.
  std::string plain(der.UnsafeSecretString());
  for (size_t i = 0; i + 16 <= plain.size(); i += 8) {
    EXPECT_EQ(file.find(plain.substr(i, 16)), std::string::npos) << "window at " << i;
  }
  EXPECT_EQ(file.rfind("meshtrust-sealed-key v1\n", 0), 0u);
}

TEST_F(SealedFileKeyStoreTest, NeverOverwrites) {
  auto other = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  std::string before = Slurp(store_->PathFor("root"));
  EXPECT_THAT(store_->PutKey("root", other.get()),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("never overwritten")));
  EXPECT_EQ(Slurp(store_->PathFor("root")), before);
}

TEST_F(SealedFileKeyStoreTest, WrongKeyFileIsRefusedAndReadsNothing) {
  WriteBytes(dir_.Sub("wrong"), std::string(32, '\x43'));
  EXPECT_THAT(
      SealedFileKeyStore::Open(dir_.Sub("keys"), KekSource::KeyFile(dir_.Sub("wrong"))),
      StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("passphrase or key file is wrong")));
  WriteBytes(dir_.Sub("short"), std::string(31, '\x43'));
  EXPECT_THAT(SealedFileKeyStore::Open(dir_.Sub("keys"), KekSource::KeyFile(dir_.Sub("short"))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exactly 32 random bytes")));
  EXPECT_THAT(
      SealedFileKeyStore::Open(dir_.Sub("keys"), KekSource::PassphraseFile(dir_.Sub("kek"))),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("sealed with a key file")));
}

TEST_F(SealedFileKeyStoreTest, KekFilesReadableByOthersOwnedByOthersOrLinkedAreRefused) {
  auto open_with = [&](const std::string& kek) {
    return SealedFileKeyStore::Open(dir_.Sub("keys"), KekSource::KeyFile(kek));
  };
  std::string kek = dir_.Sub("kek");
  ASSERT_EQ(::chmod(kek.c_str(), 0640), 0);
  EXPECT_THAT(open_with(kek),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(absl::StrCat(kek,
                                              " has mode 0640, readable or writable by group "
                                              "or others; run chmod 600 ",
                                              kek))));
  std::filesystem::create_directory(dir_.Sub("keys2"));
  EXPECT_THAT(SealedFileKeyStore::Create(dir_.Sub("keys2"), KekSource::PassphraseFile(kek)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("cannot read the keystore passphrase file")));
  ASSERT_EQ(::chmod(kek.c_str(), 0600), 0);
  ASSERT_EQ(::chown(kek.c_str(), 65534, 65534), 0);
  EXPECT_THAT(open_with(kek),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(absl::StrCat(kek, " is owned by uid 65534, not by uid ",
                                              ::geteuid(), " that this process runs as; run chown ",
                                              ::geteuid(), " ", kek))));
  ASSERT_EQ(::chown(kek.c_str(), ::geteuid(), ::getegid()), 0);
  // A link anywhere else is refused, even to a good file.
  ASSERT_EQ(::symlink(kek.c_str(), dir_.Sub("linked-kek").c_str()), 0);
  EXPECT_THAT(open_with(dir_.Sub("linked-kek")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(absl::StrCat(dir_.Sub("linked-kek"), " is a symbolic link"))));
  ASSERT_THAT(open_with(kek), IsOk());
}

TEST_F(SealedFileKeyStoreTest, AKekFromAKubernetesSecretVolumeIsRead) {
  // The kubelet's layout: mount/kek -> ..data/kek, ..data -> ..<time>/, the
  // file 0440 root:<fsGroup> (fsGroup is one of the process's groups).
  std::string mount = dir_.Sub("mount");
  std::filesystem::create_directories(mount + "/..2026_01_01_00_00_00.1");
  std::string file = mount + "/..2026_01_01_00_00_00.1/kek";
  WriteBytes(file, std::string(32, '\x42'));
  ASSERT_EQ(::symlink("..2026_01_01_00_00_00.1", (mount + "/..data").c_str()), 0);
  ASSERT_EQ(::symlink("..data/kek", (mount + "/kek").c_str()), 0);
  ASSERT_EQ(::chown(file.c_str(), 0, ::getegid()), 0);
  ASSERT_EQ(::chmod(file.c_str(), 0440), 0);
  ASSERT_OK_AND_ASSIGN(auto reopened, SealedFileKeyStore::Open(dir_.Sub("keys"),
                                                               KekSource::KeyFile(mount + "/kek")));
  EXPECT_TRUE(reopened->Contains("root"));
  // Readable by others, or writable, it is refused there too.
  for (mode_t mode : {0444, 0640}) {
    ASSERT_EQ(::chmod(file.c_str(), mode), 0);
    EXPECT_THAT(SealedFileKeyStore::Open(dir_.Sub("keys"), KekSource::KeyFile(mount + "/kek")),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr("readable or writable by group or others")))
        << mode;
  }
  // The file behind ..data may not itself be a link.
  ASSERT_EQ(::chmod(file.c_str(), 0400), 0);
  std::string elsewhere = dir_.Sub("elsewhere");
  WriteBytes(elsewhere, std::string(32, '\x42'));
  ASSERT_EQ(::unlink(file.c_str()), 0);
  ASSERT_EQ(::symlink(elsewhere.c_str(), file.c_str()), 0);
  EXPECT_THAT(SealedFileKeyStore::Open(dir_.Sub("keys"), KekSource::KeyFile(mount + "/kek")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is a symbolic link")));
}

TEST_F(SealedFileKeyStoreTest, ALinkedOrForeignKeyFileIsRefused) {
  std::string path = store_->PathFor("root");
  std::string moved = dir_.Sub("root.key.elsewhere");
  ASSERT_EQ(::rename(path.c_str(), moved.c_str()), 0);
  ASSERT_EQ(::symlink(moved.c_str(), path.c_str()), 0);
  EXPECT_THAT(store_->GetSecret("root"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(absl::StrCat(path, " is a symbolic link"))));
  ASSERT_EQ(::unlink(path.c_str()), 0);
  ASSERT_EQ(::rename(moved.c_str(), path.c_str()), 0);
  ASSERT_THAT(store_->GetSecret("root"), IsOk());
  ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
  EXPECT_THAT(store_->GetSecret("root"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is owned by uid 65534")));
}

TEST_F(SealedFileKeyStoreTest, EveryFlippedBitIsDetected) {
  std::string path = store_->PathFor("root");
  std::string good = Slurp(path);
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    WriteBytes(path, bad);
    EXPECT_THAT(store_->GetSecret("root"), StatusIs(absl::StatusCode::kDataLoss, ::testing::_))
        << "bit flip at byte " << i << " went unnoticed";
  }
  WriteBytes(path, good);
  EXPECT_THAT(store_->GetSecret("root"), IsOk());
}

TEST_F(SealedFileKeyStoreTest, TruncationAndSwapsAreDetected) {
  std::string path = store_->PathFor("root");
  std::string good = Slurp(path);
  WriteBytes(path, good.substr(0, good.size() - 1));
  EXPECT_THAT(store_->GetSecret("root"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("failed authentication")));
  WriteBytes(path, good + "x");
  EXPECT_THAT(store_->GetSecret("root"), StatusIs(absl::StatusCode::kDataLoss, ::testing::_));
  WriteBytes(path, good);

  // Swapping two entries' files.
  auto other = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  ASSERT_THAT(store_->PutKey("other", other.get()), IsOk());
  std::string other_file = Slurp(store_->PathFor("other"));
  WriteBytes(path, other_file);
  EXPECT_THAT(store_->GetSecret("root"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("renamed or swapped")));
  // Even with the id in the header rewritten, the associated data gives it away.
  std::string forged = other_file;
  size_t at = forged.find("other");
  forged.replace(at, 5, "root\0", 5);
  forged[at - 1] = 4;
  forged.erase(at + 4, 1);
  WriteBytes(path, forged);
  EXPECT_THAT(store_->GetSecret("root"), StatusIs(absl::StatusCode::kDataLoss, ::testing::_));
}

TEST_F(SealedFileKeyStoreTest, RejectsBadIds) {
  EXPECT_THAT(store_->PutKey("../escape", key_.get()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("outside")));
  EXPECT_THAT(store_->GetSecret("Root"),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(store_->GetSecret("missing"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no key")));
}

TEST(SealedFileKeyStorePassphraseTest, PassphraseKekWorksAndWrongOneIsRefused) {
  TempDir dir;
  std::filesystem::create_directory(dir.Sub("keys"));
  WriteBytes(dir.Sub("pass"), "correct horse battery staple\n");
  WriteBytes(dir.Sub("wrong"), "incorrect horse battery staple\n");
  WriteBytes(dir.Sub("short"), "short\n");
  Argon2Params cheap{1, 8u << 20};  // Fast for tests; production defaults are stronger.
  EXPECT_THAT(SealedFileKeyStore::Create(dir.Sub("keys"),
                                         KekSource::PassphraseFile(dir.Sub("short")), cheap),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("shorter than 12")));
  ASSERT_OK_AND_ASSIGN(
      auto store, SealedFileKeyStore::Create(dir.Sub("keys"),
                                             KekSource::PassphraseFile(dir.Sub("pass")), cheap));
  SecretBytes seed = SecretBytes::CopyOf(absl::string_view("0123456789abcdef0123456789abcdef"));
  ASSERT_THAT(store->PutSecret("seed", kFormatEd25519Seed, seed), IsOk());
  ASSERT_OK_AND_ASSIGN(
      auto reopened,
      SealedFileKeyStore::Open(dir.Sub("keys"), KekSource::PassphraseFile(dir.Sub("pass"))));
  ASSERT_OK_AND_ASSIGN(SecretEntry entry, reopened->GetSecret("seed"));
  EXPECT_EQ(entry.format, kFormatEd25519Seed);
  EXPECT_TRUE(entry.secret.Equals(seed));
  EXPECT_THAT(reopened->GetKey("seed"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a PKCS#8")));
  EXPECT_THAT(
      SealedFileKeyStore::Open(dir.Sub("keys"), KekSource::PassphraseFile(dir.Sub("wrong"))),
      StatusIs(absl::StatusCode::kPermissionDenied, ::testing::_));
  EXPECT_THAT(SealedFileKeyStore::Create(dir.Sub("keys"),
                                         KekSource::PassphraseFile(dir.Sub("pass")), cheap),
              StatusIs(absl::StatusCode::kAlreadyExists, ::testing::_));

  // A tampered header (here the Argon2id cost) fails the check value: nothing is read.
  std::string meta = Slurp(dir.Sub("keys/keystore.meta"));
  meta[22 + 1 + 16 + 7] ^= 0x02;  // Low byte of opslimit: 1 becomes 3.
  WriteBytes(dir.Sub("keys/keystore.meta"), meta);
  EXPECT_THAT(SealedFileKeyStore::Open(dir.Sub("keys"), KekSource::PassphraseFile(dir.Sub("pass"))),
              StatusIs(absl::StatusCode::kPermissionDenied, ::testing::_));
  meta[22 + 1 + 16 + 7] = 0;  // Below libsodium's minimum: reported as corruption.
  WriteBytes(dir.Sub("keys/keystore.meta"), meta);
  EXPECT_THAT(SealedFileKeyStore::Open(dir.Sub("keys"), KekSource::PassphraseFile(dir.Sub("pass"))),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("out-of-range Argon2id")));
}

}  // namespace
}  // namespace meshtrust::keystore

namespace meshtrust::keystore {
namespace {

class SealedFileKeyStoreSignerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(WriteFileAtomically(dir_.Sub("kek"), std::string(32, '\x42'), 0600), IsOk());
    std::filesystem::create_directory(dir_.Sub("keys"));
    ASSERT_OK_AND_ASSIGN(
        store_, SealedFileKeyStore::Create(dir_.Sub("keys"), KekSource::KeyFile(dir_.Sub("kek"))));
  }
  std::unique_ptr<SealedFileKeyStore> Reopen() {
    return *SealedFileKeyStore::Open(dir_.Sub("keys"), KekSource::KeyFile(dir_.Sub("kek")));
  }
  TempDir dir_;
  std::unique_ptr<SealedFileKeyStore> store_;
};

TEST_F(SealedFileKeyStoreSignerTest, GeneratedKeysSignAndComeBackAsTheSameSigner) {
  struct Case {
    KeyType type;
    pki::SignatureAlgorithm algorithm;
  };
  for (const Case& c : {Case{KeyType::kEcdsaP256, pki::SignatureAlgorithm::kEcdsaSha256},
                        Case{KeyType::kEcdsaP384, pki::SignatureAlgorithm::kEcdsaSha384},
                        Case{KeyType::kRsa2048, pki::SignatureAlgorithm::kRsaPkcs1Sha256},
                        Case{KeyType::kEd25519, pki::SignatureAlgorithm::kEd25519}}) {
    std::string id = absl::StrCat("key-", static_cast<int>(c.type));
    SCOPED_TRACE(id);
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<const pki::Signer> made,
                         store_->GenerateSigningKey(id, c.type));
    EXPECT_EQ(made->algorithm(), c.algorithm);
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<const pki::Signer> back, Reopen()->GetSigner(id));
    EXPECT_EQ(back->algorithm(), c.algorithm);
    EXPECT_TRUE(pki::SamePublicKey(made->public_key(), back->public_key()));
    ASSERT_OK_AND_ASSIGN(std::string sig, back->Sign("audit head 7"));
    EXPECT_TRUE(pki::VerifySignature(made->public_key(), c.algorithm, "audit head 7", sig));
    // The private key is in the file only sealed.
    EXPECT_EQ(Slurp(store_->PathFor(id)).find("PRIVATE"), std::string::npos);
  }
  EXPECT_THAT(store_->GenerateSigningKey("key-0", KeyType::kEcdsaP256),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("never overwritten")));
  EXPECT_THAT(store_->GenerateSigningKey("Bad/Id", KeyType::kEcdsaP256),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("outside")));
  EXPECT_THAT(store_->List(), ::testing::SizeIs(4));
}

TEST_F(SealedFileKeyStoreSignerTest, ImportedKeysSignAsThemselves) {
  ossl::UniquePtr<EVP_PKEY> key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP384);
  ASSERT_THAT(store_->ImportSigningKey("imported", key.get()), IsOk());
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<const pki::Signer> signer, store_->GetSigner("imported"));
  EXPECT_TRUE(pki::SamePublicKey(signer->public_key(), key.get()));
  ASSERT_OK_AND_ASSIGN(std::string sig, signer->Sign("m"));
  EXPECT_TRUE(pki::VerifySignature(key.get(), pki::SignatureAlgorithm::kEcdsaSha384, "m", sig));
  ossl::UniquePtr<EVP_PKEY> x25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
  EXPECT_THAT(store_->ImportSigningKey("dh", x25519.get()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cannot sign with")));
  EXPECT_FALSE(store_->Contains("dh"));
}

// Keystores written before every key was PKCS#8 hold the audit key as a raw
// Ed25519 seed; it signs exactly as libsodium's key from that seed did.
TEST_F(SealedFileKeyStoreSignerTest, ALegacyEd25519SeedEntrySigns) {
  SecretBytes seed = SecretBytes::CopyOf(absl::string_view("0123456789abcdef0123456789abcdef"));
  ASSERT_THAT(store_->PutSecret("audit", kFormatEd25519Seed, seed), IsOk());
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<const pki::Signer> signer, store_->GetSigner("audit"));
  EXPECT_EQ(signer->algorithm(), pki::SignatureAlgorithm::kEd25519);
  ASSERT_OK_AND_ASSIGN(std::string sig, signer->Sign("record"));
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(pk, sk, seed.UnsafeSecretView().data());
  ASSERT_EQ(sig.size(), crypto_sign_BYTES);
  EXPECT_EQ(crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(sig.data()),
                                        reinterpret_cast<const unsigned char*>("record"), 6, pk),
            0);
}

TEST_F(SealedFileKeyStoreSignerTest, ADamagedOrMissingKeyGivesNoSigner) {
  ASSERT_THAT(store_->GenerateSigningKey("root", KeyType::kEcdsaP256), IsOk());
  std::string path = store_->PathFor("root");
  std::string good = Slurp(path);
  std::string bad = good;
  bad[bad.size() - 3] ^= 0x10;
  ASSERT_THAT(WriteFileAtomically(path, bad, 0600), IsOk());
  EXPECT_THAT(store_->GetSigner("root"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("failed authentication")));
  EXPECT_THAT(store_->GetSigner("absent"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no key \"absent\"")));
}

}  // namespace
}  // namespace meshtrust::keystore
