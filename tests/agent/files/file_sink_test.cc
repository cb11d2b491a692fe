#include "agent/files/file_sink.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "base/files.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace meshtrust::agent {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;

CaCerts Certs(const std::string& tag) {
  CaCerts c;
  c.ca_cert_pem = "cert-" + tag;
  c.ca_key_pem = SecretBytes::CopyOf(absl::string_view("key-" + tag));
  c.cert_chain_pem = "chain-" + tag;
  c.root_cert_pem = "root-" + tag;
  c.serial = tag;
  return c;
}

TEST(FileSinkTest, WritesTheWholeSetAndSwitchesAtomically) {
  testing::TempDir dir;
  FileSink sink(dir.Sub("cacerts"));
  ASSERT_OK_AND_ASSIGN(auto empty, sink.Read());
  EXPECT_FALSE(empty.has_value());
  ASSERT_THAT(sink.Write(Certs("1"), ""), IsOk());
  ASSERT_OK_AND_ASSIGN(auto first, sink.Read());
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->managed);
  EXPECT_TRUE(first->complete);
  EXPECT_EQ(first->files.ca_cert_pem, "cert-1");
  EXPECT_EQ(first->files.serial, "1");
  struct stat st;
  ASSERT_EQ(::stat(dir.Sub("cacerts/ca-key.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // A writer holding a stale version is refused; the set is unchanged.
  ASSERT_THAT(sink.Write(Certs("2"), first->version), IsOk());
  EXPECT_THAT(sink.Write(Certs("3"), first->version),
              StatusIs(absl::StatusCode::kAborted, ::testing::_));
  ASSERT_OK_AND_ASSIGN(auto second, sink.Read());
  EXPECT_EQ(second->files.ca_cert_pem, "cert-2");
  EXPECT_EQ(second->files.root_cert_pem, "root-2");
  // Only the current data directory remains.
  int data_dirs = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.Sub("cacerts"))) {
    std::string name = e.path().filename();
    if (name.rfind("..", 0) == 0 && name != "..data" && e.is_directory()) ++data_dirs;
  }
  EXPECT_EQ(data_dirs, 1);
}

TEST(FileSinkTest, ThePreviousKeyIsOverwrittenWithZerosBeforeItIsRemoved) {
  testing::TempDir dir;
  FileSink sink(dir.Sub("cacerts"));
  CaCerts first = Certs("1");
  first.ca_key_pem = SecretBytes::CopyOf(absl::string_view("-----BEGIN PRIVATE KEY-----old"));
  ASSERT_THAT(sink.Write(first, ""), IsOk());
  ASSERT_OK_AND_ASSIGN(auto installed, sink.Read());
  // A second name for the old key file keeps its blocks reachable after the
  // sink unlinks it.
  std::string held = dir.Sub("held-old-key");
  ASSERT_EQ(::link(dir.Sub("cacerts/" + installed->version + "/ca-key.pem").c_str(), held.c_str()),
            0);
  ASSERT_EQ(*ReadFile(held), "-----BEGIN PRIVATE KEY-----old");

  ASSERT_THAT(sink.Write(Certs("2"), installed->version), IsOk());
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("cacerts/" + installed->version)));
  ASSERT_OK_AND_ASSIGN(std::string left, ReadFile(held));
  EXPECT_EQ(left, std::string(std::strlen("-----BEGIN PRIVATE KEY-----old"), '\0'));
  ASSERT_OK_AND_ASSIGN(auto second, sink.Read());
  EXPECT_EQ(second->files.ca_key_pem.UnsafeSecretString(), "key-2");
}

TEST(OverwriteAndRemoveFileTest, RefusesLinksAndReportsMissingFiles) {
  testing::TempDir dir;
  ASSERT_THAT(WriteFileAtomically(dir.Sub("key"), "secret", 0600), IsOk());
  ASSERT_EQ(::symlink(dir.Sub("key").c_str(), dir.Sub("link").c_str()), 0);
  EXPECT_THAT(
      OverwriteAndRemoveFile(dir.Sub("link")),
      StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::HasSubstr("symbolic link")));
  EXPECT_EQ(*ReadFile(dir.Sub("key")), "secret");
  EXPECT_THAT(OverwriteAndRemoveFile(dir.Sub("missing")),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST(FileSinkTest, FilesWrittenByOthersAreNotManaged) {
  testing::TempDir dir;
  ASSERT_THAT(MakeDirectory(dir.Sub("cacerts"), 0755), IsOk());
  ASSERT_THAT(WriteFileAtomically(dir.Sub("cacerts/ca-cert.pem"), "theirs", 0644), IsOk());
  FileSink sink(dir.Sub("cacerts"));
  ASSERT_OK_AND_ASSIGN(auto found, sink.Read());
  ASSERT_TRUE(found.has_value());
  EXPECT_FALSE(found->managed);
  EXPECT_FALSE(found->complete);
}

TEST(FileSinkTest, MetadataOfTheWrongShapeMakesTheSetUnmanagedNotACrash) {
  testing::TempDir dir;
  FileSink sink(dir.Sub("cacerts"));
  ASSERT_THAT(sink.Write(Certs("1"), ""), IsOk());
  for (const char* meta : {R"({"managed_by":"meshtrust","serial":7})",
                           R"({"managed_by":["meshtrust"]})", R"({"managed_by":"someone-else"})",
                           R"({"managed_by":"meshtrust","not_after":null})", "[1]", "{", ""}) {
    SCOPED_TRACE(meta);
    ASSERT_THAT(WriteFileAtomically(dir.Sub("cacerts/..data/meshtrust.json"), meta, 0644), IsOk());
    ASSERT_OK_AND_ASSIGN(auto found, sink.Read());
    ASSERT_TRUE(found.has_value());
    EXPECT_FALSE(found->managed);
    EXPECT_TRUE(found->complete);
    EXPECT_EQ(found->files.serial, "");
  }
}

}  // namespace
}  // namespace meshtrust::agent
