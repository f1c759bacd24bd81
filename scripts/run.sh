#!/usr/bin/env bash
# Builds murr (release preset) and starts the server on the embedded defaults:
# HTTP on 0.0.0.0:8080, Flight on 0.0.0.0:8081, storage directory auto-resolved
# (./murr, /var/lib/murr/murr, /data/murr, $TMPDIR/murr). Extra arguments go to murr.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --no-python
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)"
exec build/release/murr "$@"
