#!/usr/bin/env bash
# meshtrust in one command: a local root CA, two clusters (each a Kubernetes
# API emulator), one agent per cluster, and cross-cluster mTLS shown with the
# real openssl s_server/s_client.
#
#   scripts/demo.sh            builds if needed, then runs
#   DEMO_OUT=dir scripts/demo.sh   also leaves each cluster's cacerts files in dir/<cluster>/
#   BIN_DIR=build scripts/demo.sh  uses already-built binaries (no build step)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

if [ -z "${BIN_DIR:-}" ]; then
  echo "== Building meshtrust (installs missing Debian packages first)"
  scripts/build.sh >/dev/null
  BIN_DIR=$ROOT/build
fi
BIN_DIR=$(cd "$BIN_DIR" && pwd)
CA=$BIN_DIR/ca/meshtrust-ca
CTL=$BIN_DIR/ctl/meshtrustctl
AGENT=$BIN_DIR/agent/meshtrust-agent
EMULATOR=$BIN_DIR/tests/meshtrust-kube-emulator
for b in "$CA" "$CTL" "$AGENT" "$EMULATOR"; do
  [ -x "$b" ] || { echo "demo: missing $b; build first" >&2; exit 1; }
done
command -v kubectl >/dev/null || { echo "demo: kubectl is required (scripts/install-deps.sh installs it)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/meshtrust-demo.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${DEMO_KEEP:-}" ] && echo "demo: kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
fail() { echo "demo FAILED: $*" >&2; exit 1; }
wait_for_file() {
  for _ in $(seq 1 100); do [ -s "$1" ] && return 0; sleep 0.1; done
  fail "timed out waiting for $1"
}

step "1. Initialise a root CA on the embedded defaults (ECDSA P-256 root, sealed keystore, SQLite)"
head -c 32 /dev/urandom > "$WORK/kek"
chmod 600 "$WORK/kek"
"$CA" init --state-dir "$WORK/ca" --kek-file "$WORK/kek" | tee "$WORK/init.txt"
PIN=$(awk '/control CA pin/ {print $4}' "$WORK/init.txt")
ADMIN_TOKEN=$(grep -A1 '^  admin join token' "$WORK/init.txt" | sed -n 2p | tr -d ' ')

step "2. Start the CA (gRPC over mutual TLS on loopback)"
"$CA" serve --state-dir "$WORK/ca" --kek-file "$WORK/kek" --listen 127.0.0.1:0 \
  --port-file "$WORK/ca.port" >"$WORK/ca.log" 2>&1 &
PIDS+=($!)
wait_for_file "$WORK/ca.port"
CA_ADDR=127.0.0.1:$(cat "$WORK/ca.port")
echo "CA listening on $CA_ADDR"

step "3. Log in as the first operator (key generated here, pinned trust in the CA)"
export MESHTRUSTCTL_CONFIG_DIR=$WORK/ctl
"$CTL" login --ca "$CA_ADDR" --pin "$PIN" --token "$ADMIN_TOKEN"

for cluster in cluster1 cluster2; do
  step "4. Start a Kubernetes API for $cluster and register $cluster at the CA"
  mkdir -p "$WORK/$cluster"
  "$EMULATOR" --port-file "$WORK/$cluster/port" --kubeconfig-dir "$WORK/$cluster" \
    >"$WORK/$cluster/emulator.log" 2>&1 &
  PIDS+=($!)
  wait_for_file "$WORK/$cluster/port"
  "$CTL" cluster add "$cluster" --trust-domain cluster.local -o json >"$WORK/$cluster/add.json"
  sed -n 's/.*"token": "\(mtj1[^"]*\)".*/\1/p' "$WORK/$cluster/add.json" >"$WORK/$cluster/join-token"
  [ -s "$WORK/$cluster/join-token" ] || fail "no join token for $cluster"
  echo "registered $cluster; one-time join token issued"

  step "5. Run $cluster's agent: it generates the intermediate key in-cluster and writes cacerts"
  "$AGENT" once --ca "$CA_ADDR" --cluster "$cluster" --pin "$PIN" \
    --token-file "$WORK/$cluster/join-token" --kubeconfig "$WORK/$cluster/admin.kubeconfig" \
    2>"$WORK/$cluster/agent.log" || { cat "$WORK/$cluster/agent.log" >&2; fail "agent for $cluster"; }
  echo "running the agent again changes nothing (no re-enrollment, intermediate still current):"
  "$AGENT" once --ca "$CA_ADDR" --cluster "$cluster" \
    --kubeconfig "$WORK/$cluster/admin.kubeconfig" 2>>"$WORK/$cluster/agent.log" ||
    fail "second agent run for $cluster"
done

step "6. Read each cluster's cacerts back with kubectl"
OUT=${DEMO_OUT:-$WORK/out}
for cluster in cluster1 cluster2; do
  mkdir -p "$OUT/$cluster"
  for key in ca-cert.pem ca-key.pem cert-chain.pem root-cert.pem; do
    KUBECONFIG=$WORK/$cluster/admin.kubeconfig kubectl -n istio-system get secret cacerts \
      -o "jsonpath={.data.${key//./\\.}}" | base64 -d >"$OUT/$cluster/$key"
    [ -s "$OUT/$cluster/$key" ] || fail "$cluster cacerts lacks $key"
  done
  chmod 600 "$OUT/$cluster/ca-key.pem"
  echo "$cluster: $(openssl x509 -noout -subject -in "$OUT/$cluster/ca-cert.pem")"
done
cmp -s "$OUT/cluster1/root-cert.pem" "$OUT/cluster2/root-cert.pem" || fail "the clusters' root-cert.pem differ"
echo "both clusters hold the same root-cert.pem"
for cluster in cluster1 cluster2; do
  openssl verify -CAfile "$OUT/$cluster/root-cert.pem" "$OUT/$cluster/ca-cert.pem" >/dev/null ||
    fail "$cluster's intermediate does not chain to the root"
done
echo "both intermediates chain to it (openssl verify)"

step "7. Cross-cluster mTLS: workloads signed by each cluster's intermediate, as istiod would sign them"
make_workload() {  # dir ca-dir name
  local dir=$1 ca=$2 name=$3
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/$name.key" 2>/dev/null
  openssl req -new -key "$dir/$name.key" -subj "/O=$name" -out "$dir/$name.csr" 2>/dev/null
  printf 'subjectAltName=URI:spiffe://cluster.local/ns/default/sa/%s\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n' "$name" >"$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$ca/ca-cert.pem" -CAkey "$ca/ca-key.pem" \
    -set_serial "0x$(openssl rand -hex 16)" -days 1 -extfile "$dir/$name.ext" -out "$dir/$name.pem" 2>/dev/null
}
handshake() {  # server-dir server-name server-ca client-dir client-name client-ca -> 0 on success
  HANDSHAKE_LOG=$WORK/last-handshake.log "$ROOT/scripts/mtls-handshake.sh" \
    "$1/$2.pem" "$1/$2.key" "$3/ca-cert.pem" "$3/root-cert.pem" \
    "$4/$5.pem" "$4/$5.key" "$6/ca-cert.pem" "$6/root-cert.pem"
}
make_workload "$WORK/cluster1" "$OUT/cluster1" app-in-cluster1
make_workload "$WORK/cluster2" "$OUT/cluster2" app-in-cluster2
if handshake "$WORK/cluster1" app-in-cluster1 "$OUT/cluster1" "$WORK/cluster2" app-in-cluster2 "$OUT/cluster2"; then
  echo "OK: a cluster2 workload and a cluster1 workload completed mutual TLS, each trusting only its own root-cert.pem"
else
  cat "$WORK/last-handshake.log" >&2; fail "cross-cluster handshake"
fi

step "8. A workload from an unrelated root is refused"
mkdir -p "$WORK/rogue/ca"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=rogue-root -days 1 \
  -keyout "$WORK/rogue/root.key" -out "$WORK/rogue/ca/root-cert.pem" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
cp "$WORK/rogue/ca/root-cert.pem" "$WORK/rogue/ca/ca-cert.pem"
cp "$WORK/rogue/root.key" "$WORK/rogue/ca/ca-key.pem"
make_workload "$WORK/rogue" "$WORK/rogue/ca" rogue-app
if handshake "$WORK/cluster1" app-in-cluster1 "$OUT/cluster1" "$WORK/rogue" rogue-app "$WORK/rogue/ca"; then
  fail "a workload from an unrelated root was accepted"
fi
echo "OK: cluster1 refused the workload whose certificate chains to an unrelated root"

step "9. What the CA recorded"
"$CTL" cluster list
"$CTL" audit verify
echo
echo "meshtrust demo: OK"
