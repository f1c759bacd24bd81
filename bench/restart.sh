#!/usr/bin/env bash
# Restart time A/B: the wall time of murr_open of one loaded data directory, by a git
# revision (A, default main) and by this working tree (B), alternating A B A B ... on the
# same files (the on-disk format is shared), so both see the same page cache and load.
#
# Loads --rows rows x 10 float32 once with this tree's bench_engine (release preset,
# --keep 1), then times bench/reopen.c built against each revision's libmurr.so.
# Usage: bench/restart.sh [--rev REV] [--rows N] [--pairs P] [--cold] [--dir PATH] [--keep-data]
#   --cold       drop the page cache before every open (echo 3 > /proc/sys/vm/drop_caches,
#                root only; it slows everything else on the machine for a moment)
#   --dir PATH   where the data directory goes (default build/restart/data; it is removed
#                at exit unless --keep-data)
# Prints one line per open and the medians with the B/A ratio. Removes its temporary
# worktree (and the data unless --keep-data) on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
rev=main rows=10000000 pairs=5 cold=0 data="" keep_data=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rev) rev=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    --pairs) pairs=$2; shift 2 ;;
    --cold) cold=1; shift ;;
    --dir) data=$2; shift 2 ;;
    --keep-data) keep_data=1; shift ;;
    *) echo "restart.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
base="$root/build/restart"
data=${data:-$base/data}
sha=$(git rev-parse --verify "$rev^{commit}")
short=${sha:0:7}
mkdir -p "$base/bin"
wt=""
cleanup() {
  if [ -n "$wt" ] && [ -d "$wt" ]; then git worktree remove --force "$wt" >/dev/null 2>&1 || true; fi
  [ "$keep_data" = 1 ] || rm -rf "$data"
}
trap cleanup EXIT

lib() { # lib <source dir> <build dir> <log>: the release libmurr_internal.a and bench_engine
  (cd "$1" && cmake --preset release -B "$2" -DMURR_TESTS=OFF -DMURR_FUZZ=OFF >"$3" 2>&1 &&
    cmake --build "$2" --target bench_engine -j"$(nproc)" >>"$3" 2>&1) ||
    { echo "restart.sh: build of $1 failed, see $3" >&2; tail -20 "$3" >&2; exit 1; }
}
opener() { # opener <build dir> <out>: bench/reopen.c linked with that build's engine, the
  # libraries taken from its bench_engine link line (libmurr.so is not linkable on its own)
  local libs
  libs=$(awk '/^build bench_engine:/ {f = 1} f && /LINK_LIBRARIES/ {sub(/^[^=]*= */, ""); print; exit}' "$1/build.ninja")
  (cd "$1" && cc -O2 -std=c11 -Wall -Wextra -Werror -I"$root/include" "$root/bench/reopen.c" $libs -lpthread -o "$2")
}
if [ ! -f "$base/bin/a-$short/libmurr_internal.a" ]; then
  echo "building A = $short ..." >&2
  wt=$(mktemp -d "${TMPDIR:-/tmp}/murr-restart.XXXXXX")
  rmdir "$wt"
  git worktree add --detach "$wt" "$sha" >/dev/null 2>&1
  lib "$wt" "$base/bin/a-$short" "$base/build-a.log"
fi
echo "building B = working tree ..." >&2
lib "$root" "$root/build/release" "$base/build-b.log"
opener "$base/bin/a-$short" "$base/bin/reopen-a-$short"
opener "$root/build/release" "$base/bin/reopen-b"

if [ ! -d "$data" ]; then
  echo "loading $rows rows into $data ..." >&2
  "$root/build/release/bench_engine" --rows "$rows" --reads 100 --keep 1 --dir "$data" >"$base/load.txt"
  cat "$base/load.txt"
fi
du -sh "$data"
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
a_ms=() b_ms=()
one() { # one <binary>: prints the ms of one open
  [ "$cold" = 0 ] || { sync; echo 3 >/proc/sys/vm/drop_caches; }
  "$1" --dir "$data" --opens 1 | awk '/^open 1:/ {print $3}'
}
printf '| pair | load before | A = %s open ms | B = working tree open ms |\n|---:|---:|---:|---:|\n' "$short"
for p in $(seq 1 "$pairs"); do
  load=$(cut -d' ' -f1 /proc/loadavg)
  a=$(one "$base/bin/reopen-a-$short")
  b=$(one "$base/bin/reopen-b")
  a_ms+=("$a") b_ms+=("$b")
  printf '| %d | %s | %s | %s |\n' "$p" "$load" "$a" "$b"
done
am=$(printf '%s\n' "${a_ms[@]}" | median)
bm=$(printf '%s\n' "${b_ms[@]}" | median)
printf '\nmedian open ms: A %s, B %s, B/A %s (%s rows, %s pairs%s)\n' "$am" "$bm" \
  "$(awk -v a="$am" -v b="$bm" 'BEGIN {printf "%.3f", b / a}')" "$rows" "$pairs" "$([ "$cold" = 1 ] && echo ', cold cache')"
