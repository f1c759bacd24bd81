"""Runs the cross-system benchmark in smoke mode (10K rows, 200 reads) so the harness never
rots: every backend must load, answer correctly (the harness and py_e2e.py verify values and
exit non-zero on a wrong answer) and report positive figures. PostgreSQL and RocksDB rows
must appear too: scripts/setup.sh installs postgresql, libpq-dev and librocksdb-dev. The C
harness's "murr Flight DoGet" row (DoPut load, DoGet reads over the harness's own gRPC client)
must have numbers like the others. bench_keys (murr 0.3 keys) must print every case of both of
its tables with numbers, and at a 2% hit rate the sparse answers must be smaller than the
dense ones; bench_fetch_path (the same fetches in process) a row of stage times per case."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

HARNESS_ROWS = {"murr HTTP + Arrow IPC", "murr HTTP + JSON", "murr Flight DoGet", "Redis blob (MGET)", "Redis hash (pipelined HMGET)",
                "PostgreSQL blob (BYTEA, = ANY)", "PostgreSQL columns (REAL, = ANY)",
                "RocksDB mmap (PlainTable, multi_get)", "RocksDB block (BlockBased + bloom, multi_get)"}
PY_ROWS = {"murr HTTP + Arrow IPC (requests + read_pandas)", "murr HTTP + JSON (requests + DataFrame)",
           "Redis blob (MGET + np.frombuffer)", "Redis hash (pipelined HMGET + np.frombuffer)"}
FLIGHT_ROW = "murr Arrow Flight (do_get + read_pandas)"
# bench_keys: (form, key kind, answer) with all keys existing, and (form, answer) at 2%
KEYS_ROWS = {("0.2 JSON list", "utf8", "dense, Arrow"), ("0.3 JSON object", "utf8", "sparse, Arrow"),
             ("Arrow IPC request", "utf8", "sparse, Arrow"), ("0.3 JSON object", "int64", "sparse, Arrow"),
             ("Arrow IPC request", "int64", "sparse, Arrow"), ("0.3 JSON object", "int64 + utf8", "sparse, Arrow"),
             ("Arrow IPC request", "int64 + utf8", "sparse, Arrow")}
KEYS_LOW_ROWS = {("0.2 JSON list", "dense, Arrow"), ("0.3 JSON object", "sparse, Arrow"),
                 ("Arrow IPC request", "sparse, Arrow"), ("0.2 JSON list", "dense, JSON"),
                 ("0.3 JSON object", "sparse, JSON")}


def test_bench_smoke():
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is missing: scripts/setup.sh installs it (Debian package redis-server)")
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        pytest.fail("PostgreSQL is missing: scripts/setup.sh installs it (Debian package postgresql)")
    r = subprocess.run(["bash", str(ROOT / "bench" / "run.sh"), "--smoke"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    num = r"([\d.]+)"
    rows = {}
    for line in out.splitlines():
        # | backend | ingest | mem B/row | mem kind | disk MiB or - | p50 | p99 | p999 | ratio |
        m = re.match(r"\| ([^|]+?) \| " + num + r" \| " + num + r" \| [^|]+ \| ([-\d.]+) \| " + num + r" \| "
                     + num + r" \| " + num + r" \| ([\d.]+)x \|$", line)
        if m and m.group(1) in HARNESS_ROWS:
            rows[m.group(1)] = (float(m.group(2)), float(m.group(5)), float(m.group(6)), float(m.group(7)),
                                m.group(4))
    assert set(rows) == HARNESS_ROWS, out
    for name, (ingest, p50, p99, p999, disk) in rows.items():
        assert ingest > 0 and p50 > 0 and p99 >= p50 and p999 >= p99, (name, out)
        if name.startswith(("PostgreSQL", "RocksDB", "murr")):
            assert disk != "-" and float(disk) > 0, (name, "disk column", out)
    assert "PostgreSQL data directory after both layouts" in out, out

    py = {}
    for line in out.splitlines():
        m = re.match(r"\| ([^|]+?) \| " + num + r" \| " + num + r" \| ([\d.]+)x \|$", line)
        if m:
            py[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    assert PY_ROWS <= set(py), out
    for name in PY_ROWS:
        p50, p99 = py[name]
        assert 0 < p50 <= p99, (name, out)
    assert FLIGHT_ROW in py or f"| {FLIGHT_ROW} | skipped (no Flight listener) |" in out, out

    engine = [l for l in out.splitlines() if l.startswith("| 10000 |")]
    assert engine, out

    keys = {}
    for line in out.splitlines():
        # | form | key kind | answer | p50 | p99 | request B | response B | vs utf8 list | vs utf8 same form |
        m = re.match(r"\| ([^|]+?) \| ([^|]+?) \| ([^|]+?) \| " + r" \| ".join([num] * 4)
                     + r" \| ([\d.]+)x \| ([\d.]+)x \|$", line)
        if m and (m.group(1), m.group(2), m.group(3)) in KEYS_ROWS:
            keys[m.group(1, 2, 3)] = [float(g) for g in m.group(4, 5, 6, 7, 8, 9)]
    assert set(keys) == KEYS_ROWS, out
    for name, (p50, p99, req, resp, r1, r2) in keys.items():
        assert 0 < p50 <= p99 and req > 0 and resp > 0 and r1 > 0 and r2 > 0, (name, out)
    low = {}
    for line in out.splitlines():
        # | hit rate | form | answer | p50 | p99 | request B | response B | vs dense |
        m = re.match(r"\| 2% \| ([^|]+?) \| ([^|]+?) \| " + r" \| ".join([num] * 4) + r" \| ([\d.]+)x \|$", line)
        if m:
            low[m.group(1, 2)] = [float(g) for g in m.group(3, 4, 5, 6, 7)]
    assert set(low) == KEYS_LOW_ROWS, out
    for name, (p50, p99, req, resp, ratio) in low.items():
        assert 0 < p50 <= p99 and req > 0 and resp > 0 and ratio > 0, (name, out)
    for answer in ("Arrow", "JSON"):
        assert low[("0.3 JSON object", "sparse, " + answer)][3] < low[("0.2 JSON list", "dense, " + answer)][3], out

    stages = {}
    for line in out.splitlines():
        # | form | key kind | parse | describe | keys | read | answer | whole | read (encoded keys) | ratio |
        m = re.match(r"\| ([^|]+?) \| ([^|]+?) \| " + r" \| ".join([num] * 7) + r" \| ([\d.]+)x \|$", line)
        if m:
            stages[m.group(1, 2)] = [float(g) for g in m.group(*range(3, 11))]
    assert {(f, k) for f, k, _ in KEYS_ROWS} == set(stages), out
    for name, vals in stages.items():
        assert vals[3] > 0 and vals[5] > 0 and vals[6] > 0 and vals[7] > 0, (name, out)
