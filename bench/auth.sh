#!/usr/bin/env bash
# auth.sh [BUILD_DIR] - access-control overhead on fetch (issue 14): starts two murr servers
# from BUILD_DIR (default build/release) on loopback, one without tokens and one with a
# tokens file, and runs bench_auth against both in the same run. Extra arguments after the
# build dir go to bench_auth (--rounds, --per-round, --keys, --rows).
# BASE_BUILD=DIR: instead, an A/B of two builds without tokens: A = DIR's murr, B =
# BUILD_DIR's murr, neither sent a token (the cost of the check when none is configured).
# TLS=1: the server with tokens also serves TLS (certificates from tests/support/mkcerts.sh):
# B = bearer token over TLS, A = cleartext without a token.
# TLS=1 BASE_BUILD=DIR: a third server C from DIR configured as B (bearer token over TLS):
# before/after of the TLS path in the same run, both against the same cleartext A.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build/release}
shift || true
tmp=$(mktemp -d)
p3=
trap 'kill $p1 $p2 $p3 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
token=$(openssl rand -hex 32)
echo "read,write,admin $token" > "$tmp/tokens"
start() { # name binary extra-env... ; prints the HTTP port
  local log=$tmp/$1.log bin=$2; shift 2
  env MURR_STORAGE_PATH="$tmp/$(basename "$log" .log)-data" MURR_SERVER_HTTP_HOST=127.0.0.1 MURR_SERVER_HTTP_PORT=0 \
      MURR_SERVER_GRPC_ENABLED=false MURR_SERVER_HTTP_THREADS=1 MURR_STORAGE_SYNC_WRITES=false "$@" \
      "$bin" > "$log" 2>&1 &
  echo $! > "$log.pid"
  for _ in $(seq 200); do
    port=$(grep -so 'Listening for HTTP requests on [^ ]*' "$log" | sed 's/.*://') && [ -n "$port" ] && { echo "$port"; return; }
    sleep 0.05
  done
  cat "$log" >&2; exit 1
}
tls_args=()
if [ -n "${TLS:-}" ]; then
  "$here/tests/support/mkcerts.sh" "$tmp/pki"
  tls_args=(--tls-ca "$tmp/pki/ca.pem")
fi
tls_env=(MURR_SERVER_AUTH_TOKENS_FILE="$tmp/tokens" MURR_SERVER_TLS_CERT_FILE="$tmp/pki/server.pem"
         MURR_SERVER_TLS_KEY_FILE="$tmp/pki/server.key")
base_args=()
if [ -n "${BASE_BUILD:-}" ] && [ -n "${TLS:-}" ]; then
  po=$(start open "$build/murr")
  pa=$(start auth "$build/murr" "${tls_env[@]}")
  pb=$(start base "$BASE_BUILD/murr" "${tls_env[@]}")
  p3=$(cat "$tmp/base.log.pid")
  base_args=(--base-port "$pb")
elif [ -n "${BASE_BUILD:-}" ]; then
  po=$(start open "$BASE_BUILD/murr")
  pa=$(start auth "$build/murr")
  token=-
else
  po=$(start open "$build/murr")
  if [ -n "${TLS:-}" ]; then
    pa=$(start auth "$build/murr" "${tls_env[@]}")
  else
    pa=$(start auth "$build/murr" MURR_SERVER_AUTH_TOKENS_FILE="$tmp/tokens")
  fi
fi
p1=$(cat "$tmp/open.log.pid"); p2=$(cat "$tmp/auth.log.pid")
pids=$p1,$p2${p3:+,$p3}
"$build/bench_auth" --open-port "$po" --auth-port "$pa" --token "$token" --pids "$pids" ${tls_args[@]+"${tls_args[@]}"} \
  ${base_args[@]+"${base_args[@]}"} "$@"
