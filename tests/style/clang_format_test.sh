#!/usr/bin/env bash
# Fails when a C++ file in the tree is not formatted per .clang-format.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v clang-format >/dev/null || { echo "clang-format is not installed"; exit 1; }
# The list is written first: a failing find inside "< <(...)" would be
# ignored and leave nothing to check, which would pass.
list=$(mktemp)
trap 'rm -f "$list"' EXIT
find base pki keystore net ca client agent ctl tests bench \( -name '*.cc' -o -name '*.h' \) -print0 >"$list"
[ -s "$list" ] || { echo "no C++ files found to check"; exit 1; }
bad=()
while IFS= read -r -d '' f; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done <"$list"
if [ ${#bad[@]} -gt 0 ]; then
  printf 'not clang-formatted (run clang-format -i):\n'
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "all C++ files are clang-formatted"
