#!/usr/bin/env bash
# Embedding-column benchmark (issue 16): builds the release preset, then in one run
#  1. bench_vectors engine: libmurr in process, murr_read vs memcpy of the answer bytes;
#  2. bench_vectors wire: a release murr server (HTTP Arrow answers and Flight DoGet) vs
#     redis-server (MGET of 3 KB blobs), started here on loopback as bench/run.sh starts
#     them (Redis persistence off, 2 I/O threads), stopped at exit.
# Usage: bench/vectors.sh [--rows N] [--reads R]   (defaults: 1M rows, 2,000 reads of 1,000 keys)
set -euo pipefail
cd "$(dirname "$0")/.."
args=("$@")
cmake --preset release >/dev/null
cmake --build --preset release -j2 --target murr bench_vectors >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/murr-vectors.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
. bench/servers.sh

echo "## in process (libmurr)"
build/release/bench_vectors engine "$work/engine" "${args[@]}"
rm -rf "$work/engine"

start_redis
MURR_STORAGE_PATH="$work/murr" MURR_SERVER_HTTP_HOST=127.0.0.1 MURR_SERVER_HTTP_PORT=0 \
  MURR_SERVER_GRPC_HOST=127.0.0.1 MURR_SERVER_GRPC_PORT=0 build/release/murr >"$work/murr.log" 2>&1 &
pids+=($!)
murr_pid=$!
port=""
gport=""
for _ in $(seq 100); do
  port=$(sed -n 's/.*Listening for HTTP requests on [^ ]*:\([0-9]*\).*/\1/p' "$work/murr.log" | head -1)
  gport=$(sed -n 's/.*Listening for Flight requests on [^ ]*:\([0-9]*\).*/\1/p' "$work/murr.log" | head -1)
  [ -n "$port" ] && [ -n "$gport" ] && break
  sleep 0.1
done
[ -n "$port" ] && [ -n "$gport" ] || { echo "murr did not start:"; cat "$work/murr.log"; exit 1; }
echo "## over the wire (loopback)"
build/release/bench_vectors wire --murr-port "$port" --murr-grpc-port "$gport" --murr-pid "$murr_pid" --redis-port "$redis_port" \
  --redis-pid "$redis_pid" "${args[@]}"
