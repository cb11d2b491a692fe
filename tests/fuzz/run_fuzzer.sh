#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time from its seed corpus:
#   run_fuzzer.sh FUZZER SEED_DIR WORK_DIR SECONDS
# New corpus entries go to WORK_DIR/corpus, any crashing input to
# WORK_DIR/crash-*. Exits non-zero on a crash, a leak, a sanitizer report, a
# broken invariant or a timeout of one input.
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=$4
name=$(basename "$fuzzer")
rm -rf "$work"
mkdir -p "$work/corpus"
log="$work/log"
status=0
"$fuzzer" "$work/corpus" "$seeds" \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$work/" >"$log" 2>&1 || status=$?
runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)
corpus=$(find "$work/corpus" -type f | wc -l)
if [ "$status" -ne 0 ]; then
  tail -n 60 "$log"
  echo "$name: FAILED after $runs executions (exit $status); inputs kept in $work" >&2
  ls "$work" | grep -E '^(crash|leak|timeout|oom)-' >&2 || true
  exit 1
fi
echo "$name: $runs executions in ${seconds}s, coverage $cov edges, corpus $corpus new inputs"
