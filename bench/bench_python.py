"""bench_python - 1,000 random keys x 10 float32 columns until numpy arrays are in hand, from
Python, through every way pymurr offers next to the PyPI murr 0.3.1 client and Redis:

  embedded        pymurr.open(dir).read_numpy(...)   (libmurr in process, zero-copy Arrow)
  sync Flight     pymurr.connect("grpc://...")       (pyarrow.flight DoGet, 0.3 ticket)
  sync HTTP       pymurr.connect("http://...")       (http.client keep-alive, Arrow IPC)
  PyPI murr 0.3.1 murr.client.Client (async httpx, Arrow IPC) on one event loop
  Redis blob      redis-py MGET of "b:<key>" (40-byte float32 rows) + np.frombuffer

One data set of --rows rows (key str(i), column col_c = float32(i) + float32(c)/10), loaded
into a data directory through embedded mode; the embedded figures are taken first, then the
directory is served by the bundled binary (pymurr.serve, a separate process) for the three
clients. Redis (redis-server started here) holds the same rows as blobs. Keys are drawn
before the timed region (uniform, existing); the timed region is one call from a list of
str keys to numpy arrays (murr: the dict of column arrays read_numpy returns; Redis: the
rows x cols array of np.frombuffer); a warm-up of reads/10 + 5 precedes the timed reads;
every answer is stacked into a matrix and checked against the formula outside the timed
region. p50/p99 in microseconds. "embedded read" is the pyarrow Table answer (read()).
With --only-embedded only the embedded rows run (A/B runs of two pymurr builds); a --dir
that already holds the table is reused instead of loaded again.

Usage: bench_python.py [--rows N] [--cols C] [--keys K] [--reads R] [--dir DIR] [--seed S] [--only-embedded]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa

import pymurr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def values(rows: np.ndarray, cols: int) -> np.ndarray:
    return rows.astype(np.float32)[:, None] + (np.arange(cols, dtype=np.float32) / np.float32(10))[None, :]


def check(name, idx, mat, rows, cols):
    want = values(rows[idx], cols)
    if mat.shape != want.shape or not np.array_equal(mat, want):
        sys.exit("bench_python %s: wrong answer (shape %s, expected %s)" % (name, mat.shape, want.shape))


def measure(name, read, key_sets, row_sets, cols, warm, shape=None):
    """p50/p99 of read(keys); shape(answer, cols) -> (positions, matrix) runs after the
    timed region, for the check only (None: the answer is that pair already)."""
    lat = []
    for i, (keys, rows) in enumerate(zip(key_sets, row_sets)):
        t0 = time.perf_counter_ns()
        out = read(keys)
        dt = time.perf_counter_ns() - t0
        idx, mat = shape(out, cols) if shape else out
        check(name, idx, mat, rows, cols)
        if i >= warm:
            lat.append(dt)
    lat = np.sort(np.asarray(lat, dtype=np.float64)) / 1000.0
    return lat[int(0.5 * (len(lat) - 1) + 0.5)], lat[int(0.99 * (len(lat) - 1) + 0.5)]


def from_arrays(arrays, cols):
    """(positions, rows x cols matrix) from a sparse answer's numpy arrays (check only)."""
    return arrays["_idx"].astype(np.int64), np.stack([arrays["col_%d" % c] for c in range(cols)], axis=1)


def from_table(table, cols):
    return from_arrays(pymurr.to_numpy(table), cols)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--cols", type=int, default=10)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--reads", type=int, default=500)
    ap.add_argument("--batch", type=int, default=1_000_000)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--only-embedded", action="store_true",
                    help="embedded rows only (no Redis, no server): A/B runs of the in-process path")
    a = ap.parse_args()
    work = a.dir or tempfile.mkdtemp(prefix="bench_python-")
    data = os.path.join(work, "data")
    cols = ["col_%d" % c for c in range(a.cols)]
    warm = a.reads // 10 + 5
    rng = np.random.default_rng(a.seed)
    row_sets = [rng.integers(0, a.rows, a.keys) for _ in range(warm + a.reads)]
    key_sets = [[str(r) for r in rows.tolist()] for rows in row_sets]
    results = []

    # ---- load (embedded; a --dir already holding the table is reused) and the embedded figures ----
    t0 = time.time()
    db = pymurr.open(data, sync_writes=False)
    if "bench" in db.list_tables():
        print("reusing table 'bench' in %s" % data, file=sys.stderr)
    else:
        db.create_table("bench", {"columns": {"id": {"dtype": "utf8", "nullable": False, "key": True},
                                              **{c: {"dtype": "float32"} for c in cols}}})
        for lo in range(0, a.rows, a.batch):
            r = np.arange(lo, min(a.rows, lo + a.batch))
            v = values(r, a.cols)
            db.write("bench", pa.table({"id": pa.array(r.astype(str)), **{c: v[:, i] for i, c in enumerate(cols)}}))
        print("loaded %d rows x %d float32 in %.1f s (embedded, sync_writes off)" % (a.rows, a.cols, time.time() - t0),
              file=sys.stderr)
    results.append(("embedded (pymurr.open, read_numpy)", measure(
        "embedded", lambda k: db.read_numpy("bench", k, cols), key_sets, row_sets, a.cols, warm, from_arrays)))
    results.append(("embedded read (pyarrow Table)", measure(
        "embedded-read", lambda k: db.read("bench", k, cols), key_sets, row_sets, a.cols, warm, from_table)))
    if a.only_embedded:
        db.close()
        report(a, results)
        return
    # ---- Redis blob ----
    import redis

    rport = free_port()
    rdir = os.path.join(work, "redis")
    os.makedirs(rdir, exist_ok=True)
    rproc = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", rdir, "--loglevel", "warning"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        r = redis.Redis(port=rport)
        for _ in range(100):
            try:
                r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        t0 = time.time()
        for lo in range(0, a.rows, 20000):
            rows = np.arange(lo, min(a.rows, lo + 20000))
            blob = values(rows, a.cols).astype("<f4").tobytes()
            w = 4 * a.cols
            r.mset({"b:%d" % k: blob[i * w:(i + 1) * w] for i, k in enumerate(rows.tolist())})
        print("loaded redis in %.1f s" % (time.time() - t0), file=sys.stderr)
        blob_keys = {id(k): ["b:" + x for x in k] for k in key_sets}

        def redis_blob(keys):
            vals = r.mget(blob_keys[id(keys)])
            return np.arange(len(keys)), np.frombuffer(b"".join(vals), dtype="<f4").reshape(-1, a.cols)

        results.append(("Redis blob (redis-py MGET + np.frombuffer)",
                        measure("redis", redis_blob, key_sets, row_sets, a.cols, warm)))
        r.close()
    finally:
        rproc.terminate()
        rproc.wait()

    # ---- the bundled server: sync Flight, sync HTTP, the PyPI client ----
    with pymurr.serve({"storage.path": data, "storage.sync_writes": False}) as srv:
        fc = srv.connect("flight")
        results.append(("pymurr sync Flight (connect grpc://)", measure(
            "flight", lambda k: fc.read_numpy("bench", k, cols), key_sets, row_sets, a.cols, warm, from_arrays)))
        fc.close()
        hc = pymurr.connect(srv.endpoint)
        results.append(("pymurr sync HTTP (connect http://)", measure(
            "http", lambda k: hc.read_numpy("bench", k, cols), key_sets, row_sets, a.cols, warm, from_arrays)))
        hc.close()
        from murr.client import Client

        loop = asyncio.new_event_loop()
        pc = Client(srv.endpoint)

        def pypi(keys):
            return pymurr.to_numpy(loop.run_until_complete(pc.read("bench", {"id": keys}, cols)))

        results.append(("PyPI murr 0.3.1 Client (async httpx)", measure("pypi", pypi, key_sets, row_sets, a.cols,
                                                                         warm, from_arrays)))
        loop.run_until_complete(pc.close())
        loop.close()

    if a.dir is None:
        shutil.rmtree(work, ignore_errors=True)
    report(a, results)


def report(a, results):
    emb = results[0][1][0]
    print("| path (%d keys x %d float32, %d rows, %d reads) | p50 us | p99 us | p50 / embedded p50 |"
          % (a.keys, a.cols, a.rows, a.reads))
    print("|---|---|---|---|")
    for name, (p50, p99) in results:
        print("| %s | %.0f | %.0f | %.1fx |" % (name, p50, p99, p50 / emb))


if __name__ == "__main__":
    main()
