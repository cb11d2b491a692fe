#!/usr/bin/env bash
# meshtrust in one command: a local root CA, two clusters (each a Kubernetes
# API emulator), one agent per cluster, and cross-cluster mTLS shown with the
# real openssl s_server/s_client.
#
#   scripts/demo.sh                builds if needed, then runs
#   scripts/demo.sh --lifecycle    also: a third cluster, long-running agents,
#                                  intermediate rotation, a full root rotation
#                                  and a revocation, with mTLS checked after each
#   DEMO_OUT=dir scripts/demo.sh   also leaves each cluster's cacerts files in dir/<cluster>/
#   BIN_DIR=build scripts/demo.sh  uses already-built binaries (no build step)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
LIFECYCLE=0
for arg in "$@"; do
  case $arg in
    --lifecycle) LIFECYCLE=1 ;;
    *) echo "usage: $0 [--lifecycle]" >&2; exit 2 ;;
  esac
done
CLUSTERS="cluster1 cluster2"
[ $LIFECYCLE -eq 1 ] && CLUSTERS="cluster1 cluster2 cluster3"

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
# wait_for_file FILE PID LOG: waits until the process PID has written FILE;
# fails at once, with its LOG, if the process exits first. The bound is only a
# safety net for a hung process: a slow (sanitizer, loaded) machine is not a
# failure.
wait_for_file() {
  local file=$1 pid=$2 log=$3
  for _ in $(seq 1 3000); do
    [ -s "$file" ] && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; fail "process $pid exited before writing $file"; }
    sleep 0.1
  done
  cat "$log" >&2
  fail "process $pid did not write $file within 300 s"
}
# wait_until "what" command...: polls until the command succeeds; the 300 s
# bound is a safety net, not a speed requirement.
wait_until() {
  local what=$1; shift
  for _ in $(seq 1 3000); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "no sign within 300 s that $what"
}

step "1. Initialise a root CA on the embedded defaults (ECDSA P-256 root, sealed keystore, SQLite)"
head -c 32 /dev/urandom > "$WORK/kek"
chmod 600 "$WORK/kek"
"$CA" init --state-dir "$WORK/ca" --kek-file "$WORK/kek" | tee "$WORK/init.txt"
PIN=$(awk '/control CA pin/ {print $4}' "$WORK/init.txt")
ROOT_FINGERPRINT=$(awk '/mesh root fingerprint/ {print $4}' "$WORK/init.txt")
ADMIN_TOKEN=$(grep -A1 '^  admin join token' "$WORK/init.txt" | sed -n 2p | tr -d ' ')

step "2. Start the CA (gRPC over mutual TLS on loopback)"
SERVE_FLAGS=()
# The soak time must cover the workload certificate TTL (24 h in Istio); the
# demo's workloads are its own, so it keeps the wait short.
[ $LIFECYCLE -eq 1 ] && SERVE_FLAGS=(--root-rotation-soak 3s)
"$CA" serve --state-dir "$WORK/ca" --kek-file "$WORK/kek" --listen 127.0.0.1:0 \
  --port-file "$WORK/ca.port" --metrics-listen 127.0.0.1:0 "${SERVE_FLAGS[@]}" >"$WORK/ca.log" 2>&1 &
PIDS+=($!)
wait_for_file "$WORK/ca.port" $! "$WORK/ca.log"
CA_ADDR=127.0.0.1:$(cat "$WORK/ca.port")
echo "CA listening on $CA_ADDR"

step "3. Log in as the first operator (key generated here, pinned trust in the CA)"
export MESHTRUSTCTL_CONFIG_DIR=$WORK/ctl
"$CTL" login --ca "$CA_ADDR" --pin "$PIN" --token "$ADMIN_TOKEN"

for cluster in $CLUSTERS; do
  step "4. Start a Kubernetes API for $cluster and register $cluster at the CA"
  mkdir -p "$WORK/$cluster"
  "$EMULATOR" --port-file "$WORK/$cluster/port" --kubeconfig-dir "$WORK/$cluster" \
    >"$WORK/$cluster/emulator.log" 2>&1 &
  PIDS+=($!)
  wait_for_file "$WORK/$cluster/port" $! "$WORK/$cluster/emulator.log"
  "$CTL" cluster add "$cluster" --trust-domain cluster.local -o json >"$WORK/$cluster/add.json"
  sed -n 's/.*"token": "\(mtj1[^"]*\)".*/\1/p' "$WORK/$cluster/add.json" >"$WORK/$cluster/join-token"
  [ -s "$WORK/$cluster/join-token" ] || fail "no join token for $cluster"
  echo "registered $cluster; one-time join token issued"

  step "5. Run $cluster's agent: it generates the intermediate key in-cluster and writes cacerts"
  "$AGENT" once --ca "$CA_ADDR" --cluster "$cluster" --pin "$PIN" \
    --root-fingerprint "$ROOT_FINGERPRINT" --token-file "$WORK/$cluster/join-token" \
    --kubeconfig "$WORK/$cluster/admin.kubeconfig" \
    2>"$WORK/$cluster/agent.log" || { cat "$WORK/$cluster/agent.log" >&2; fail "agent for $cluster"; }
  echo "running the agent again changes nothing (no re-enrollment, intermediate still current):"
  "$AGENT" once --ca "$CA_ADDR" --cluster "$cluster" \
    --kubeconfig "$WORK/$cluster/admin.kubeconfig" 2>>"$WORK/$cluster/agent.log" ||
    fail "second agent run for $cluster"
done

step "6. Read each cluster's cacerts back with kubectl"
OUT=${DEMO_OUT:-$WORK/out}
kube() {  # cluster kubectl-args...
  local cluster=$1; shift
  KUBECONFIG=$WORK/$cluster/admin.kubeconfig kubectl "$@"
}
read_cacerts() {  # cluster dir: every cacerts key, as istiod would mount them
  local cluster=$1 dir=$2
  mkdir -p "$dir"
  for key in ca-cert.pem ca-key.pem cert-chain.pem root-cert.pem ca-crl.pem; do
    kube "$cluster" -n istio-system get secret cacerts -o "jsonpath={.data.${key//./\\.}}" |
      base64 -d >"$dir/$key"
    [ -s "$dir/$key" ] || fail "$cluster cacerts lacks $key"
  done
  chmod 600 "$dir/ca-key.pem"
}
installed_serial() {  # cluster
  kube "$1" -n istio-system get secret cacerts -o 'jsonpath={.metadata.annotations.meshtrust\.io/serial}'
}
for cluster in $CLUSTERS; do
  read_cacerts "$cluster" "$OUT/$cluster"
  echo "$cluster: $(openssl x509 -noout -subject -in "$OUT/$cluster/ca-cert.pem")"
done
cmp -s "$OUT/cluster1/root-cert.pem" "$OUT/cluster2/root-cert.pem" || fail "the clusters' root-cert.pem differ"
echo "both clusters hold the same root-cert.pem"
for cluster in $CLUSTERS; do
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
  cp "$ca/ca-cert.pem" "$dir/$name.chain"
}
# make_workload keeps a copy of the signing intermediate as the workload's chain.
handshake() {  # server-dir server-name server-ca client-dir client-name client-ca [crl] -> 0 on success
  local strust=$3/root-cert.pem ctrust=$6/root-cert.pem
  if [ "${7:-}" = crl ]; then
    cat "$3/root-cert.pem" "$3/ca-crl.pem" >"$1/$2.trust-crl"; strust=$1/$2.trust-crl
    cat "$6/root-cert.pem" "$6/ca-crl.pem" >"$4/$5.trust-crl"; ctrust=$4/$5.trust-crl
  fi
  HANDSHAKE_LOG=$WORK/last-handshake.log "$ROOT/scripts/mtls-handshake.sh" \
    "$1/$2.pem" "$1/$2.key" "$1/$2.chain" "$strust" \
    "$4/$5.pem" "$4/$5.key" "$4/$5.chain" "$ctrust" ${7:-}
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

if [ $LIFECYCLE -eq 1 ]; then
  . "$ROOT/scripts/demo-lifecycle.sh"
fi

step "${LAST_STEP:-9}. What the CA recorded"
"$CTL" status || fail "meshtrustctl status reports something that needs attention"
METRICS_PORT=$(sed -n 's/.*serving \/metrics, \/healthz and \/readyz on port \([0-9]*\).*/\1/p' "$WORK/ca.log")
[ -n "$METRICS_PORT" ] || fail "the CA did not report its metrics port"
curl -fsS "http://127.0.0.1:$METRICS_PORT/readyz" >/dev/null || fail "the CA is not ready"
echo "CA /readyz: ready; from its /metrics:"
curl -fsS "http://127.0.0.1:$METRICS_PORT/metrics" |
  grep -E '^meshtrust_ca_(signings_total|cluster_in_sync|audit_head_sequence|root_rotation_phase\{phase="idle"\})' ||
  fail "the CA's /metrics lacks its signing metrics"
"$CTL" audit verify
echo
echo "meshtrust demo: OK"
