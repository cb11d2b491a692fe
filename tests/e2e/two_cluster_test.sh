#!/usr/bin/env bash
# End to end: runs the demo (CA, two emulated clusters, two agents, openssl
# cross-cluster mTLS and the unrelated-root refusal), then checks the cacerts
# sets it read back with kubectl.
set -euo pipefail
BIN_DIR=${1:?usage: two_cluster_test.sh BIN_DIR}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mktemp -d /tmp/meshtrust-e2e.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
BIN_DIR=$BIN_DIR DEMO_OUT=$OUT "$SRC/scripts/demo.sh" >"$OUT/demo.log" 2>&1 || { cat "$OUT/demo.log"; exit 1; }
grep -q "meshtrust demo: OK" "$OUT/demo.log"
grep -q "all enabled clusters are in sync" "$OUT/demo.log" || { echo "meshtrustctl status did not report a healthy mesh"; exit 1; }

for c in cluster1 cluster2; do
  [ "$(ls "$OUT/$c" | sort | tr '\n' ' ')" = "ca-cert.pem ca-crl.pem ca-key.pem cert-chain.pem root-cert.pem " ] ||
    { echo "unexpected files in $c: $(ls "$OUT/$c")"; exit 1; }
  head -1 "$OUT/$c/ca-key.pem" | grep -qx -- "-----BEGIN PRIVATE KEY-----" || { echo "$c key is not PKCS#8"; exit 1; }
  # Each side is read on its own line, so an unreadable file fails here
  # instead of comparing two empty strings.
  key_pub=$(openssl pkey -in "$OUT/$c/ca-key.pem" -pubout)
  cert_pub=$(openssl x509 -in "$OUT/$c/ca-cert.pem" -noout -pubkey)
  [ -n "$key_pub" ] && [ "$key_pub" = "$cert_pub" ] || { echo "$c key does not match its certificate"; exit 1; }
  [ "$(cat "$OUT/$c/ca-cert.pem" "$OUT/$c/root-cert.pem")" = "$(cat "$OUT/$c/cert-chain.pem")" ] ||
    { echo "$c cert-chain.pem is not intermediate then root"; exit 1; }
  openssl x509 -in "$OUT/$c/ca-cert.pem" -noout -text | grep -q "CA:TRUE, pathlen:0" || { echo "$c profile"; exit 1; }
  # ca-crl.pem starts with the CRL the cluster's own intermediate signed.
  openssl crl -in "$OUT/$c/ca-crl.pem" -noout -CAfile "$OUT/$c/ca-cert.pem" 2>&1 | grep -q "verify OK" ||
    { echo "$c ca-crl.pem does not start with its intermediate's CRL"; exit 1; }
done
cmp "$OUT/cluster1/root-cert.pem" "$OUT/cluster2/root-cert.pem"
# Not "! cmp": set -e ignores a negated command, so that line could never fail.
if cmp -s "$OUT/cluster1/ca-key.pem" "$OUT/cluster2/ca-key.pem"; then
  echo "cluster1 and cluster2 hold the same ca-key.pem"
  exit 1
fi
echo "two-cluster end to end: OK"
