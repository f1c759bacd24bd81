"""Helpers shared by the pull-based loading tests (test_loader.py: local directory,
test_loader_s3.py: S3 over HTTP): pyarrow-written partitions, status polling, fetches."""
import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from conftest import MurrServer, assert_no_sanitizer_report

N = 3000
COLS = ["f0", "f1", "f2"]


def write_partition(root, name, value, n=N, files=3, success=True, key_prefix="u", schema_break=None):
    """n rows user_id=u0..u{n-1}, every value column = value, in `files` files of 2 row groups."""
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    per = n // files
    for i in range(files):
        lo, hi = i * per, (n if i == files - 1 else (i + 1) * per)
        cols = {"user_id": pa.array([f"{key_prefix}{k}" for k in range(lo, hi)])}
        for c in COLS:
            cols[c] = pa.array([value] * (hi - lo), pa.float32())
        if schema_break == "missing":
            del cols["f2"]
        elif schema_break == "type":
            cols["f2"] = pa.array(["x"] * (hi - lo))
        pq.write_table(pa.table(cols), d / f"part-{i}.parquet", row_group_size=max(1, (hi - lo) // 2),
                       compression="snappy")
    if success:
        (d / "_SUCCESS").write_bytes(b"")
    return d


def start(tmp_path, conf, data="data", **kw):
    s = MurrServer(tmp_path / data, args=["-c", str(conf)], **kw)
    return s.start()


def fetch(url, keys, name="feat"):
    r = requests.post(f"{url}/api/v1/table/{name}/fetch", json={"keys": keys, "columns": COLS}, timeout=10)
    return r


def status(url, name="feat"):
    r = requests.get(f"{url}/api/v1/table/{name}/source", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def wait_for(pred, timeout=20.0, what="condition", every=0.05):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; last: {last}")


def served(url, name="feat"):
    return status(url, name).get("serving_partition")


def failing(url, name="feat"):
    """The status once it carries an error, else None (for wait_for)."""
    st = status(url, name)
    return st if st["last_error"] else None


@pytest.fixture
def server(tmp_path):
    """make(conf, data="data", **MurrServer kwargs): a server on a config file, stopped (and
    its log checked for sanitizer reports) at the end of the test."""
    servers = []

    def make(conf, data="data", **kw):
        s = start(tmp_path, conf, data, **kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()
        assert_no_sanitizer_report(s)


def assert_first_load(url, partition, value, source):
    """Waits until `partition` is served after a first load, checks a fetch (first and last
    key, a missing one), the status (source, no error, one load of N rows) and the schema
    inferred from Parquet with the configured key. Returns the status."""
    wait_for(lambda: served(url) == partition, what=f"{partition} served")
    r = fetch(url, ["u0", f"u{N - 1}", "nope"])
    assert r.status_code == 200, r.text
    assert r.json()["columns"]["f0"] == [value, value, None]
    st = status(url)
    assert st["source"] == source
    assert st["state"] in ("idle", "checking") and st["last_error"] is None
    assert st["loads"] == 1 and st["rows_loaded"] == N and st["failures"] == 0, st
    sch = requests.get(f"{url}/api/v1/table/feat/schema").json()
    assert sch["columns"]["user_id"]["key"] is True and sch["columns"]["f1"]["dtype"] == "float32"
    return st


def readers_see_one_version(url, swaps):
    """Runs a reader loop (one persistent connection, every 7th key, all columns) while
    swaps() publishes new partitions; every answer must hold a single value (all old or all
    new) and no missing key. Returns the set of values seen."""
    keys = [f"u{k}" for k in range(0, N, 7)]
    stop = threading.Event()
    bad, seen, answers = [], set(), [0]

    def reader():
        sess = requests.Session()
        while not stop.is_set():
            r = sess.post(f"{url}/api/v1/table/feat/fetch", json={"keys": keys, "columns": COLS}, timeout=10)
            vals = {v for c in COLS for v in r.json()["columns"][c]}
            seen.update(vals)
            answers[0] += 1
            if len(vals) != 1:
                bad.append(sorted(vals, key=str))

    th = threading.Thread(target=reader)
    th.start()
    try:
        swaps()
    finally:
        stop.set()
        th.join()
    assert not bad, f"{len(bad)} of {answers[0]} answers mixed versions, e.g. {bad[:3]}"
    assert None not in seen, "a key was missing during a swap"
    return seen
