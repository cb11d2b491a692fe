#include "ca/core/watch_hub.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace meshtrust::ca {
namespace {

using ::testing::Eq;
using ::testing::Optional;

constexpr std::chrono::milliseconds kNoWait{0};

TEST(WatchHubTest, DeliversToTheClusterOrToEveryone) {
  WatchHub hub;
  auto a = hub.Subscribe("a");
  auto b = hub.Subscribe("b");
  EXPECT_EQ(hub.Publish("a", WatchEventType::kCrlChanged), 1);
  EXPECT_EQ(hub.Publish("", WatchEventType::kBundleChanged), 2);
  EXPECT_THAT(a->Next(kNoWait), Optional(Eq(WatchEventType::kCrlChanged)));
  EXPECT_THAT(a->Next(kNoWait), Optional(Eq(WatchEventType::kBundleChanged)));
  EXPECT_THAT(b->Next(kNoWait), Optional(Eq(WatchEventType::kBundleChanged)));
  EXPECT_EQ(b->Next(kNoWait), std::nullopt);
}

// An agent renewing its identity closes its stream and opens a new one; a
// re-key asked for in between reaches the new stream, and only until the
// cluster was issued a new intermediate.
TEST(WatchHubTest, AReKeyAskedBetweenTwoStreamsReachesTheNextOne) {
  WatchHub hub;
  EXPECT_EQ(hub.Publish("a", WatchEventType::kRotateNow), 0);
  auto next = hub.Subscribe("a");
  EXPECT_THAT(next->Next(kNoWait), Optional(Eq(WatchEventType::kRotateNow)));
  auto other = hub.Subscribe("b");
  EXPECT_EQ(other->Next(kNoWait), std::nullopt);
  hub.RotationDone("a");
  auto after = hub.Subscribe("a");
  EXPECT_EQ(after->Next(kNoWait), std::nullopt);
}

TEST(WatchHubTest, AClosedSubscriptionEndsItsWait) {
  WatchHub hub;
  auto a = hub.Subscribe("a");
  a->Close();
  EXPECT_EQ(a->Next(std::chrono::seconds(60)), std::nullopt);
}

}  // namespace
}  // namespace meshtrust::ca
