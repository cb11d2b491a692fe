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
  auto a = *hub.Subscribe("a");
  auto b = *hub.Subscribe("b");
  EXPECT_EQ(hub.Publish("a", WatchEventType::kCrlChanged), 1);
  EXPECT_EQ(hub.Publish("", WatchEventType::kBundleChanged), 2);
  EXPECT_THAT(a->Next(kNoWait), Optional(Eq(WatchEventType::kCrlChanged)));
  EXPECT_THAT(a->Next(kNoWait), Optional(Eq(WatchEventType::kBundleChanged)));
  EXPECT_THAT(b->Next(kNoWait), Optional(Eq(WatchEventType::kBundleChanged)));
  EXPECT_EQ(b->Next(kNoWait), std::nullopt);
}

TEST(WatchHubTest, AClosedSubscriptionEndsItsWait) {
  WatchHub hub;
  auto a = *hub.Subscribe("a");
  a->Close();
  EXPECT_EQ(a->Next(std::chrono::seconds(60)), std::nullopt);
}

// Each stream holds a server thread: one cluster may hold only so many open
// at once, and a stream that ends frees its place.
TEST(WatchHubTest, CapsOpenSubscriptionsPerClusterAndReportsAFloodOnce) {
  WatchHub hub(/*max_per_cluster=*/2);
  auto first = hub.Subscribe("a");
  auto second = hub.Subscribe("a");
  ASSERT_TRUE(first.ok() && second.ok());
  bool first_refusal = false;
  auto third = hub.Subscribe("a", &first_refusal);
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(third.status().message()),
              ::testing::HasSubstr("cluster \"a\" already has 2 open"));
  EXPECT_TRUE(first_refusal);
  EXPECT_FALSE(hub.Subscribe("a", &first_refusal).ok());
  EXPECT_FALSE(first_refusal) << "a flood is reported once";
  EXPECT_TRUE(hub.Subscribe("b").ok()) << "another cluster is not affected";
  EXPECT_EQ(hub.SubscribersOf("a"), 2);
  first->reset();
  auto again = hub.Subscribe("a", &first_refusal);
  EXPECT_TRUE(again.ok());
  // A new flood after a successful subscription is reported again.
  EXPECT_FALSE(hub.Subscribe("a", &first_refusal).ok());
  EXPECT_TRUE(first_refusal);
}

}  // namespace
}  // namespace meshtrust::ca
