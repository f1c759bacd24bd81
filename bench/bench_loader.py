"""Pull-based loading benchmark (bench/bench_loader.sh runs it): a partition of ROWS rows x 10
float32 (utf8 key) in FILES snappy Parquet files, followed by murr from an S3 prefix on moto's
server (loopback) or from a local directory. Measures, for the second partition (the first is
loaded once so that a table is served):
  - time from the _SUCCESS upload to serving (GET .../source polled every 20 ms),
  - end-to-end rows/s, and the server's own split from its log ("loading partition",
    progress lines, "serving partition"),
  - download-only (boto3, the loader's pattern: 8 MiB ranged GETs, 4 in flight per file,
    files one after another) and decode-only (bench_parquet, best of 3 per file),
  - the murr process's peak RSS during the load (VmHWM after clear_refs 5) against its RSS
    with the first partition served,
  - reader latency (1,000 random keys x 10 columns, Arrow IPC answer, one persistent
    http.client connection) idle and during the load.
Usage: bench_loader.py --murr BIN --bench-parquet BIN --work DIR [--source s3|local]
       [--moto BIN] [--rows N] [--files N] [--poll-ms N] [--idle-reads N]"""
import argparse
import concurrent.futures as cf
import http.client
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CHUNK = 8 << 20
COLS = [f"col_{c}" for c in range(10)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_files(out, rows, files):
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"part-{i}.parquet" for i in range(files)]
    if all(p.exists() for p in paths):
        return paths
    per = rows // files
    for i, p in enumerate(paths):
        lo, hi = i * per, (rows if i == files - 1 else (i + 1) * per)
        r = np.arange(lo, hi)
        t = {"key": pa.array(r.astype(str))}
        for c in range(10):
            t[COLS[c]] = pa.array(r.astype(np.float32) + np.float32(c / 10))
        pq.write_table(pa.table(t), p, compression="snappy", row_group_size=250_000)
    return paths


def rss(pid):
    st = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            st[k] = int(v.split()[0]) * 1024
    return st


class Murr:
    def __init__(self, binary, work, conf):
        self.log_path = work / "murr.log"
        env = dict(os.environ, MURR_STORAGE_PATH=str(work / "data"), MURR_SERVER_HTTP_HOST="127.0.0.1",
                   MURR_SERVER_HTTP_PORT="0", MURR_SERVER_GRPC_HOST="127.0.0.1", MURR_SERVER_GRPC_PORT="0")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary, "-c", str(conf)], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(300):
            m = re.search(r"Listening for HTTP requests on [^\s:]+:(\d+)", self.log_path.read_text(errors="replace"))
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                sys.exit("murr exited:\n" + self.log_path.read_text())
            time.sleep(0.05)
        sys.exit("murr did not start")

    def get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body

    def status(self):
        st, body = self.get("/api/v1/table/bench/source")
        return json.loads(body) if st == 200 else {}

    def wait_serving(self, part, timeout=600):
        t0 = time.time()
        while time.time() - t0 < timeout:
            st = self.status()
            if st.get("serving_partition") == part:
                return time.time(), st
            if st.get("last_error") and part in st["last_error"]:
                sys.exit(f"load failed: {st['last_error']}")
            time.sleep(0.02)
        sys.exit(f"{part} not served after {timeout} s: {self.status()}")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(60)
        self.log.close()


class Reader:
    """Fetches of 1,000 random keys over one persistent connection, Arrow IPC answers."""

    def __init__(self, port, rows, seed=1):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.rng = random.Random(seed)
        self.rows = rows

    def one(self):
        body = json.dumps({"keys": [str(self.rng.randrange(self.rows)) for _ in range(1000)], "columns": COLS})
        start, t0 = time.time(), time.perf_counter()
        self.c.request("POST", "/api/v1/table/bench/fetch", body=body,
                       headers={"Content-Type": "application/json", "Accept": "application/vnd.apache.arrow.stream"})
        r = self.c.getresponse()
        data = r.read()
        dt = time.perf_counter() - t0
        if r.status != 200:
            raise RuntimeError(f"fetch: HTTP {r.status}: {data[:300]}")
        t = pa.ipc.open_stream(data).read_all()
        assert t.num_rows == 1000, t.num_rows
        return start, dt


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))] * 1e6 if v else float("nan")


def log_times(text, part):
    """(t_loading, t_serving, progress lines, serving line) of partition `part` from murr's log."""
    def ts(line):
        return datetime.strptime(line[:23], "%Y-%m-%dT%H:%M:%S.%f").timestamp()
    loading = serving = None
    prog = []
    for line in text.splitlines():
        if part in line and "loading partition" in line:
            loading = ts(line)
        elif part in line and "serving partition" in line:
            serving = (ts(line), line[line.index("serving partition"):])
        elif part in line and ": loading " in line:
            prog.append(line[11:23] + " " + line[line.index(": loading ") + 2:])
    return loading, serving, prog


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--murr", required=True)
    ap.add_argument("--moto")
    ap.add_argument("--bench-parquet", required=True)
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--source", choices=["s3", "local"], default="s3")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--poll-ms", type=int, default=500)
    ap.add_argument("--idle-reads", type=int, default=500)
    a = ap.parse_args()
    work = a.work / a.source
    work.mkdir(parents=True, exist_ok=True)
    t = time.time()
    files = make_files(a.work / "files", a.rows, a.files)
    total = sum(p.stat().st_size for p in files)
    print(f"input: {a.rows:,} rows x 10 float32 + utf8 key in {len(files)} snappy files of 250,000-row row "
          f"groups, {total / 1e6:.1f} MB (written in {time.time() - t:.1f} s or reused)")
    moto = s3 = None
    parts = ["2026-01-01", "2026-01-02"]
    try:
        if a.source == "s3":
            import boto3
            from botocore.config import Config
            port = free_port()
            menv = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            moto = subprocess.Popen([a.moto, "-H", "127.0.0.1", "-p", str(port)], env=menv,
                                    stdout=open(work / "moto.log", "wb"), stderr=subprocess.STDOUT)
            endpoint = f"http://127.0.0.1:{port}"
            s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                              aws_secret_access_key="test", config=Config(max_pool_connections=8))
            for _ in range(100):
                try:
                    s3.list_buckets()
                    break
                except Exception:
                    time.sleep(0.1)
            s3.create_bucket(Bucket="bench")
            src = (f's3: {{bucket: bench, prefix: "t", endpoint: "{endpoint}", region: us-east-1, '
                   f'access_key_id: test, secret_access_key: test}}')

            def put_files(part):
                t0 = time.time()
                for p in files:
                    s3.put_object(Bucket="bench", Key=f"t/{part}/{p.name}", Body=p.read_bytes())
                return time.time() - t0

            def put_success(part):
                s3.put_object(Bucket="bench", Key=f"t/{part}/_SUCCESS", Body=b"")
        else:
            root = work / "src"

            def put_files(part):
                t0 = time.time()
                d = root / part
                d.mkdir(parents=True, exist_ok=True)
                for p in files:
                    (d / p.name).write_bytes(p.read_bytes())
                os.sync()
                return time.time() - t0

            def put_success(part):
                (root / part / "_SUCCESS").write_bytes(b"")
            put_files(parts[0])  # creates root before murr follows it
            src = f'local: {{path: "{root}"}}'
        conf = work / "murr.yaml"
        conf.write_text(f"tables:\n  bench:\n    source:\n      {src}\n    poll_interval: {a.poll_ms}ms\n"
                        f"    key: [key]\n")
        if a.source == "s3":
            print(f"upload of {parts[0]} to moto: {put_files(parts[0]):.1f} s")
        murr = Murr(a.murr, work, conf)
        t0 = time.time()
        put_success(parts[0])
        t1, st = murr.wait_serving(parts[0])
        _, serving, _ = log_times(murr.log_path.read_text(), parts[0])
        print(f"first load ({parts[0]}, nothing served before): {t1 - t0:.2f} s from _SUCCESS to serving; "
              f"{serving[1] if serving else '?'}")

        # idle readers
        rd = Reader(murr.port, a.rows)
        for _ in range(50):
            rd.one()
        idle = [rd.one()[1] for _ in range(a.idle_reads)]
        if a.source == "s3":
            print(f"upload of {parts[1]} to moto: {put_files(parts[1]):.1f} s")
        else:
            put_files(parts[1])
        time.sleep(1.0)
        before = rss(murr.proc.pid)
        Path(f"/proc/{murr.proc.pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        hwm0 = rss(murr.proc.pid)["VmHWM"]

        # the measured load, readers running
        stop = threading.Event()
        during = []

        def reader_loop():
            r = Reader(murr.port, a.rows, seed=2)
            while not stop.is_set():
                during.append(r.one())

        th = threading.Thread(target=reader_loop)
        th.start()
        time.sleep(0.5)
        t0 = time.time()
        put_success(parts[1])
        t_put = time.time()
        t1, st = murr.wait_serving(parts[1])
        stop.set()
        th.join()
        after = rss(murr.proc.pid)
        loading, serving, prog = log_times(murr.log_path.read_text(), parts[1])
        in_load = [dt for (ts, dt) in during if t0 <= ts <= t1]
        ok, body = murr.get("/api/v1/table/bench/source")
        e2e = t1 - t0
        print(f"\n## second load ({parts[1]}, {parts[0]} served), source {a.source}")
        print(f"_SUCCESS put at +0.000 s (took {t_put - t0:.3f} s); 'loading partition' logged at "
              f"+{loading - t0:.3f} s (poll wait + listing; poll interval {a.poll_ms} ms); 'serving partition' "
              f"logged at +{serving[0] - t0:.3f} s; GET .../source showed it at +{e2e:.3f} s")
        print(f"load (log 'loading partition' -> 'serving partition'): {serving[0] - loading:.2f} s = "
              f"{a.rows / (serving[0] - loading):,.0f} rows/s")
        print(f"end to end (_SUCCESS put -> served): {e2e:.2f} s = {a.rows / e2e:,.0f} rows/s")
        print(f"server: {serving[1]}")
        for p in prog:
            print(f"progress: {p}")
        print(f"status: last_load_seconds {st['last_load_seconds']:.2f}, loads {st['loads']}, rows_loaded "
              f"{st['rows_loaded']:,}, bytes_loaded {st['bytes_loaded']:,}")
        mib = 1 << 20
        print(f"RSS: before {before['VmRSS'] / mib:.0f} MiB (1 partition served), peak during load "
              f"{after['VmHWM'] / mib:.0f} MiB (VmHWM, reset to {hwm0 / mib:.0f} MiB at start) = "
              f"{after['VmHWM'] / before['VmRSS']:.2f}x, after {after['VmRSS'] / mib:.0f} MiB")
        print(f"reader (1,000 keys x 10 float32, Arrow, persistent connection): idle p50 {pct(idle, 50):,.0f} us "
              f"p99 {pct(idle, 99):,.0f} us ({len(idle)} reads); during the load p50 {pct(in_load, 50):,.0f} us "
              f"p99 {pct(in_load, 99):,.0f} us max {pct(in_load, 100):,.0f} us ({len(in_load)} reads) = "
              f"{pct(in_load, 99) / pct(idle, 99):.2f}x idle p99")
        murr.stop()

        # download only (S3) and decode only
        if a.source == "s3":
            def ranged(key, size):
                def get(off):
                    r = s3.get_object(Bucket="bench", Key=key, Range=f"bytes={off}-{min(size, off + CHUNK) - 1}")
                    return len(r["Body"].read())
                with cf.ThreadPoolExecutor(4) as ex:
                    return sum(ex.map(get, range(0, size, CHUNK)))
            t0 = time.time()
            got = sum(ranged(f"t/{parts[1]}/{p.name}", p.stat().st_size) for p in files)
            dl = time.time() - t0
            assert got == total
            print(f"download only (boto3, 8 MiB ranged GETs, 4 in flight, files in turn, murr stopped): "
                  f"{dl:.2f} s = {total / 1e6 / dl:.0f} MB/s")
        out = subprocess.run([a.bench_parquet, *map(str, files)], capture_output=True, text=True, check=True).stdout
        ms = [float(line.split("|")[4]) for line in out.splitlines() if line.startswith("| part-")]
        print(f"decode only (bench_parquet, best of 3 per file, one thread): {sum(ms) / 1e3:.2f} s = "
              f"{a.rows / (sum(ms) / 1e3):,.0f} rows/s")
    finally:
        if moto:
            moto.terminate()
            moto.wait(30)


if __name__ == "__main__":
    main()
