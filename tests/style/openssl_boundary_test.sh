#!/usr/bin/env bash
# Checks two include boundaries (docs/architecture.md, "Layers"):
#  1. Only pki/, keystore/ and net/ (and tests/, which build hostile inputs
#     with OpenSSL directly) include <openssl/...> or pki/ossl.h. Files that
#     still do are listed in openssl_boundary_allowlist.txt; a new violation
#     fails, and so does a listed file that no longer violates, so the list
#     only shrinks.
#  2. base/ includes nothing of ours outside base/.
# Every failure names the file and line.
set -euo pipefail
cd "$(dirname "$0")/../.."
allowlist=tests/style/openssl_boundary_allowlist.txt
[ -f "$allowlist" ] || { echo "missing $allowlist"; exit 1; }

# All C and C++ sources outside the exempt rooms and build directories.
sources() {
  find . \( -path './.git' -o -path './build*' -o -path './pki' -o -path './keystore' \
    -o -path './net' -o -path './tests' \) -prune -o \
    -type f \( -name '*.c' -o -name '*.cc' -o -name '*.cpp' -o -name '*.h' -o -name '*.hpp' \) \
    -print | sed 's|^\./||' | LC_ALL=C sort
}

declare -A allowed=()
while IFS= read -r line || [ -n "$line" ]; do
  line="${line%%#*}"
  line="$(echo "$line" | tr -d '[:space:]')"
  [ -n "$line" ] && allowed["$line"]=1
done <"$allowlist"

failed=0
declare -A violating=()
openssl_include='^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](openssl/[^>"]*|pki/ossl\.h)[>"]'
while IFS= read -r f; do
  hits="$(grep -nE "$openssl_include" "$f" || true)"
  [ -n "$hits" ] || continue
  violating["$f"]=1
  [ -n "${allowed[$f]:-}" ] && continue
  while IFS= read -r hit; do
    echo "$f:${hit%%:*}: includes OpenSSL outside pki/, keystore/ and net/: ${hit#*:}"
  done <<<"$hits"
  failed=1
done < <(sources)

for f in "${!allowed[@]}"; do
  if [ -z "${violating[$f]:-}" ]; then
    echo "$allowlist: $f no longer includes OpenSSL (or is gone); delete its line"
    failed=1
  fi
done

ours_include='^[[:space:]]*#[[:space:]]*include[[:space:]]*"(pki|keystore|net|ca|agent|client|ctl|proto)/'
while IFS= read -r -d '' f; do
  while IFS= read -r hit; do
    [ -n "$hit" ] || continue
    echo "${f#./}:${hit%%:*}: base/ must not depend on the rest of meshtrust: ${hit#*:}"
    failed=1
  done <<<"$(grep -nE "$ours_include" "$f" || true)"
done < <(find ./base -type f \( -name '*.c' -o -name '*.cc' -o -name '*.h' \) -print0)

if [ "$failed" -ne 0 ]; then
  echo "include boundaries violated (see docs/architecture.md, Layers)"
  exit 1
fi
echo "include boundaries hold (${#allowed[@]} allowlisted files still include OpenSSL)"
