#!/bin/sh
# ab_python.sh - A/B of pymurr's embedded read path: bench_python.py --only-embedded run
# alternately against two source trees' python/src + libmurr_py (each built with
#   cmake -S T -B T/build/pydev -G Ninja -DCMAKE_BUILD_TYPE=Release -DMURR_PYTHON=ON \
#         -DMURR_TESTS=OFF -DMURR_BENCH=OFF && cmake --build T/build/pydev --target murr_py)
# on one data directory (bench_python.py --dir DIR made it; it is reused).
# Usage: bench/ab_python.sh OLD_TREE NEW_TREE DIR [ROUNDS]   (run from the repository root)
set -eu
old=$1 new=$2 dir=$3 rounds=${4:-3}
py=${PYTHON:-build/pyvenv/bin/python}
for round in $(seq "$rounds"); do
  for side in old new; do
    if [ "$side" = old ]; then tree=$old; else tree=$new; fi
    echo "== $side round $round $(uptime | sed 's/.*load/load/')"
    PYTHONPATH=$tree/python/src PYMURR_LIB=$tree/build/pydev/python/libmurr_py.so "$py" bench/bench_python.py \
      --dir "$dir" --only-embedded --reads 500 2>/dev/null | tail -2
  done
done
