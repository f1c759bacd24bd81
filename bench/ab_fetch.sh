#!/usr/bin/env bash
# Usage: bench/ab_fetch.sh MURR_A MURR_B BENCH_HARNESS [ROUNDS]   (e.g. a release build of main vs this tree)
# A/B of the fetch path: murr release binaries A (main) and B (evcore) alternating, the same
# bench_harness client (murr HTTP backend only), fresh data dir each run.
set -euo pipefail
A=$1 B=$2 HARNESS=$3 ROUNDS=${4:-2}
for r in $(seq 1 "$ROUNDS"); do
  for side in A B; do
    bin=${!side}
    d=$(mktemp -d)
    MURR_STORAGE_PATH=$d/data MURR_SERVER_HTTP_PORT=0 MURR_SERVER_HTTP_HOST=127.0.0.1 MURR_SERVER_GRPC_PORT=0 \
      MURR_SERVER_GRPC_HOST=127.0.0.1 "$bin" > "$d/log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -q "Listening for HTTP" "$d/log" 2>/dev/null && break; sleep 0.1; done
    port=$(grep -o "Listening for HTTP requests on [^ ]*" "$d/log" | sed 's/.*://')
    echo "### round $r side $side ($bin)"
    "$HARNESS" --backends murr --murr-port "$port" --murr-pid "$pid" --murr-dir "$d/data" --rows 200000 --cols 10 \
      --keys 1000 --reads 3000 2>&1 | grep -E "^\| murr|^\| [0-9]+ \|" || true
    kill "$pid"; wait "$pid" || true
    rm -rf "$d"
  done
done
