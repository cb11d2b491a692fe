// The agent's own identity kept in a directory: a restart loads exactly what
// was saved, and a damaged file is a named error, never a crash or a
// half-read identity.
#include "agent/files/file_identity_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "base/files.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace meshtrust::agent {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

client::Identity Sample() {
  client::Identity id;
  id.identity = "spiffe://meshtrust/cluster/cluster1";
  id.certificate_pem = "-----BEGIN CERTIFICATE-----\ncert\n-----END CERTIFICATE-----\n";
  id.key_pem = SecretBytes::CopyOf(absl::string_view("-----BEGIN PRIVATE KEY-----\nk\n"));
  id.control_ca_pem = "control-ca";
  return id;
}

TEST(FileIdentityStoreTest, LoadsWhatWasSavedFromAPrivateFile) {
  testing::TempDir dir;
  FileIdentityStore store(dir.Sub("state"));
  ASSERT_OK_AND_ASSIGN(auto nothing, store.Load());
  EXPECT_FALSE(nothing.has_value());
  ASSERT_THAT(store.Save(Sample()), IsOk());
  struct stat st;
  ASSERT_EQ(::stat(dir.Sub("state/identity.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_OK_AND_ASSIGN(auto loaded, store.Load());
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->identity, Sample().identity);
  EXPECT_EQ(loaded->certificate_pem, Sample().certificate_pem);
  EXPECT_EQ(loaded->control_ca_pem, Sample().control_ca_pem);
  EXPECT_TRUE(loaded->key_pem.Equals(Sample().key_pem));

  ASSERT_EQ(::chmod(dir.Sub("state/identity.json").c_str(), 0644), 0);
  EXPECT_THAT(store.Load(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("identity.json")));
}

TEST(FileIdentityStoreTest, AuditKeyAndCheckpointAreKeptApart) {
  testing::TempDir dir;
  FileIdentityStore store(dir.Sub("state"));
  client::Identity id = Sample();
  id.audit_public_key = std::string(32, '\x07');
  ASSERT_THAT(store.Save(id), IsOk());
  ASSERT_OK_AND_ASSIGN(auto none, store.LoadCheckpoint());
  EXPECT_FALSE(none.has_value());
  ca::AuditCheckpoint checkpoint{17, std::string(32, 'h'), std::string(64, 's')};
  ASSERT_THAT(store.SaveCheckpoint(checkpoint), IsOk());
  // Renewing the identity rewrites identity.json only.
  ASSERT_THAT(store.Save(id), IsOk());
  ASSERT_OK_AND_ASSIGN(auto loaded, store.Load());
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->audit_public_key, id.audit_public_key);
  ASSERT_OK_AND_ASSIGN(auto kept, store.LoadCheckpoint());
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->sequence, 17u);
  EXPECT_EQ(kept->head_hash, checkpoint.head_hash);

  ASSERT_THAT(WriteFileAtomically(dir.Sub("state/audit-checkpoint.json"), "{}", 0600), IsOk());
  EXPECT_THAT(store.LoadCheckpoint(),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("audit-checkpoint.json is not an audit checkpoint"),
                             HasSubstr("restore it from a backup"))));
}

TEST(FileIdentityStoreTest, EveryKindOfDamagedFileIsNamedDataLoss) {
  const char* whole_but_key = R"("identity":"i","tls.crt":"c","ca.crt":"a")";
  std::string with_number_key = std::string("{") + whole_but_key + R"(,"tls.key":5})";
  std::string without_key = std::string("{") + whole_but_key + "}";
  std::string with_array_identity =
      R"({"identity":["i"],"tls.crt":"c","ca.crt":"a","tls.key":"k"})";
  std::string without_cert = R"({"identity":"i","ca.crt":"a","tls.key":"k"})";
  std::string with_null_ca = R"({"identity":"i","tls.crt":"c","ca.crt":null,"tls.key":"k"})";
  for (const auto& [text, why] : std::vector<std::pair<std::string, std::string>>{
           {"", "not JSON"},
           {"{\"identity\":", "not JSON"},
           {"[1,2]", "not a JSON object"},
           {"\"tls.key\"", "not a JSON object"},
           {with_number_key, "field \"tls.key\" is number, not a string"},
           {without_key, "no field \"tls.key\""},
           {with_array_identity, "field \"identity\" is array, not a string"},
           {without_cert, "no field \"tls.crt\""},
           {with_null_ca, "field \"ca.crt\" is null, not a string"},
       }) {
    SCOPED_TRACE(text);
    EXPECT_THAT(
        ParseIdentityFile(text, "/state/identity.json"),
        StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("/state/identity.json is corrupt"),
                                                    HasSubstr(why), HasSubstr("enroll again"))));
  }
}

TEST(FileIdentityStoreTest, ADamagedFileOnDiskIsRefusedByLoad) {
  testing::TempDir dir;
  FileIdentityStore store(dir.Sub("state"));
  ASSERT_THAT(store.Save(Sample()), IsOk());
  ASSERT_THAT(
      WriteFileAtomically(dir.Sub("state/identity.json"),
                          R"({"identity":1,"tls.crt":"c","ca.crt":"a","tls.key":"k"})", 0600),
      IsOk());
  EXPECT_THAT(store.Load(), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("is corrupt")));
}

}  // namespace
}  // namespace meshtrust::agent
