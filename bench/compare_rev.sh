#!/usr/bin/env bash
# A/B of bench_engine between a git revision (A, default 351c4fd: main before the engine
# structure change of issue 12) and the current working tree (B), in one run on one machine.
#
# Builds bench_engine for A in a temporary git worktree and for B from this tree, both with
# the `release` preset (the one docs/benchmarks.md measures bench_engine with; tests and
# fuzzers off, only the bench_engine target), then runs A B A B ... (--runs pairs, default 3)
# with the same arguments and prints, per run and as medians: ingest rows/s, read p50/p99 us
# and reopen ms (bench_engine's own "reopen ms": murr_close, then the time of murr_open of
# the loaded directory), with B/A ratios against the issue's 5% no-regression target.
#
# Usage: bench/compare_rev.sh [--rev REV] [--runs N] [--rebuild] [--max-load L] [--out DIR]
#                             [-- | bench_engine args ...]
#   bench_engine args default to: --rows 10000000 --reads 5000 (docs/benchmarks.md)
#   --rebuild   build A again even if build/compare-rev/bin/bench_engine-<sha> exists
#   --max-load  before each run wait (up to 10 min) until the 1-minute load average is below L
#   --out DIR   keep each run's raw output there (default build/compare-rev/runs-<time>)
# A's binary is cached by commit in build/compare-rev/bin/; B is rebuilt (incrementally)
# every time in build/compare-rev/current. The temporary worktree is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
rev=351c4fd runs=3 rebuild=0 max_load="" out=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rev) rev=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --rebuild) rebuild=1; shift ;;
    --max-load) max_load=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --) shift; args+=("$@"); break ;;
    *) args+=("$1"); shift ;;
  esac
done
[ ${#args[@]} -gt 0 ] || args=(--rows 10000000 --reads 5000)
for a in "${args[@]}"; do
  [ "$a" != "--dir" ] || { echo "compare_rev.sh: --dir is chosen by the script" >&2; exit 2; }
done

sha=$(git rev-parse --verify "$rev^{commit}")
short=${sha:0:7}
cur_desc=$(git describe --always --dirty --abbrev=7)
base="$root/build/compare-rev"
mkdir -p "$base/bin"
out=${out:-$base/runs-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/murr-compare-rev.XXXXXX")
wt=""
cleanup() {
  if [ -n "$wt" ] && [ -d "$wt" ]; then git worktree remove --force "$wt" >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

build() { # build <source dir> <build dir> <log>
  (cd "$1" && cmake --preset release -B "$2" -DMURR_TESTS=OFF -DMURR_FUZZ=OFF >"$3" 2>&1 &&
    cmake --build "$2" --target bench_engine -j"$(nproc)" >>"$3" 2>&1) ||
    { echo "compare_rev.sh: build of $1 failed, see $3" >&2; tail -20 "$3" >&2; exit 1; }
}

bin_a="$base/bin/bench_engine-$short"
if [ "$rebuild" = 1 ] || [ ! -x "$bin_a" ]; then
  echo "building A = $short ($(git log -1 --format=%s "$sha" | cut -c1-70)) ..."
  wt="$tmp/src"
  git worktree add --detach "$wt" "$sha" >/dev/null 2>&1
  build "$wt" "$tmp/build" "$out/build-A.log"
  cp "$tmp/build/bench_engine" "$bin_a"
  git worktree remove --force "$wt" >/dev/null 2>&1 || true
  wt=""
fi
echo "building B = working tree $cur_desc ..."
build "$root" "$base/current" "$out/build-B.log"
bin_b="$tmp/bench_engine-current"
cp "$base/current/bench_engine" "$bin_b"
if ! git diff --quiet "$sha" -- bench/bench_engine.c bench/bench_common.h; then
  echo "note: bench/bench_engine.c or bench_common.h differ between $short and the working tree"
fi

wait_load() {
  [ -n "$max_load" ] || return 0
  for _ in $(seq 120); do
    awk -v m="$max_load" '{exit !($1 < m)}' /proc/loadavg && return 0
    sleep 5
  done
  echo "  (load still $(cut -d' ' -f1 /proc/loadavg) after 10 min; running anyway)"
}

# columns of bench_engine's table row: | rows | batch | keys | ingest | p50 | p99 | p999 | busy |
# rss load | rss reads | keydir | data | reopen ms |
echo
echo "bench_engine ${args[*]}; A = $short, B = $cur_desc; raw output in $out"
echo
echo "| run | build | load before | ingest rows/s | read p50 us | p99 us | reopen ms |"
echo "|---:|---|---:|---:|---:|---:|---:|"
declare -A ing p50 p99 reo
for i in $(seq "$runs"); do
  for side in A B; do
    wait_load
    load=$(cut -d' ' -f1 /proc/loadavg)
    bin=$bin_a; [ $side = B ] && bin=$bin_b
    log="$out/run$i-$side.txt"
    "$bin" "${args[@]}" --dir "$tmp/data" >"$log" 2>"$log.err" ||
      { echo "compare_rev.sh: run $i $side failed:" >&2; cat "$log" "$log.err" >&2; exit 1; }
    row=$(grep -E '^\| [0-9]' "$log" | tail -1)
    IFS='|' read -r _ _ _ _ f_ing f_p50 f_p99 _ _ _ _ _ _ f_reo _ <<<"$row"
    ing[$side$i]=$(echo $f_ing) p50[$side$i]=$(echo $f_p50) p99[$side$i]=$(echo $f_p99) reo[$side$i]=$(echo $f_reo)
    echo "| $i | $side | $load | ${ing[$side$i]} | ${p50[$side$i]} | ${p99[$side$i]} | ${reo[$side$i]} |"
  done
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {printf "%.10g\n", (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
col() { local -n m=$1; local side=$2 v=(); for i in $(seq "$runs"); do v+=("${m[$side$i]}"); done; median "${v[@]}"; }
echo
echo "| metric | A $short median | B $cur_desc median | B/A | target (<= 5% worse) |"
echo "|---|---:|---:|---:|---|"
report() { # name array higher-is-better
  local a b r verdict
  a=$(col "$2" A) b=$(col "$2" B)
  r=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", b / a}')
  if [ "$3" = x ]; then
    verdict="-"
  elif [ "$3" = 1 ]; then
    verdict=$(awk -v r="$r" 'BEGIN {print (r >= 0.95) ? "met" : "missed"}')
  else
    verdict=$(awk -v r="$r" 'BEGIN {print (r <= 1.05) ? "met" : "missed"}')
  fi
  echo "| $1 | $a | $b | ${r}x | $verdict |"
}
report "ingest rows/s" ing 1
report "read p50 us" p50 0
report "read p99 us (no target)" p99 x
report "reopen ms" reo 0
