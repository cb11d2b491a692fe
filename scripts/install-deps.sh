#!/usr/bin/env bash
# Installs the Debian 12 packages meshtrust needs to build, test and run
# (`--sanitizers`: also what the sanitizer and fuzzing build needs).
# Idempotent: installs only what is missing. Needs root (or sudo).
set -euo pipefail

packages=(
  g++ cmake ninja-build ccache pkg-config
  libssl-dev openssl
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc libabsl-dev
  libsodium-dev libspdlog-dev libsqlite3-dev libmicrohttpd-dev
  libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libcurl4-openssl-dev
  libgtest-dev libgmock-dev
  libp11-kit-dev softhsm2
  ca-certificates curl clang-format
)

# The sanitizer and fuzzing build (scripts/test.sh) also needs clang and its
# runtimes (libFuzzer, ASan, UBSan).
if [ "${1:-}" = "--sanitizers" ]; then
  packages+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
need_kubectl=0
command -v kubectl >/dev/null 2>&1 || need_kubectl=1

if [ ${#missing[@]} -eq 0 ] && [ $need_kubectl -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: missing packages (${missing[*]}) and not root; run as root" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}${need_kubectl:+ kubectl}" >&2
$SUDO apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ $need_kubectl -eq 1 ]; then
  $SUDO apt-get install -y -qq kubectl >/dev/null 2>&1 ||
    $SUDO apt-get install -y -qq kubernetes-client >/dev/null 2>&1 ||
    echo "install-deps: kubectl is not installable here; the kubectl fidelity tests will fail" >&2
fi
