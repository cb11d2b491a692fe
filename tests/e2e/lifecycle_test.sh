#!/usr/bin/env bash
# End to end: the demo's lifecycle scenario (long-running agents, intermediate
# rotation, a three-phase root rotation and a revocation, each checked with
# openssl handshakes by the demo itself), then the final cacerts sets.
set -euo pipefail
BIN_DIR=${1:?usage: lifecycle_test.sh BIN_DIR}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mktemp -d /tmp/meshtrust-e2e.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
BIN_DIR=$BIN_DIR DEMO_OUT=$OUT "$SRC/scripts/demo.sh" --lifecycle >"$OUT/demo.log" 2>&1 ||
  { cat "$OUT/demo.log"; exit 1; }
grep -q "meshtrust demo: OK" "$OUT/demo.log"
bad() { echo "lifecycle: $*"; exit 1; }

for c in cluster1 cluster2 cluster3; do
  [ "$(ls "$OUT/$c" | sort | tr '\n' ' ')" = "ca-cert.pem ca-crl.pem ca-key.pem cert-chain.pem root-cert.pem " ] ||
    bad "unexpected files in $c: $(ls "$OUT/$c")"
  # After the rotation every cluster trusts the new root only, and its
  # intermediate chains to it.
  [ "$(grep -c 'BEGIN CERTIFICATE' "$OUT/$c/root-cert.pem")" = 1 ] || bad "$c trusts more than one root"
  cmp -s "$OUT/$c/root-cert.pem" "$OUT/cluster1/root-cert.pem" || bad "$c trusts another root"
  openssl verify -CAfile "$OUT/$c/root-cert.pem" "$OUT/$c/ca-cert.pem" >/dev/null || bad "$c does not chain to B"
  openssl x509 -in "$OUT/$c/root-cert.pem" -noout -subject | grep -q "mesh root CA 2" || bad "$c root is not B"
done
# The revoked cluster's intermediate is on the CRLs the other clusters hold.
revoked=$(openssl x509 -in "$OUT/cluster3/ca-cert.pem" -noout -serial | cut -d= -f2)
for c in cluster1 cluster2; do
  awk -v d="$OUT/$c" '/BEGIN X509 CRL/ {n++} {print > (d "/crl-" n ".tmp")}' "$OUT/$c/ca-crl.pem"
  # Every CRL must parse (not only the last), and grep reads to the end so the
  # writer never dies of SIGPIPE under pipefail.
  for f in "$OUT/$c"/crl-*.tmp; do openssl crl -noout -text -in "$f" || exit 1; done |
    grep -i "Serial Number: $revoked" >/dev/null ||
    bad "$c's ca-crl.pem does not list cluster3's intermediate $revoked"
  rm -f "$OUT/$c"/crl-*.tmp
done
for step in "Rotate cluster1's intermediate" "phase 1: begin" "phase 2: activate" "phase 3: finish" \
  "refuses cluster3's workload: certificate revoked"; do
  grep -q "$step" "$OUT/demo.log" || bad "the demo did not show: $step"
done
echo "lifecycle end to end: OK"
