// meshtrustctl against a real CA for what operators see of clusters:
// a rotation requested while no agent is connected, `status` telling an
// issued intermediate from an installed one, and changing a cluster's
// issuance limit.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::ctl {
namespace {

using ::meshtrust::testing::CommandResult;
using ::meshtrust::testing::FreshCsr;
using ::meshtrust::testing::RunCommand;
using ::meshtrust::testing::ShellQuote;
using ::testing::HasSubstr;
using ::testing::Not;

class ClusterCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = testing::TestCa::Create();
    config_ = dir_.Sub("ctl");
    auto token = ca_->authority()->CreateAdminToken(
        ca::EnrollmentSubject{ca::CallerKind::kOperator, "alice"}, std::chrono::minutes(10));
    ASSERT_TRUE(token.ok()) << token.status();
    CommandResult login = Ctl(absl::StrCat("--ca ", ca_->address(), " login --pin ", ca_->pin(),
                                           " --token ", token->token));
    ASSERT_EQ(login.exit_code, 0) << login.output;
    ca_->AddCluster("c1");
    agent_ = ca_->LocalAgent("c1");
  }
  CommandResult Ctl(const std::string& args) {
    return RunCommand(
        absl::StrCat(MESHTRUST_CTL_BINARY, " --config-dir ", ShellQuote(config_), " ", args));
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::TestCa> ca_;
  std::string config_;
  ca::Caller agent_;
};

TEST_F(ClusterCliTest, RotationWithNoAgentConnectedIsRequestedAndStatusShowsWhatIsInstalled) {
  CommandResult rotate = Ctl("rotate intermediate --cluster c1");
  EXPECT_EQ(rotate.exit_code, 0) << rotate.output;
  EXPECT_THAT(rotate.output,
              HasSubstr("rotation requested; it will be delivered when the agent of c1 connects"));

  // Signed, not installed: status flags it, shows nothing installed and the
  // signed one as pending, and exits 1.
  auto issued =
      ca_->authority()->SignIntermediate(agent_, "c1", FreshCsr(), std::chrono::seconds(0));
  ASSERT_TRUE(issued.ok()) << issued.status();
  CommandResult pending = Ctl("status");
  EXPECT_EQ(pending.exit_code, 1) << pending.output;
  EXPECT_THAT(pending.output, HasSubstr("PENDING"));
  EXPECT_THAT(pending.output, HasSubstr(issued->serial));
  EXPECT_THAT(pending.output, HasSubstr("requested "));
  EXPECT_THAT(pending.output, HasSubstr(absl::StrCat("c1: intermediate ", issued->serial,
                                                     " was issued but its agent never reported "
                                                     "it installed")));
  CommandResult json = Ctl("-o json status");
  EXPECT_THAT(json.output, HasSubstr(absl::StrCat("\"pending_serial\": \"", issued->serial)));
  EXPECT_THAT(json.output, HasSubstr("\"acked_serial\": \"\""));

  // Installed: the rotation request is done and all is well.
  ASSERT_TRUE(ca_->authority()->Ack(agent_, "c1", issued->serial, issued->bundle.sha256).ok());
  CommandResult installed = Ctl("status");
  EXPECT_EQ(installed.exit_code, 0) << installed.output;
  EXPECT_THAT(installed.output, HasSubstr("all enabled clusters are in sync"));
  EXPECT_THAT(installed.output, Not(HasSubstr("requested ")));
  json = Ctl("-o json status");
  EXPECT_THAT(json.output, HasSubstr(absl::StrCat("\"acked_serial\": \"", issued->serial)));
  EXPECT_THAT(json.output, HasSubstr("\"pending_serial\": \"\""));
}

TEST_F(ClusterCliTest, AnOperatorChangesAndLiftsAClustersIssuanceLimit) {
  CommandResult set = Ctl("cluster limit c1 --burst 3 --refill-every 1h");
  EXPECT_EQ(set.exit_code, 0) << set.output;
  EXPECT_THAT(set.output, HasSubstr("cluster c1: at most 3 intermediates (and 3 identity "
                                    "renewals) at once, then one more every 1h0m"));
  EXPECT_EQ(ca_->store()->GetCluster("c1")->policy.issuance,
            (ca::IssuanceLimit{false, 3, std::chrono::hours(1)}));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(ca_->authority()->SignIntermediate(agent_, "c1", FreshCsr(), {}).ok());
  }
  EXPECT_EQ(ca_->authority()->SignIntermediate(agent_, "c1", FreshCsr(), {}).status().code(),
            absl::StatusCode::kResourceExhausted);

  CommandResult lifted = Ctl("cluster limit c1 --unlimited");
  EXPECT_EQ(lifted.exit_code, 0) << lifted.output;
  EXPECT_THAT(lifted.output, HasSubstr("cluster c1: issuance is no longer limited"));
  EXPECT_TRUE(ca_->authority()->SignIntermediate(agent_, "c1", FreshCsr(), {}).ok());

  CommandResult back = Ctl("cluster limit c1 --default");
  EXPECT_EQ(back.exit_code, 0) << back.output;
  EXPECT_EQ(ca_->store()->GetCluster("c1")->policy.issuance, ca::IssuanceLimit{});

  EXPECT_EQ(Ctl("cluster limit c1").exit_code, 2);
  CommandResult bad = Ctl("cluster limit c1 --burst 0 --refill-every 1h");
  EXPECT_NE(bad.exit_code, 0);
  CommandResult unknown = Ctl("cluster limit nope --unlimited");
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_THAT(unknown.output, HasSubstr("nope"));
}

TEST_F(ClusterCliTest, AnOperatorReleasesAHoldAndOnlyAHold) {
  auto held = ca_->authority()->SignIntermediate(agent_, "c1", FreshCsr(), {});
  auto compromised = ca_->authority()->SignIntermediate(agent_, "c1", FreshCsr(), {});
  ASSERT_TRUE(held.ok() && compromised.ok());
  CommandResult hold =
      Ctl(absl::StrCat("revoke --serial ", held->serial, " --reason certificateHold"));
  ASSERT_EQ(hold.exit_code, 0) << hold.output;
  ASSERT_EQ(Ctl(absl::StrCat("revoke --serial ", compromised->serial, " --reason keyCompromise"))
                .exit_code,
            0);

  CommandResult release = Ctl(absl::StrCat("revoke release ", held->serial));
  EXPECT_EQ(release.exit_code, 0) << release.output;
  EXPECT_THAT(release.output,
              HasSubstr(absl::StrCat("released the hold on ", held->serial, "; CRL number ")));
  EXPECT_FALSE(ca_->store()->GetCertificate(held->serial)->revoked);

  CommandResult refused = Ctl(absl::StrCat("revoke release ", compromised->serial));
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.output, HasSubstr("was revoked with reason keyCompromise; only a "
                                        "certificate on hold"));
  EXPECT_TRUE(ca_->store()->GetCertificate(compromised->serial)->revoked);
  CommandResult again = Ctl(absl::StrCat("-o json revoke release ", held->serial));
  EXPECT_NE(again.exit_code, 0);
  EXPECT_THAT(again.output, HasSubstr("is not revoked"));
  CommandResult no_serial = Ctl("revoke release");
  EXPECT_NE(no_serial.exit_code, 0);
  EXPECT_THAT(no_serial.output, HasSubstr("serial is required"));

  // The audit log shows who released what.
  CommandResult audit = Ctl("audit list");
  EXPECT_THAT(audit.output, HasSubstr("ReleaseHold"));
  EXPECT_THAT(audit.output, HasSubstr(held->serial));
}

}  // namespace
}  // namespace meshtrust::ctl
