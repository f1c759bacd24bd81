#!/usr/bin/env bash
# Pull-based loading benchmark (issue 13): a 10M-row x 10 float32 partition (utf8 key) of 8
# snappy Parquet files, followed by murr from an S3 prefix on moto's server (loopback), then
# the same from a local directory. Prints the time from _SUCCESS to serving, rows/s, the
# server's split (log lines), download-only (boto3) and decode-only (bench_parquet) timings,
# the peak RSS during the load and reader p50/p99 idle and during the load.
# Usage: bench/bench_loader.sh [ROWS] [SOURCES]   (default 10000000 "s3 local")
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-10000000}
sources=${2:-s3 local}
bash scripts/setup.sh >/dev/null
cmake --preset release >/dev/null
cmake --build --preset release -j2 >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/murr-loaderbench.XXXXXX")
trap 'rm -rf "$work"' EXIT
for src in $sources; do
  echo "# source: $src"
  build/venv/bin/python bench/bench_loader.py --murr build/release/murr --moto build/venv/bin/moto_server \
    --bench-parquet build/release/bench_parquet --work "$work" --source "$src" --rows "$rows"
  rm -rf "$work/$src"
  echo
done
