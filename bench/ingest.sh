#!/usr/bin/env bash
# A/B of HTTP ingest between two murr server binaries in one run on one machine (issue 18
# target 4): ROWS rows (key = decimal row number, col_0..col_9 float32) PUT as Arrow IPC
# streams of BATCH rows each, one request after another on fresh curl processes, then the
# same rows as one snappy Parquet file (bench/make_parquet.py, 1M-row row groups) into a
# second table. Inputs are written by pyarrow; the client is curl; the time is curl's
# time_total of each PUT (body upload to the last byte of the answer), summed. Each server
# starts on a fresh data directory with the default configuration (storage.sync_writes =
# true: every PUT is fdatasync'ed before its 200). After loading, one fetch of the last key
# checks the data arrived. Runs go A B A B ... (--runs pairs, default 3).
#
# Usage: bench/ingest.sh --a BIN_A --b BIN_B [--runs N] [--rows N] [--batch B] [--data DIR]
#   --data DIR keeps the generated inputs there (default a temp dir; reused if present)
set -euo pipefail
cd "$(dirname "$0")/.."
bin_a="" bin_b="" runs=3 rows=10000000 batch=1000000 data=""
while [ $# -gt 0 ]; do
  case "$1" in
    --a) bin_a=$2; shift 2 ;;
    --b) bin_b=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    *) echo "bench/ingest.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$bin_a" ] && [ -x "$bin_b" ] || { echo "bench/ingest.sh: --a and --b must name murr binaries" >&2; exit 2; }
py=${PYTHON:-build/venv/bin/python}
[ -x "$py" ] || py=/work/main/build/venv/bin/python
work=$(mktemp -d "${TMPDIR:-/tmp}/murr-ingest.XXXXXX")
data=${data:-$work/in}
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

if [ ! -f "$data/ingest.parquet" ] || [ ! -f "$data/done-$rows-$batch" ]; then
  mkdir -p "$data"
  "$py" - "$data" "$rows" "$batch" <<'EOF'
import sys
from pathlib import Path
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
out, rows, batch = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
keys = pa.array(np.arange(rows).astype(str))
cols = {f"col_{c}": pa.array(np.arange(rows, dtype=np.float32) + np.float32(c / 10)) for c in range(10)}
t = pa.table({"key": keys, **cols})
pq.write_table(t, out / "ingest.parquet", compression="snappy", row_group_size=1_000_000)
for i, first in enumerate(range(0, rows, batch)):
    part = t.slice(first, batch).combine_chunks()
    with pa.OSFile(str(out / f"part-{i:04d}.arrows"), "wb") as f, pa.ipc.new_stream(f, t.schema) as w:
        w.write_table(part, max_chunksize=batch)
(out / f"done-{rows}-{batch}").touch()
EOF
fi

schema=$(python3 -c 'import json; c={"key":{"dtype":"utf8","nullable":False}}; c.update({"col_%d"%i:{"dtype":"float32","nullable":False} for i in range(10)}); print(json.dumps({"key":"key","columns":c}))')

run_one() { # run_one <bin> -> "arrow_rows_s parquet_rows_s" into $work/result
  rm -rf "$work/data"
  MURR_STORAGE_PATH="$work/data" MURR_SERVER_HTTP_HOST=127.0.0.1 MURR_SERVER_HTTP_PORT=0 \
    MURR_SERVER_GRPC_HOST=127.0.0.1 MURR_SERVER_GRPC_PORT=0 "$1" >"$work/log" 2>&1 &
  pid=$!
  local port=""
  for _ in $(seq 200); do
    port=$(sed -n 's/.*Listening for HTTP requests on [^ ]*:\([0-9]*\).*/\1/p' "$work/log" | head -1)
    [ -n "$port" ] && break; sleep 0.05
  done
  [ -n "$port" ] || { echo "bench/ingest.sh: $1 did not start:" >&2; cat "$work/log" >&2; exit 1; }
  local u="http://127.0.0.1:$port/api/v1/table"
  curl -sf -X PUT "$u/bench" -H 'Content-Type: application/json' -d "$schema" >/dev/null
  curl -sf -X PUT "$u/pq" -H 'Content-Type: application/json' -d "$schema" >/dev/null
  local total=0 t
  for f in "$data"/part-*.arrows; do
    t=$(curl -sf -o /dev/null -w '%{time_total}' -X PUT "$u/bench/write" \
      -H 'Content-Type: application/vnd.apache.arrow.stream' --data-binary @"$f")
    total=$(python3 -c "print($total + $t)")
  done
  local tp
  tp=$(curl -sf -o /dev/null -w '%{time_total}' -X PUT "$u/pq/write" \
    -H 'Content-Type: application/vnd.apache.parquet' --data-binary @"$data/ingest.parquet")
  local want last
  want=$(python3 -c "print(repr(float.fromhex(float($rows - 1).hex()) + 0.9))")
  for tb in bench pq; do
    last=$(curl -sf -X POST "$u/$tb/fetch" -H 'Content-Type: application/json' \
      -d "{\"keys\":[\"$((rows - 1))\"],\"columns\":[\"col_9\"]}")
    python3 -c "import json,sys,struct; v=json.loads(sys.argv[1])['columns']['col_9'][0]; \
x=struct.unpack('f',struct.pack('f',$rows-1+0.9))[0]; sys.exit(0 if abs(v-x)<=abs(x)*1e-6 else 1)" "$last" ||
      { echo "bench/ingest.sh: wrong answer from $1 table $tb: $last (want ~$want)" >&2; exit 1; }
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  python3 -c "print(f'{$rows/$total:.0f} {$rows/$tp:.0f}')" >"$work/result"
}

echo "| run | A Arrow rows/s | B Arrow rows/s | B/A | A Parquet rows/s | B Parquet rows/s | B/A | load avg |"
echo "|---:|---:|---:|---:|---:|---:|---:|---|"
for i in $(seq "$runs"); do
  run_one "$bin_a"; read -r aa ap <"$work/result"
  run_one "$bin_b"; read -r ba bp <"$work/result"
  python3 -c "print(f'| $i | {$aa:,} | {$ba:,} | {$ba/$aa:.2f}x | {$ap:,} | {$bp:,} | {$bp/$ap:.2f}x | $(cut -d' ' -f1-3 /proc/loadavg) |')"
done
