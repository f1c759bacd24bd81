"""Runs the cross-system benchmark in smoke mode (10K rows, 200 reads) so the harness never
rots: every backend must load, answer correctly (the harness verifies values and exits
non-zero on a wrong answer) and report positive figures."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_bench_smoke():
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is missing: scripts/setup.sh installs it (Debian package redis-server)")
    r = subprocess.run(["bash", str(ROOT / "bench" / "run.sh"), "--smoke"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = {}
    for line in r.stdout.splitlines():
        m = re.match(r"\| (murr HTTP \+ Arrow IPC|murr HTTP \+ JSON|Redis blob \(MGET\)|Redis hash \(pipelined HMGET\)) \|"
                     r" ([\d.]+) \| ([-\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", line)
        if m:
            rows[m.group(1)] = [float(x) for x in m.groups()[1:]]
    assert set(rows) == {"murr HTTP + Arrow IPC", "murr HTTP + JSON", "Redis blob (MGET)",
                         "Redis hash (pipelined HMGET)"}, r.stdout
    for name, (ingest, mem, p50, p99, p999) in rows.items():
        assert ingest > 0 and p50 > 0 and p99 >= p50 and p999 >= p99, (name, r.stdout)
    engine = [l for l in r.stdout.splitlines() if l.startswith("| 10000 |")]
    assert engine, r.stdout
