#!/usr/bin/env bash
# Signing throughput, meshtrust against cfssl, on this machine in one run.
#
#   bench/run-signing.sh                      c = 1, 8, 32; 10 s windows; 1 round
#   DURATION=5s CONCURRENCY="1 8" ROUNDS=3 bench/run-signing.sh
#
# Installs what is missing (Debian: golang-cfssl, wrk, jq), builds meshtrust,
# then for each round and each concurrency, interleaved:
#   1. bench/signing_bench: a fresh meshtrust CA (init + serve, SQLite, audit
#      chain), its cluster's issuance limit lifted, c SignIntermediate calls
#      kept in flight over mTLS with an async gRPC client for the window;
#   2. cfssl serve (one P-256 CA, an "intermediate" profile: CA:TRUE,
#      pathlen 0, cert sign + CRL sign), c connections of wrk posting the
#      same kind of P-256 CSRs to /api/v1/cfssl/sign for the window.
# Both are measured the same way: answered signings in the window, latency
# percentiles, utime+stime of the server's pid from /proc per signing, and
# its VmRSS/VmHWM. JSON lines (one per run, then one "signing_ratio" line
# per concurrency and round) go to stdout and to $OUT_DIR/signing.jsonl
# (default build/bench-results/); a table goes to stderr at the end. See
# bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-1s}
CONCURRENCY=${CONCURRENCY:-"1 8 32"}
ROUNDS=${ROUNDS:-1}
BUILD_DIR=${BUILD_DIR:-build}

log() { echo "run-signing: $*" >&2; }

# --- packages ------------------------------------------------------------
missing=()
for p in golang-cfssl wrk jq; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { log "missing ${missing[*]} and not root"; exit 1; }
    SUDO=sudo
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- build -----------------------------------------------------------------
[ "${SKIP_BUILD:-0}" = 1 ] || BUILD_DIR=$BUILD_DIR scripts/build.sh >&2
BENCH=$ROOT/$BUILD_DIR/bench/signing_bench
[ -x "$BENCH" ] || { log "no $BENCH (configure with -DMESHTRUST_BUILD_BENCH=ON)"; exit 1; }

WORK=$(mktemp -d /tmp/meshtrust-bench-signing-XXXXXX)
OUT_DIR=${OUT_DIR:-$ROOT/$BUILD_DIR/bench-results}
mkdir -p "$OUT_DIR"
JSONL=$OUT_DIR/signing.jsonl
: >"$JSONL"
CFSSL_PID=""
cleanup() {
  [ -n "$CFSSL_PID" ] && kill "$CFSSL_PID" 2>/dev/null && wait "$CFSSL_PID" 2>/dev/null
  rm -rf "$WORK"  # cfssl's throwaway CA key with it
  return 0
}
trap cleanup EXIT

# --- cfssl: a P-256 CA with an intermediate-CA profile ------------------------
cd "$WORK"
cat >cfssl-ca-csr.json <<'JSON'
{"CN": "cfssl bench root", "key": {"algo": "ecdsa", "size": 256},
 "names": [{"O": "meshtrust bench"}]}
JSON
cat >cfssl-config.json <<'JSON'
{"signing": {
  "default": {"expiry": "8760h", "usages": ["digital signature"]},
  "profiles": {"intermediate": {
    "expiry": "8760h",
    "usages": ["cert sign", "crl sign", "digital signature"],
    "ca_constraint": {"is_ca": true, "max_path_len": 0, "max_path_len_zero": true}}}}}
JSON
cfssl gencert -initca cfssl-ca-csr.json 2>/dev/null | cfssljson -bare cfssl-ca
# The same CSRs meshtrust's agents send (P-256, built by the same code),
# as cfssl sign requests for the intermediate profile.
"$BENCH" --csr-pool 1024 --write-cfssl-requests "$WORK/cfssl-requests.jsonl" 2>/dev/null
export CFSSL_REQUESTS=$WORK/cfssl-requests.jsonl

free_port() {  # a loopback port nothing listens on
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
  done
}
CFSSL_PORT=$(free_port)
cfssl serve -address 127.0.0.1 -port "$CFSSL_PORT" -ca cfssl-ca.pem -ca-key cfssl-ca-key.pem \
  -config cfssl-config.json >"$WORK/cfssl.log" 2>&1 &
CFSSL_PID=$!
for _ in $(seq 1 300); do
  curl -s -o /dev/null "http://127.0.0.1:$CFSSL_PORT/api/v1/cfssl/info" -d '{}' && break
  kill -0 "$CFSSL_PID" 2>/dev/null || { cat "$WORK/cfssl.log" >&2; log "cfssl serve exited"; exit 1; }
  sleep 0.1
done
# One signing checked by hand: the profile gives what an intermediate needs.
head -1 "$CFSSL_REQUESTS" | curl -s -d @- "http://127.0.0.1:$CFSSL_PORT/api/v1/cfssl/sign" |
  jq -r .result.certificate >"$WORK/cfssl-sample.pem"
openssl x509 -in "$WORK/cfssl-sample.pem" -noout -text | grep -q "CA:TRUE, pathlen:0" ||
  { log "cfssl's intermediate profile did not give CA:TRUE, pathlen:0"; exit 1; }

TICK_US=$((1000000 / $(getconf CLK_TCK)))
proc_cpu_us() { awk -v t="$TICK_US" '{ sub(/^.*\) /, ""); print ($12 + $13) * t }' "/proc/$1/stat"; }
proc_status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
wrk_run() {  # concurrency duration -> the WRK_JSON line's JSON
  local c=$1 d=$2 threads=$(($1 < 2 ? $1 : 2))
  wrk -t "$threads" -c "$c" -d "$d" --timeout 30s -s "$ROOT/bench/cfssl_sign.lua" \
    "http://127.0.0.1:$CFSSL_PORT" | sed -n 's/^WRK_JSON //p'
}

cfssl_run() {  # concurrency round
  local c=$1 round=$2
  wrk_run "$c" "$WARMUP" >/dev/null
  local before after wrk_json
  before=$(proc_cpu_us "$CFSSL_PID")
  wrk_json=$(wrk_run "$c" "$DURATION")
  after=$(proc_cpu_us "$CFSSL_PID")
  [ -n "$wrk_json" ] || { log "wrk printed no result"; exit 1; }
  jq -c -n --argjson w "$wrk_json" --argjson c "$c" --arg tag "round $round" \
    --argjson cpu "$((after - before))" \
    --argjson rss "$(proc_status_kb "$CFSSL_PID" VmRSS)" \
    --argjson hwm "$(proc_status_kb "$CFSSL_PID" VmHWM)" \
    --argjson threads "$(proc_status_kb "$CFSSL_PID" Threads)" '
    def r(n): (. * pow(10; n) | round) / pow(10; n);
    ($w.duration_us / 1e6) as $window | ($w.requests - $w.failed) as $signed |
    {bench: "signing", impl: "cfssl", ca: "started", csr_key: "ecdsa-p256", tag: $tag,
     concurrency: $c, window_s: ($window | r(3)), signed: $signed,
     errors: ($w.failed + $w.socket_errors),
     signed_per_s: ($signed / $window | r(1)),
     p50_ms: ($w.p50_us / 1000 | r(3)), p99_ms: ($w.p99_us / 1000 | r(3)),
     max_ms: ($w.max_us / 1000 | r(3)),
     server_cpu_us_per_signing: (if $signed > 0 then ($cpu / $signed | r(1)) else null end),
     server_cpu_cores: ($cpu / 1e6 / $window | r(3)),
     ca_rss_kb: $rss, ca_hwm_kb: $hwm, ca_threads: $threads}'
}

meshtrust_run() {  # concurrency round
  "$BENCH" -c "$1" --duration "$DURATION" --warmup "$WARMUP" --tag "round $2"
}

ratio() {  # meshtrust-line cfssl-line
  jq -c -n --argjson m "$1" --argjson f "$2" '
    def r(n): (. * pow(10; n) | round) / pow(10; n);
    def div(a; b): if a == null or b == null or b == 0 then null else (a / b | r(3)) end;
    {bench: "signing_ratio", tag: $m.tag, concurrency: $m.concurrency,
     signed_per_s_ratio: div($m.signed_per_s; $f.signed_per_s),
     p99_ratio: div($m.p99_ms; $f.p99_ms),
     server_cpu_per_signing_ratio:
       div($m.server_cpu_us_per_signing; $f.server_cpu_us_per_signing),
     meshtrust_signed_per_s: $m.signed_per_s, cfssl_signed_per_s: $f.signed_per_s,
     meshtrust_p99_ms: $m.p99_ms, cfssl_p99_ms: $f.p99_ms,
     meshtrust_server_cpu_us_per_signing: $m.server_cpu_us_per_signing,
     cfssl_server_cpu_us_per_signing: $f.server_cpu_us_per_signing}'
}

emit() { echo "$1"; echo "$1" >>"$JSONL"; }

for round in $(seq 1 "$ROUNDS"); do
  for c in $CONCURRENCY; do
    log "round $round, c=$c: meshtrust"
    m=$(meshtrust_run "$c" "$round")
    emit "$m"
    log "round $round, c=$c: cfssl"
    f=$(cfssl_run "$c" "$round")
    emit "$f"
    emit "$(ratio "$m" "$f")"
  done
done

{
  echo
  echo "signing, $DURATION windows after $WARMUP warm-up, $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ)"
  printf '%-9s %4s %-10s %10s %9s %9s %9s %12s %9s\n' round c impl signed/s p50_ms p99_ms max_ms \
    cpu_us/sign rss_MiB
  jq -r 'select(.bench == "signing") |
    [.tag, .concurrency, .impl, .signed_per_s, .p50_ms, .p99_ms, .max_ms,
     .server_cpu_us_per_signing, ((.ca_rss_kb // 0) / 1024 | floor)] | @tsv' "$JSONL" |
    while IFS=$'\t' read -r tag c impl sps p50 p99 max cpu rss; do
      printf '%-9s %4s %-10s %10s %9s %9s %9s %12s %9s\n' "$tag" "$c" "$impl" "$sps" "$p50" \
        "$p99" "$max" "$cpu" "$rss"
    done
  echo
  printf '%-9s %4s %22s %12s %20s\n' round c "signed/s (m/cfssl)" "p99 (m/cfssl)" \
    "cpu/sign (m/cfssl)"
  jq -r 'select(.bench == "signing_ratio") |
    [.tag, .concurrency, .signed_per_s_ratio, .p99_ratio, .server_cpu_per_signing_ratio] |
    @tsv' "$JSONL" |
    while IFS=$'\t' read -r tag c s p cpu; do
      printf '%-9s %4s %22s %12s %20s\n' "$tag" "$c" "$s" "$p" "$cpu"
    done
  echo "JSON lines: $JSONL"
} >&2
