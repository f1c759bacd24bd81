#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds (debug preset, and asan for the
# decoder and engine tests), runs the unit tests (CTest + Criterion) and the end-to-end
# tests (pytest against the real binary). Exits non-zero on any failure.
# Usage: scripts/test.sh [--quick]   (--quick skips the asan build)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)

echo "== build (debug)"
cmake --preset debug >/dev/null
cmake --build --preset debug -j"$jobs"
echo "== unit tests (debug)"
ctest --test-dir build/debug --output-on-failure -j"$jobs"

if [ "${1:-}" != "--quick" ]; then
  echo "== build (asan: ASan + UBSan)"
  cmake --preset asan >/dev/null
  cmake --build --preset asan -j"$jobs"
  echo "== unit tests (asan)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build/asan --output-on-failure -j"$jobs"
  echo "== concurrency stress (tsan)"
  cmake --preset tsan >/dev/null
  cmake --build --preset tsan -j"$jobs" --target test_engine_stress test_engine_stress_versions
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 setarch "$(uname -m)" -R build/tsan/test_engine_stress
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 setarch "$(uname -m)" -R build/tsan/test_engine_stress_versions
  echo "== end-to-end tests against the tsan server (the threaded ones: loops, workers, drain, replace, loader, TLS)"
  # RSS-bound attack tests stay out (ThreadSanitizer's shadow memory is several times the heap);
  # a "WARNING: ThreadSanitizer" in a server's log fails the test (conftest.py)
  cmake --build --preset tsan -j"$jobs" --target murr
  TSAN_OPTIONS=halt_on_error=0 MURR_BUILD_DIR="$PWD/build/tsan" MURR_BIN="$PWD/build/tsan/murr" \
    setarch "$(uname -m)" -R build/venv/bin/python -m pytest -q -p no:cacheprovider tests/e2e/test_lifecycle.py \
    tests/e2e/test_http_api.py tests/e2e/test_flight.py tests/e2e/test_versions.py tests/e2e/test_loader.py \
    tests/e2e/test_tls.py tests/e2e/test_wire_answers.py
fi

if [ "${1:-}" != "--quick" ]; then
  echo "== end-to-end tests against the asan server (sanitizer reports fail the run)"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 MURR_BUILD_DIR="$PWD/build/asan" \
    MURR_BIN="$PWD/build/asan/murr" build/venv/bin/python -m pytest -q -p no:cacheprovider -k "not bench_smoke" tests/e2e
fi

echo "== end-to-end tests (pytest)"
MURR_BUILD_DIR="$PWD/build/debug" MURR_BIN="$PWD/build/debug/murr" build/venv/bin/python -m pytest -q tests/e2e

echo "== Python package (pip install ./python into build/pyvenv, pytest python/tests)"
# a venv of its own (the e2e venv stays untouched); the package is rebuilt every run, from
# this checkout, by scikit-build-core with the repository's CMake. PyPI murr 0.3.1 is the
# interop peer of the tests; torch is not installed (its tests skip).
if [ ! -x build/pyvenv/bin/python ]; then
  "$(build/venv/bin/python -c 'import sys; print(sys._base_executable)')" -m venv build/pyvenv
fi
build/pyvenv/bin/pip install -q pyarrow numpy pandas pytest murr==0.3.1
build/pyvenv/bin/pip install -q --force-reinstall --no-deps ./python
(cd python && ../build/pyvenv/bin/python -m pytest -q -p no:cacheprovider tests)
if [ "${1:-}" != "--quick" ]; then
  echo "== Python package tests on the asan libmurr_py and server (ASan + UBSan; leak checks off: the interpreter's)"
  # the sources as checked out (PYTHONPATH) over build/asan's murr_internal: only libmurr_py links anew
  cmake --preset asan -DMURR_PYTHON=ON >/dev/null
  cmake --build --preset asan -j"$jobs" --target murr_py murr
  (cd python && LD_PRELOAD="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)" \
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    PYTHONPATH="$PWD/src" PYMURR_LIB="$PWD/../build/asan/python/libmurr_py.so" PYMURR_SERVER_BIN="$PWD/../build/asan/murr" \
    ../build/pyvenv/bin/python -m pytest -q -p no:cacheprovider tests)
fi
