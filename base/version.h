// meshtrust's version, as the binaries report it (User-Agent, --version).
// Kept equal to CMakeLists.txt's project(VERSION ...) by
// tests/base/version_test.cc.
#ifndef MESHTRUST_BASE_VERSION_H_
#define MESHTRUST_BASE_VERSION_H_

namespace meshtrust {

inline constexpr char kVersion[] = "0.1.0";

}  // namespace meshtrust

#endif  // MESHTRUST_BASE_VERSION_H_
