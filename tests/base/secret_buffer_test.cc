// SecretBuffer wipes every storage it gives up when it grows.
#include "base/secret_buffer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace meshtrust {
namespace {

TEST(SecretBufferTest, AppendsAndWipesTheOldStorageOnEveryGrowth) {
  SecretBuffer buffer;
  std::vector<size_t> released;
  bool all_zero = true;
  buffer.set_release_observer_for_testing([&](std::span<const uint8_t> old) {
    released.push_back(old.size());
    for (uint8_t b : old) all_zero &= b == 0;
  });
  std::string expected;
  for (int i = 0; i < 100; ++i) {
    std::string chunk = "-----BEGIN PRIVATE KEY-----" + std::to_string(i);
    buffer.Append(chunk);
    expected += chunk;
  }
  EXPECT_EQ(buffer.UnsafeSecretString(), expected);
  EXPECT_GE(released.size(), 3u);  // 256, 512, 1024, ... bytes given up.
  EXPECT_TRUE(all_zero);
  SecretBytes taken = buffer.Take();
  EXPECT_EQ(taken.UnsafeSecretString(), expected);
  EXPECT_EQ(buffer.size(), 0u);
}

TEST(SecretBufferTest, AReservedBufferDoesNotReallocate) {
  SecretBuffer buffer;
  int released = 0;
  buffer.set_release_observer_for_testing([&](std::span<const uint8_t>) { ++released; });
  buffer.Reserve(4096);
  for (int i = 0; i < 64; ++i) buffer.Append(std::string(64, 'k'));
  EXPECT_EQ(released, 0);
  EXPECT_EQ(buffer.size(), 4096u);
  EXPECT_EQ(buffer.capacity(), 4096u);
  buffer.Append("x");
  EXPECT_EQ(released, 1);
  EXPECT_EQ(buffer.UnsafeSecretString(), std::string(4096, 'k') + "x");
}

}  // namespace
}  // namespace meshtrust
