#include "base/version.h"

#include <gtest/gtest.h>

namespace meshtrust {
namespace {

TEST(VersionTest, IsTheProjectVersion) {
  // MESHTRUST_PROJECT_VERSION is CMake's ${PROJECT_VERSION}, given to this file only.
  EXPECT_STREQ(kVersion, MESHTRUST_PROJECT_VERSION);
}

}  // namespace
}  // namespace meshtrust
