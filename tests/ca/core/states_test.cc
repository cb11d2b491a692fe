// The domain states' names at the store and wire edges: each name parses
// back to its value, the certificate kinds are the store's, and a name this
// code never wrote is data loss, not a default.
#include "ca/core/states.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "ca/core/authority.h"
#include "ca/store/store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::ca {
namespace {

using ::meshtrust::testing::StatusIs;
using ::testing::HasSubstr;

constexpr absl::StatusCode kDataLoss = absl::StatusCode::kDataLoss;

TEST(StatesTest, RootStatusNamesRoundTrip) {
  const std::pair<RootStatus, absl::string_view> names[] = {
      {RootStatus::kActive, "active"},
      {RootStatus::kTrusted, "trusted"},
      {RootStatus::kRetired, "retired"},
  };
  for (const auto& [status, name] : names) {
    EXPECT_EQ(RootStatusName(status), name);
    absl::StatusOr<RootStatus> parsed = ParseRootStatus(name);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, status);
  }
}

TEST(StatesTest, RotationPhaseNamesRoundTrip) {
  const std::pair<RotationPhase, absl::string_view> names[] = {
      {RotationPhase::kIdle, "idle"},
      {RotationPhase::kBegun, "begun"},
      {RotationPhase::kActivated, "activated"},
  };
  for (const auto& [phase, name] : names) {
    EXPECT_EQ(RotationPhaseName(phase), name);
    absl::StatusOr<RotationPhase> parsed = ParseRotationPhase(name);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, phase);
  }
}

TEST(StatesTest, CertificateKindsAreTheStoresNames) {
  const std::pair<CertificateKind, absl::string_view> names[] = {
      {CertificateKind::kIntermediate, kKindIntermediate},
      {CertificateKind::kAgentIdentity, kKindAgentIdentity},
      {CertificateKind::kAdminIdentity, kKindAdminIdentity},
  };
  for (const auto& [kind, name] : names) {
    EXPECT_EQ(CertificateKindName(kind), name);
    absl::StatusOr<CertificateKind> parsed = ParseCertificateKind(name);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, kind);
    EXPECT_TRUE(IsCertificateKind(name, kind));
  }
  EXPECT_EQ(kKindIntermediate, "intermediate");
  EXPECT_EQ(kKindAgentIdentity, "agent-identity");
  EXPECT_EQ(kKindAdminIdentity, "admin-identity");
  EXPECT_FALSE(IsCertificateKind("intermediate", CertificateKind::kAgentIdentity));
}

TEST(StatesTest, UnknownNamesAreDataLoss) {
  EXPECT_THAT(ParseRootStatus("paused"), StatusIs(kDataLoss, "unknown root status \"paused\""));
  EXPECT_THAT(ParseRotationPhase("paused"), StatusIs(kDataLoss, "unknown phase \"paused\""));
  EXPECT_THAT(ParseCertificateKind("root"),
              StatusIs(kDataLoss, "unknown certificate kind \"root\""));
  // Case, padding and control bytes are not forgiven, and are escaped.
  EXPECT_THAT(ParseRootStatus("Active"), StatusIs(kDataLoss, ::testing::_));
  EXPECT_THAT(ParseRotationPhase("idle "), StatusIs(kDataLoss, ::testing::_));
  EXPECT_THAT(ParseRotationPhase(""), StatusIs(kDataLoss, "unknown phase \"\""));
  EXPECT_THAT(ParseCertificateKind(std::string("intermediate\0", 13)),
              StatusIs(kDataLoss, HasSubstr("\"intermediate\\x00\"")));
  EXPECT_FALSE(IsCertificateKind("", CertificateKind::kIntermediate));
}

// A root status the CA never wrote stops the CA from starting, rather than
// being read as "in the bundle" or "retired".
TEST(StatesTest, AnUnknownStoredRootStatusStopsTheAuthority) {
  testing::TestCaOptions options;
  options.serve = false;
  auto ca = testing::TestCa::Create(options);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((ca->state_dir() + "/ca.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE roots SET status = 'paused'", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto control = ca->state().LoadControlCa();
  ASSERT_TRUE(control.ok()) << control.status();
  EXPECT_THAT(Authority::Create(ca->store(), ca->state().keys.get(), ca->state().audit_signer.get(),
                                &SystemClock::Get(), *std::move(control), AuthorityOptions{}),
              StatusIs(kDataLoss, "mesh root \"mesh-root-1\": unknown root status \"paused\""));
}

}  // namespace
}  // namespace meshtrust::ca
