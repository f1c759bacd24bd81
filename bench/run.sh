#!/usr/bin/env bash
# One command for the cross-system benchmark: installs what is missing (scripts/setup.sh),
# builds the release preset, starts murr, redis-server and a private PostgreSQL cluster on
# loopback (ephemeral ports, private data dirs under one temp work dir, Redis persistence off,
# PostgreSQL fsync/synchronous_commit/full_page_writes off), runs bench_harness (murr HTTP
# Arrow/JSON and Arrow Flight vs Redis blob/hash, PostgreSQL blob/columns and embedded RocksDB mmap/block,
# verifying every backend's answers), bench_keys (murr 0.3 keys: utf8 / int64 / compound keys
# per fetch form, sparse vs dense answers at a 2% hit rate), bench/py_e2e.py (Python clients
# until a pandas DataFrame is in hand) and bench_engine (libmurr in process), prints markdown
# tables, and stops everything it started.
#
# Usage: bench/run.sh [--smoke] [--rows N] [--cols C] [--keys K] [--reads R] [--batch B]
#                     [--backends LIST] [--py-reads R] [--pg-shared-buffers SIZE]
#                     [--peers] [--murr021-bin PATH] [--murr031-bin PATH]
#                     [--peer-storage mmap|block] [--cap BYTES]
#   defaults: 10M rows, 10 columns, 1,000 keys per read, 5,000 reads, 1M-row write batches,
#             --backends murr,murr-flight,redis,pg,rocksdb,keys,python,engine (any subset,
#             comma-separated; murr-flight = Arrow Flight DoPut load + DoGet reads, port parsed
#             from murr's "Listening for Flight requests on HOST:PORT" log line),
#             --py-reads 500, --pg-shared-buffers 4GB (the data set stays in shared buffers);
#             keys = bench_keys against the same murr server: three more tables of N rows
#             (k_utf8, k_int64, k_compound), R reads per case, 12 cases interleaved; then
#             bench_fetch_path, the same fetches in process stage by stage (its own copy)
#   --peers: add the Rust murr servers from crates.io, murr-0.2.1 and murr-0.3.1, to the
#            backends (or name them in --backends; never in the default list nor in
#            scripts/test.sh: building one takes 25-35 minutes). Each is read by bench_harness
#            with its best request form (harness_peer.c). The binary: --murr021-bin /
#            --murr031-bin or $MURR021_BIN / $MURR031_BIN (a path ending in .xz is decompressed
#            into the cache first), else the cache, else `cargo install murr --version X
#            --locked --root <cache>/murr-X`; the cache is $BENCH_PEER_CACHE, default
#            ${XDG_CACHE_HOME:-~/.cache}/murr-bench-peers (outside the source tree). The script
#            writes each peer's config (loopback ports, a data dir in the work dir, `storage.mmap:
#            {}`: 0.2.1 panics at start without a backend) and kills it at the end (neither
#            version stops gracefully on SIGTERM).
#   --peer-storage: the Rust murr peers' storage backend (`storage.mmap: {}`, the default, or
#            `storage.block: {}`: RocksDB BlockBasedTable with its defaults, the profile meant
#            for tables larger than RAM)
#   --cap BYTES: after the build, the script (and so every server, client and embedded store
#            it starts: run one backend at a time) joins a new cgroup v1 memory group limited
#            to BYTES (/sys/fs/cgroup/memory/murr-bench-<pid>; root only): issue 18 target 7,
#            tables larger than RAM. Prints the group's peak usage and how often the limit
#            was hit at the end; removes the group on exit.
#   --smoke: 10K rows, 200 reads, 100 Python reads, 100 bench_keys reads per case (what the
#            test suite runs so the harness never rots)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=10000000 cols=10 keys=1000 reads=5000 batch=1000000 py_reads=500 pg_shared_buffers=4GB keys_reads=""
backends=murr,murr-flight,redis,pg,rocksdb,keys,python,engine
peer_storage=mmap cap=""
peer_bin_021=${MURR021_BIN:-} peer_bin_031=${MURR031_BIN:-}
peer_cache=${BENCH_PEER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/murr-bench-peers}
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) rows=10000 reads=200 batch=5000 py_reads=100 pg_shared_buffers=128MB keys_reads=100; shift ;;
    --rows) rows=$2; shift 2 ;;
    --cols) cols=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --reads) reads=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --backends) backends=$2; shift 2 ;;
    --py-reads) py_reads=$2; shift 2 ;;
    --pg-shared-buffers) pg_shared_buffers=$2; shift 2 ;;
    --peers) backends=$backends,murr-0.2.1,murr-0.3.1; shift ;;
    --murr021-bin) peer_bin_021=$2; shift 2 ;;
    --murr031-bin) peer_bin_031=$2; shift 2 ;;
    --peer-storage) peer_storage=$2; shift 2 ;;
    --cap) cap=$2; shift 2 ;;
    *) echo "bench/run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
for b in ${backends//,/ }; do
  case "$b" in
    murr|murr-flight|redis|pg|rocksdb|keys|python|engine|murr-0.2.1|murr-0.3.1) ;;
    *) echo "bench/run.sh: unknown backend '$b' in --backends (known: murr,murr-flight,redis,pg,rocksdb,keys,python,engine,murr-0.2.1,murr-0.3.1)" >&2; exit 2 ;;
  esac
done
case "$peer_storage" in mmap|block) ;; *) echo "bench/run.sh: --peer-storage is mmap or block" >&2; exit 2 ;; esac
keys_reads=${keys_reads:-$reads}
want() { case ",$backends," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
bash scripts/setup.sh --no-python >/dev/null
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/murr-bench.XXXXXX")
pids=()
pg_ctl_cmd=()
cg=""
cleanup() {
  if [ ${#pg_ctl_cmd[@]} -gt 0 ]; then "${pg_ctl_cmd[@]}" stop -m fast >/dev/null 2>&1 || true; fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
  if [ -n "$cg" ] && [ -d "$cg" ]; then
    for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do echo "$p" >/sys/fs/cgroup/memory/cgroup.procs 2>/dev/null || true; done
    rmdir "$cg" 2>/dev/null || echo "bench/run.sh: could not remove $cg" >&2
  fi
}
trap cleanup EXIT
if [ -n "$cap" ]; then
  [ "$(id -u)" = 0 ] && [ -d /sys/fs/cgroup/memory ] ||
    { echo "bench/run.sh: --cap needs root and the cgroup v1 memory controller at /sys/fs/cgroup/memory" >&2; exit 2; }
  cg=/sys/fs/cgroup/memory/murr-bench-$$
  mkdir "$cg"
  echo "$cap" >"$cg/memory.limit_in_bytes"
  echo 0 >"$cg/memory.swappiness" 2>/dev/null || true
  echo $$ >"$cg/cgroup.procs" # every process started from here on is in the group
fi

. bench/servers.sh

redis_args=()
if want redis || want python; then
  start_redis
  redis_args=(--redis-port "$redis_port" --redis-pid "$redis_pid")
  if want python; then redis_args+=(--redis-keep-blob); fi
fi

murr_args=()
if want murr || want murr-flight || want keys || want python; then
  MURR_STORAGE_PATH="$work/murr" MURR_SERVER_HTTP_HOST=127.0.0.1 MURR_SERVER_HTTP_PORT=0 \
    MURR_SERVER_GRPC_HOST=127.0.0.1 MURR_SERVER_GRPC_PORT=0 \
    build/release/murr >"$work/murr.log" 2>&1 &
  pids+=($!)
  murr_pid=$!
  for _ in $(seq 100); do
    port=$(sed -n 's/.*Listening for HTTP requests on [^ ]*:\([0-9]*\).*/\1/p' "$work/murr.log" | head -1)
    [ -n "$port" ] && break
    sleep 0.1
  done
  if [ -z "${port:-}" ]; then
    # MURR_LOG=warn hides the INFO line; fall back to asking the kernel
    port=$(ss -ltnp 2>/dev/null | awk -v p="pid=$murr_pid," '$0 ~ p {split($4,a,":"); print a[length(a)]}' | head -1)
  fi
  [ -n "${port:-}" ] || { echo "murr did not start:"; cat "$work/murr.log"; exit 1; }
  murr_args=(--murr-port "$port" --murr-pid "$murr_pid" --murr-dir "$work/murr")
  if want murr-flight; then
    for _ in $(seq 100); do
      grpc_port=$(sed -n 's/.*Listening for Flight requests on [^ ]*:\([0-9]*\).*/\1/p' "$work/murr.log" | head -1)
      [ -n "$grpc_port" ] && break
      sleep 0.1
    done
    [ -n "${grpc_port:-}" ] || { echo "murr shows no 'Listening for Flight requests on HOST:PORT' line:"; cat "$work/murr.log"; exit 1; }
    murr_args+=(--murr-grpc-port "$grpc_port")
  fi
fi

# PostgreSQL: a private cluster in the work dir. postgres refuses to run as root, so as root
# the cluster belongs to the Debian package's unprivileged user `postgres`.
pg_args=()
pg_version=""
if want pg; then
  initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$initdb" ]; then
    echo "PostgreSQL: skipped (no /usr/lib/postgresql/*/bin/initdb: install the Debian package postgresql)"
  else
    pg_bin=$(dirname "$initdb")
    as_pg=()
    if [ "$(id -u)" -eq 0 ]; then
      as_pg=(runuser -u postgres --)
      chmod 755 "$work"
    fi
    mkdir -p "$work/pg"
    [ ${#as_pg[@]} -eq 0 ] || chown postgres: "$work/pg"
    "${as_pg[@]}" "$pg_bin/initdb" -D "$work/pg/data" -A trust -U postgres --locale=C -E UTF8 \
      >"$work/pg/initdb.log" 2>&1 || { cat "$work/pg/initdb.log"; exit 1; }
    pg_port=$(free_port)
    pg_ctl_cmd=("${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/pg/data")
    "${pg_ctl_cmd[@]}" -l "$work/pg/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $pg_port -c unix_socket_directories=$work/pg \
          -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_wal_size=4GB \
          -c shared_buffers=$pg_shared_buffers -c work_mem=16MB -c effective_io_concurrency=200" \
      start >/dev/null || { cat "$work/pg/server.log"; exit 1; }
    pg_pid=$(head -1 "$work/pg/data/postmaster.pid")
    pg_version=$("$pg_bin/postgres" --version | awk '{print $3}')
    pg_args=(--pg-conninfo "host=127.0.0.1 port=$pg_port user=postgres dbname=postgres" --pg-pid "$pg_pid"
             --pg-data "$work/pg/data")
  fi
fi

# The Rust murr peers: a binary from the option/variable, the cache or cargo install.
peer_binary() { # peer_binary <version> <given path or empty>: prints the binary's path
  local v=$1 given=$2 dest="$peer_cache/murr-$1/bin/murr"
  if [ -n "$given" ]; then
    case "$given" in
      *.xz) if [ ! -x "$dest" ] || [ "$given" -nt "$dest" ]; then
              mkdir -p "$(dirname "$dest")" && xz -dc "$given" >"$dest.tmp" && chmod +x "$dest.tmp" && mv "$dest.tmp" "$dest"
            fi
            echo "$dest" ;;
      *) [ -x "$given" ] || { echo "bench/run.sh: murr $v binary '$given' is not executable" >&2; return 1; }
         echo "$given" ;;
    esac
    return 0
  fi
  if [ ! -x "$dest" ]; then
    command -v cargo >/dev/null || { echo "bench/run.sh: murr $v: no binary given (--murr0${v:2:1}1-bin) or cached at $dest, and no cargo to build it" >&2; return 1; }
    echo "building murr $v with cargo install into $peer_cache/murr-$v (25-35 minutes on 2 cores) ..." >&2
    cargo install murr --version "$v" --locked --root "$peer_cache/murr-$v" >&2
  fi
  echo "$dest"
}
peer_args=()
peer_versions=()
start_peer() { # start_peer <version> <binary> <harness flag prefix>
  local v=$1 bin=$2 flag=$3 dir="$work/peer-$1" http grpc pid
  http=$(free_port) grpc=$(free_port)
  mkdir -p "$dir/data"
  printf 'server:\n  http:\n    host: 127.0.0.1\n    port: %s\n  grpc:\n    host: 127.0.0.1\n    port: %s\nstorage:\n  path: %s\n  %s: {}\n' \
    "$http" "$grpc" "$dir/data" "$peer_storage" >"$dir/config.yaml"
  # without our MURR_* variables: the Rust murr reads them as configuration too
  env $(env | sed -n 's/^\(MURR_[A-Za-z0-9_]*\)=.*/-u \1/p') "$bin" -c "$dir/config.yaml" >"$dir/log" 2>&1 &
  pid=$!
  pids+=($pid)
  for _ in $(seq 300); do grep -qs 'Listening for HTTP requests on' "$dir/log" && break; sleep 0.1; done
  grep -q 'Listening for HTTP requests on' "$dir/log" || { echo "murr $v did not start:"; cat "$dir/log"; exit 1; }
  peer_args+=("--$flag-port" "$http" "--$flag-pid" "$pid" "--$flag-dir" "$dir/data")
  peer_versions+=("$("$bin" --version | cut -d' ' -f2)")
}
if want murr-0.2.1; then bin_021=$(peer_binary 0.2.1 "$peer_bin_021") || exit 1; start_peer 0.2.1 "$bin_021" murr021; fi
if want murr-0.3.1; then bin_031=$(peer_binary 0.3.1 "$peer_bin_031") || exit 1; start_peer 0.3.1 "$bin_031" murr031; fi

rocks_args=()
if want rocksdb; then
  mkdir -p "$work/rocksdb"
  rocks_args=(--rocksdb-dir "$work/rocksdb")
fi
rocks_version=$(dpkg-query -W -f='${Version}' librocksdb-dev 2>/dev/null || echo "not installed")

harness_backends=""
for b in murr murr-flight redis pg rocksdb murr-0.2.1 murr-0.3.1; do
  if want $b || { want python && { [ $b = murr ] || [ $b = redis ]; }; }; then
    harness_backends="$harness_backends${harness_backends:+,}$b"
  fi
done
redis_version=$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
peer_note=""
[ ${#peer_versions[@]} -eq 0 ] || peer_note=", Rust murr ${peer_versions[*]}"
echo "## bench_harness (murr $(build/release/murr --version | cut -d' ' -f2), redis $redis_version, postgres ${pg_version:-not run}, rocksdb $rocks_version$peer_note)"
if [ -n "$harness_backends" ]; then
  build/release/bench_harness --backends "$harness_backends" "${murr_args[@]}" "${redis_args[@]}" \
    "${pg_args[@]}" "${rocks_args[@]}" "${peer_args[@]}" --rows "$rows" --cols "$cols" --keys "$keys" --reads "$reads" --batch "$batch"
fi

if want keys; then
  echo
  echo "## bench_keys (murr 0.3 keys: utf8, int64 and compound keys per fetch form; sparse vs dense answers)"
  build/release/bench_keys --murr-port "$port" --rows "$rows" --cols "$cols" --keys "$keys" --reads "$keys_reads" \
    --batch "$batch"
  echo
  echo "## bench_fetch_path (the same fetches in process, stage by stage)"
  build/release/bench_fetch_path --rows "$rows" --cols "$cols" --keys "$keys" --reads "$keys_reads" \
    --dir "$work/fetch-path"
fi

if want python; then
  echo
  echo "## py_e2e (Python clients until a pandas DataFrame is in hand)"
  build/venv/bin/python bench/py_e2e.py --murr-port "$port" --murr-log "$work/murr.log" --redis-port "$redis_port" \
    --rows "$rows" --cols "$cols" --keys "$keys" --reads "$py_reads"
fi

if want engine; then
  echo
  echo "## bench_engine (libmurr in process)"
  build/release/bench_engine --rows "$rows" --cols "$cols" --keys "$keys" --reads "$reads" --batch "$batch" \
    --dir "$work/engine" 2>/dev/null
fi

if [ -n "$cap" ]; then
  echo
  echo "memory cgroup: limit $(cat "$cg/memory.limit_in_bytes") B, peak usage $(cat "$cg/memory.max_usage_in_bytes") B, limit hit $(cat "$cg/memory.failcnt") times"
fi
