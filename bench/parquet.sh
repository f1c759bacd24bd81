#!/usr/bin/env bash
# Parquet benchmark: decode speed per encoding/codec (bench_parquet, in process) and the
# end-to-end ingest of a 10M-row x 10 float32 snappy file over HTTP (PUT with
# Content-Type application/vnd.apache.parquet), in rows/s.
# Usage: bench/parquet.sh [ROWS]   (default 10000000)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-10000000}
bash scripts/setup.sh >/dev/null
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/murr-pqbench.XXXXXX")
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
build/venv/bin/python bench/make_parquet.py "$work/files" "$rows"
echo "## decode (bench_parquet)"
build/release/bench_parquet "$work"/files/enc-*.parquet "$work/files/ingest.parquet"
MURR_STORAGE_PATH="$work/data" MURR_SERVER_HTTP_HOST=127.0.0.1 MURR_SERVER_HTTP_PORT=0 \
  MURR_SERVER_GRPC_HOST=127.0.0.1 MURR_SERVER_GRPC_PORT=0 build/release/murr >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  port=$(sed -n 's/.*Listening for HTTP requests on [^ ]*:\([0-9]*\).*/\1/p' "$work/log" | head -1)
  [ -n "$port" ] && break; sleep 0.1
done
cols=$(python3 -c 'print(",".join("\"col_%d\":{\"dtype\":\"float32\",\"nullable\":false}" % i for i in range(10)))')
curl -sf -X PUT "http://127.0.0.1:$port/api/v1/table/bench" -H 'Content-Type: application/json' \
  -d "{\"key\":\"key\",\"columns\":{\"key\":{\"dtype\":\"utf8\",\"nullable\":false},$cols}}" >/dev/null
size=$(stat -c %s "$work/files/ingest.parquet")
t=$(curl -sf -o /dev/null -w '%{time_total}' -X PUT "http://127.0.0.1:$port/api/v1/table/bench/write" \
  -H 'Content-Type: application/vnd.apache.parquet' --data-binary @"$work/files/ingest.parquet")
echo
echo "## HTTP ingest: $rows rows x 10 float32, snappy, $((size / 1000000)) MB: ${t} s = $(python3 -c "print(f'{$rows/$t:,.0f}')") rows/s"
check=$(curl -sf -X POST "http://127.0.0.1:$port/api/v1/table/bench/fetch" -H 'Content-Type: application/json' \
  -d "{\"keys\":[\"$((rows - 1))\"],\"columns\":[\"col_9\"]}")
echo "check: last row col_9 = $check"
