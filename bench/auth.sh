#!/usr/bin/env bash
# auth.sh [BUILD_DIR] - access-control overhead on fetch (issue 14): starts two murr servers
# from BUILD_DIR (default build/release) on loopback, one without tokens and one with a
# tokens file, and runs bench_auth against both in the same run. Extra arguments after the
# build dir go to bench_auth (--rounds, --per-round, --keys, --rows).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build/release}
shift || true
tmp=$(mktemp -d)
trap 'kill $p1 $p2 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
token=$(openssl rand -hex 32)
echo "read,write,admin $token" > "$tmp/tokens"
start() { # name extra-env... ; prints the HTTP port
  local log=$tmp/$1.log; shift
  env MURR_STORAGE_PATH="$tmp/$(basename "$log" .log)-data" MURR_SERVER_HTTP_HOST=127.0.0.1 MURR_SERVER_HTTP_PORT=0 \
      MURR_SERVER_GRPC_ENABLED=false MURR_SERVER_HTTP_THREADS=1 MURR_STORAGE_SYNC_WRITES=false "$@" \
      "$build/murr" > "$log" 2>&1 &
  echo $! > "$log.pid"
  for _ in $(seq 200); do
    port=$(grep -so 'Listening for HTTP requests on [^ ]*' "$log" | sed 's/.*://') && [ -n "$port" ] && { echo "$port"; return; }
    sleep 0.05
  done
  cat "$log" >&2; exit 1
}
po=$(start open)
pa=$(start auth MURR_SERVER_AUTH_TOKENS_FILE="$tmp/tokens")
p1=$(cat "$tmp/open.log.pid"); p2=$(cat "$tmp/auth.log.pid")
"$build/bench_auth" --open-port "$po" --auth-port "$pa" --token "$token" "$@"
