#!/usr/bin/env bash
# Usage: bench/ab_keys.sh MURR_A MURR_B BENCH_KEYS [ROUNDS] [bench_keys args...]
# A/B of the 0.3 key fetches over HTTP: murr release binaries A (e.g. main) and B (this tree)
# alternating A B A B ..., each on a fresh data directory and an ephemeral port, the same
# bench_keys client (default args: --rows 1000000 --reads 3000). Prints each run's tables.
set -euo pipefail
A=$1 B=$2 KEYS=$3 ROUNDS=${4:-2}
shift $(( $# < 4 ? $# : 4 ))
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--rows 1000000 --reads 3000)
for r in $(seq 1 "$ROUNDS"); do
  for side in A B; do
    bin=${!side}
    d=$(mktemp -d)
    MURR_STORAGE_PATH=$d/data MURR_SERVER_HTTP_PORT=0 MURR_SERVER_HTTP_HOST=127.0.0.1 MURR_STORAGE_SYNC_WRITES=false \
      "$bin" > "$d/log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -q "Listening for HTTP" "$d/log" 2>/dev/null && break; sleep 0.1; done
    port=$(grep -o "Listening for HTTP requests on [^ ]*" "$d/log" | sed 's/.*://')
    echo "### round $r side $side ($bin), $(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
    "$KEYS" --murr-port "$port" "${args[@]}" 2>&1 | grep -E "^\|" || true
    kill "$pid"; wait "$pid" || true
    rm -rf "$d"
  done
done
