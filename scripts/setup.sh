#!/usr/bin/env bash
# Installs what murr needs to build and test, idempotently:
#  1. Debian packages that are missing (one `apt-get update` first, only if something is missing);
#  2. a Python virtualenv inside the build tree (build/venv) with the pinned test dependencies;
#  3. the murr 0.1.9 client (same distribution name as the pinned murr 0.3.1, so it cannot
#     share the venv) into build/pyclients/murr-0.1.9, for tests that run it in a subprocess
#     with PYTHONPATH set there; its dependencies (httpx, pydantic, pyarrow) come from the venv.
# Nothing is downloaded outside the package registries (Debian, PyPI).
# Usage: scripts/setup.sh [--no-python]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

# Build and runtime libraries; test and fuzz toolchains; benchmark peers (redis, postgresql,
# rocksdb) that the
# test suite's benchmark smoke test also runs.
pkgs=(
  build-essential cmake ninja-build pkg-config git
  libhttp-parser-dev libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler
  libyaml-dev libjansson-dev libxxhash-dev
  libcurl4-openssl-dev libexpat1-dev libssl-dev openssl
  libsnappy-dev libzstd-dev zlib1g-dev liblz4-dev libbrotli-dev
  libcriterion-dev
  clang libclang-rt-14-dev llvm
  curl
  redis-server libhiredis-dev
  postgresql libpq-dev librocksdb-dev
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: Debian packages present"
fi

if [ "${1:-}" = "--no-python" ]; then exit 0; fi

venv="$here/build/venv"
req="$here/tests/requirements.txt"
stamp="$venv/.requirements.sha"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating virtualenv $venv"
  python3 -m venv "$venv"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing Python test dependencies from $req"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
else
  echo "setup: Python test dependencies present"
fi

# murr 0.1.9: --no-deps (its dependencies are the venv's), --target (a directory of its own).
# Installed once; the directory is created only by a complete install (pip into a temporary
# directory, then rename), so a half-finished install is retried on the next run.
v019="$here/build/pyclients/murr-0.1.9"
if [ ! -f "$v019/murr/__init__.py" ]; then
  echo "setup: installing murr 0.1.9 into $v019"
  rm -rf "$v019.tmp"
  mkdir -p "$(dirname "$v019")"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --target "$v019.tmp" murr==0.1.9
  rm -rf "$v019"
  mv "$v019.tmp" "$v019"
else
  echo "setup: murr 0.1.9 client present"
fi
