#!/usr/bin/env bash
# One command for the cross-system benchmark: installs what is missing (scripts/setup.sh),
# builds the release preset, starts murr and redis-server on loopback (ephemeral ports,
# private data dirs, Redis persistence off), runs bench_harness (murr HTTP Arrow/JSON vs
# Redis blob/hash, verifying every backend's answers) and bench_engine (libmurr in process),
# prints markdown tables, and stops everything it started.
#
# Usage: bench/run.sh [--smoke] [--rows N] [--cols C] [--keys K] [--reads R] [--batch B]
#   defaults: 10M rows, 10 columns, 1,000 keys per read, 5,000 reads, 1M-row write batches
#   --smoke: 10K rows, 200 reads (what the test suite runs so the harness never rots)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=10000000 cols=10 keys=1000 reads=5000 batch=1000000
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) rows=10000 reads=200 batch=5000; shift ;;
    --rows) rows=$2; shift 2 ;;
    --cols) cols=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --reads) reads=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    *) echo "bench/run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
bash scripts/setup.sh --no-python >/dev/null
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/murr-bench.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

redis_port=$(free_port)
mkdir -p "$work/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work/redis" \
  --io-threads 2 --io-threads-do-reads yes --daemonize no --loglevel warning >"$work/redis.log" 2>&1 &
pids+=($!)
redis_pid=$!

MURR_STORAGE_PATH="$work/murr" MURR_SERVER_HTTP_HOST=127.0.0.1 MURR_SERVER_HTTP_PORT=0 \
  build/release/murr >"$work/murr.log" 2>&1 &
pids+=($!)
murr_pid=$!
MURR_LOG=info
for _ in $(seq 100); do
  port=$(sed -n 's/.*Listening for HTTP requests on [^ ]*:\([0-9]*\).*/\1/p' "$work/murr.log" | head -1)
  [ -n "$port" ] && break
  sleep 0.1
done
if [ -z "${port:-}" ]; then
  # MURR_LOG=warn hides the INFO line; fall back to asking the kernel
  port=$(ss -ltnp 2>/dev/null | awk -v p="pid=$murr_pid," '$0 ~ p {split($4,a,":"); print a[length(a)]}' | head -1)
fi
for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
[ -n "${port:-}" ] || { echo "murr did not start:"; cat "$work/murr.log"; exit 1; }

echo "## bench_harness (murr $(build/release/murr --version | cut -d' ' -f2), $(redis-server --version | cut -d' ' -f3))"
build/release/bench_harness --murr-port "$port" --murr-pid "$murr_pid" --redis-port "$redis_port" \
  --redis-pid "$redis_pid" --rows "$rows" --cols "$cols" --keys "$keys" --reads "$reads" --batch "$batch"
echo
echo "## bench_engine (libmurr in process)"
build/release/bench_engine --rows "$rows" --cols "$cols" --keys "$keys" --reads "$reads" --batch "$batch" \
  --dir "$work/engine" 2>/dev/null
