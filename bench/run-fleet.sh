#!/usr/bin/env bash
# N simulated agents against one meshtrust CA (bench/fleet_sim).
#
#   bench/run-fleet.sh 1000          N = 1000 (default 200)
#   IDLE=30s bench/run-fleet.sh 200
#
# Builds meshtrust, raises the open-files limit (each agent holds one
# connection: a descriptor here and one in the CA), and runs fleet_sim,
# which starts its own CA with the bench's limits raised by flag
# (--max-connections-per-peer 0: every agent connects from 127.0.0.1;
# --max-connections 2N+256; --memory-quota-mib N/4, at least 32;
# --root-rotation-soak 0s). JSON lines go to stdout and to
# $OUT_DIR/fleet-N.jsonl (default build/bench-results/). See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${1:-200}
BUILD_DIR=${BUILD_DIR:-build}
[ "${SKIP_BUILD:-0}" = 1 ] || BUILD_DIR=$BUILD_DIR scripts/build.sh >&2
SIM=$ROOT/$BUILD_DIR/bench/fleet_sim
[ -x "$SIM" ] || { echo "run-fleet: no $SIM" >&2; exit 1; }
OUT_DIR=${OUT_DIR:-$ROOT/$BUILD_DIR/bench-results}
mkdir -p "$OUT_DIR"

want=$((4 * N + 4096))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
  ulimit -Hn "$want" 2>/dev/null || echo "run-fleet: cannot raise the hard open-files limit to $want (is $hard)" >&2
fi
ulimit -Sn "$(ulimit -Hn)"
echo "run-fleet: $N agents, open-files limit $(ulimit -n), $(nproc) CPUs" >&2
"$SIM" --agents "$N" --idle "${IDLE:-10s}" --phase-timeout "${PHASE_TIMEOUT:-900s}" \
  --settle-timeout "${SETTLE_TIMEOUT:-60s}" |
  tee "$OUT_DIR/fleet-$N.jsonl"
