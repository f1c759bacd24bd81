#!/usr/bin/env bash
# Issue 18 targets 6 and 7: murr at 100M rows x 10 float32 in process (load, memory per
# row, fetch p50/p99, restart time) and the same table served with the process's memory
# capped well below the table's size (a cgroup v1 memory limit).
#
# Steps (each prints a markdown table or line):
#  1. load: release bench_engine --rows N --keep 1 (ingest rows/s with fdatasync, read
#     p50/p99 of 1,000 random keys x 10 columns, RSS/row, its own reopen ms);
#  2. restart: bench/reopen.c on the loaded directory, --opens 3 (warm page cache), then
#     once after the table's files were evicted from the page cache (cold: posix_fadvise
#     DONTNEED on its segment files only, not the machine's whole cache);
#  3. capped (unless --no-cap): the files evicted again, then bench_engine --reuse 1 (open,
#     reads, reopen; no load) in a new memory cgroup limited to --cap bytes
#     (/sys/fs/cgroup/memory/murr-scale-<pid>, root only); prints the cgroup's peak usage and
#     how often the limit was hit. Without a v1 memory controller or root, the step is
#     skipped with a message.
# Usage: bench/scale.sh [--rows N] [--reads R] [--cap BYTES] [--no-cap] [--dir PATH]
#                       [--keep-data] [--no-load] [--smoke]
#   defaults: 100,000,000 rows, 2,000 reads, --cap 3221225472 (3 GiB: the 100M-row table is
#   6.4 GB of records plus a 1 GiB key directory, and recovery needs ~1.6 GB more while it
#   runs), --dir build/scale/data
#   --no-load: skip step 1 and use the directory a previous --keep-data run left (same --rows)
#   --smoke: 200,000 rows, 200 reads, --cap 64 MiB (seconds; checks the script end to end)
# Needs RAM for the load (~90 B/row resident plus the page cache of the files): the script
# refuses to start when MemAvailable is below rows x 100 B. It removes the cgroup, and the
# data unless --keep-data, on exit. Never part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
rows=100000000 reads=2000 cap=$((3 << 30)) do_cap=1 data="" keep_data=0 load=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows=$2; shift 2 ;;
    --reads) reads=$2; shift 2 ;;
    --cap) cap=$2; shift 2 ;;
    --no-cap) do_cap=0; shift ;;
    --dir) data=$2; shift 2 ;;
    --keep-data) keep_data=1; shift ;;
    --no-load) load=0; shift ;;
    --smoke) rows=200000 reads=200 cap=$((64 << 20)); shift ;;
    *) echo "bench/scale.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
base="$root/build/scale"
data=${data:-$base/data}
cg=/sys/fs/cgroup/memory/murr-scale-$$
mkdir -p "$base"
cleanup() {
  if [ -d "$cg" ]; then
    # the capped process has exited; move anything left back to the root group first
    for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do echo "$p" >/sys/fs/cgroup/memory/cgroup.procs || true; done
    rmdir "$cg" || echo "bench/scale.sh: could not remove $cg" >&2
  fi
  [ "$keep_data" = 1 ] || rm -rf "$data"
}
trap cleanup EXIT

avail_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
need_kb=$((rows / 10))  # 100 B/row
if [ "$avail_kb" -lt "$need_kb" ]; then
  echo "bench/scale.sh: $rows rows need ~$((need_kb >> 20)) GiB free, MemAvailable is $((avail_kb >> 20)) GiB" >&2
  exit 1
fi

echo "building release bench_engine ..." >&2
(cmake --preset release -DMURR_TESTS=OFF -DMURR_FUZZ=OFF >"$base/build.log" 2>&1 &&
  cmake --build --preset release --target bench_engine -j"$(nproc)" >>"$base/build.log" 2>&1) ||
  { echo "bench/scale.sh: build failed, see $base/build.log" >&2; tail -20 "$base/build.log" >&2; exit 1; }
libs=$(awk '/^build bench_engine:/ {f = 1} f && /LINK_LIBRARIES/ {sub(/^[^=]*= */, ""); print; exit}' build/release/build.ninja)
(cd build/release && cc -O2 -std=c11 -Wall -Wextra -Werror -I"$root/include" "$root/bench/reopen.c" $libs -lpthread \
  -o "$base/reopen")

evict() { # drops the table's files (only them) from the page cache
  find "$data" -name '*.seg' -print0 | xargs -0 -r python3 -c '
import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)'
}

echo "## Scale: $rows rows x 10 float32 (machine: $(nproc) vCPUs, $(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo); load $(cut -d' ' -f1-3 /proc/loadavg))"
echo
if [ "$load" = 1 ]; then
  echo "### 1. load and fetch in process: build/release/bench_engine --rows $rows --reads $reads --keep 1"
  rm -rf "$data"
  build/release/bench_engine --rows "$rows" --reads "$reads" --keep 1 --dir "$data" 2>/dev/null
  echo
else
  [ -d "$data" ] || { echo "bench/scale.sh: --no-load but no directory $data" >&2; exit 1; }
  echo "### 1. skipped (--no-load): the directory $data from an earlier run"
fi
echo "disk: $(du -sb "$data" | awk -v r="$rows" '{printf "%.1f B/row (%.0f bytes)", $1 / r, $1}')"
echo
echo "### 2. restart: bench/reopen.c --opens 3 (warm page cache), then one open after evicting the files"
"$base/reopen" --dir "$data" --opens 3 2>&1 | grep -E "recovered|^open|^median" | sed 's/^[^ ]* INFO  engine: /  /' 
evict
echo "cold:"
"$base/reopen" --dir "$data" --opens 1 2>&1 | grep -E "recovered|^open" | sed 's/^[^ ]* INFO  engine: /  /' 
if [ "$do_cap" = 1 ]; then
  echo
  echo "### 3. capped: bench_engine --reuse 1 in a memory cgroup of $cap bytes (files evicted first)"
  if [ "$(id -u)" != 0 ] || [ ! -d /sys/fs/cgroup/memory ]; then
    echo "skipped: needs root and the cgroup v1 memory controller at /sys/fs/cgroup/memory"
    exit 0
  fi
  mkdir "$cg"
  echo "$cap" >"$cg/memory.limit_in_bytes"
  echo 0 >"$cg/memory.swappiness" 2>/dev/null || true
  evict
  # the subshell joins the cgroup, then becomes bench_engine
  (echo $BASHPID >"$cg/cgroup.procs" && exec build/release/bench_engine --rows "$rows" --reads "$reads" --reuse 1 \
    --keep 1 --dir "$data" 2>/dev/null)
  echo
  echo "cgroup: limit $(cat "$cg/memory.limit_in_bytes") B, peak usage $(cat "$cg/memory.max_usage_in_bytes") B," \
    "limit hit $(cat "$cg/memory.failcnt") times; table on disk $(du -sb "$data" | cut -f1) B"
  echo "(in --reuse mode 'RSS/row after load' is the whole process's RSS after murr_open, per row; ingest is not measured)"
fi
