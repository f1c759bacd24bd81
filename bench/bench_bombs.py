"""bench_bombs - decode bombs and legitimate ingest, A/B of two murr binaries in one run
(issue 17, decision 0009).

For each binary and each payload limit (the default 1 GiB, and a small one): a fresh server,
then each bomb of tests/e2e/bombs.py sent once: HTTP status, seconds to the answer and the
growth of the server's peak RSS (VmHWM of /proc/<pid>/status, read before and after). Then
legitimate writes, alternating A and B on two servers running side by side: a pyarrow Arrow
IPC stream (uncompressed and zstd) and a pyarrow Parquet file (snappy) of ROWS rows x
(utf8 key + 10 float32), each into a new table, median seconds and rows/s, ratio B/A.

Usage: build/venv/bin/python bench/bench_bombs.py --a MAIN_MURR --b BRANCH_MURR
         [--rows 1000000] [--rounds 5] [--small-payload 16777216]"""
import argparse
import io
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import requests

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "e2e"))
import bombs  # noqa: E402

MiB = 1 << 20


class Server:
    def __init__(self, binary, work, payload=None):
        self.work = pathlib.Path(tempfile.mkdtemp(dir=work))
        env = dict(os.environ, MURR_STORAGE_PATH=str(self.work / "data"), MURR_SERVER_HTTP_HOST="127.0.0.1",
                   MURR_SERVER_HTTP_PORT="0", MURR_SERVER_GRPC_HOST="127.0.0.1", MURR_SERVER_GRPC_PORT="0")
        if payload:
            env["MURR_SERVER_HTTP_MAX_PAYLOAD_SIZE"] = str(payload)
        self.log = self.work / "log"
        self.proc = subprocess.Popen([binary], env=env, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)
        for _ in range(300):
            m = re.search(r"Listening for HTTP requests on [^\s:]+:(\d+)", self.log.read_text(errors="replace"))
            if m:
                self.url = f"http://127.0.0.1:{m.group(1)}"
                return
            time.sleep(0.05)
        raise RuntimeError(self.log.read_text())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:  # still decoding (or writing) a bomb
            self.proc.kill()
            self.proc.wait()


def bomb_rows(binary, work, payload, emit):
    s = Server(binary, work, payload)
    requests.put(f"{s.url}/api/v1/table/s", json=bombs.string_table_schema()).raise_for_status()
    requests.put(f"{s.url}/api/v1/table/n", json=bombs.INT_SCHEMA).raise_for_status()
    cases = [("Parquet 8 dict columns x 8192 x 64 KiB", "s", bombs.parquet_dictionary_bomb(), bombs.PARQUET),
             ("Arrow IPC dictionary 12000 x 64 KiB, zstd", "s", bombs.ipc_dictionary_bomb(), bombs.ARROW),
             ("Arrow IPC zstd 16 batches x 128 MiB", "n", bombs.ipc_zstd_bomb(16, 8 * MiB), bombs.ARROW)]
    for name, table, body, ctype in cases:
        before = bombs.reset_peak(s.proc.pid)
        t0 = time.monotonic()
        r = requests.put(f"{s.url}/api/v1/table/{table}/write", data=body, headers={"Content-Type": ctype})
        dt = time.monotonic() - t0
        emit(name, len(body), r.status_code, dt, bombs.vm_hwm(s.proc.pid) - before)
    s.stop()


def legit_bodies(rows):
    rng = np.random.default_rng(7)
    cols = {"key": pa.array([f"k{i:09d}" for i in range(rows)])}
    for c in range(10):
        cols[f"col_{c}"] = pa.array(rng.random(rows, dtype=np.float32))
    t = pa.table(cols)
    buf = io.BytesIO()
    pq.write_table(t, buf, compression="snappy")
    return {"Arrow IPC": (bombs.ipc_stream(t.to_batches(max_chunksize=65536)), bombs.ARROW),
            "Arrow IPC zstd": (bombs.ipc_stream(t.to_batches(max_chunksize=65536), compression="zstd"), bombs.ARROW),
            "Parquet snappy": (buf.getvalue(), bombs.PARQUET)}


SCHEMA = {"key": "key", "columns": {"key": {"dtype": "utf8", "nullable": False},
                                    **{f"col_{c}": {"dtype": "float32", "nullable": False} for c in range(10)}}}


def ingest(a, b, work, rows, rounds):
    servers = {"A": Server(a, work), "B": Server(b, work)}
    bodies = legit_bodies(rows)
    times = {(k, n): [] for k in servers for n in bodies}
    for rnd in range(rounds):
        for name, (body, ctype) in bodies.items():
            order = ("A", "B") if rnd % 2 == 0 else ("B", "A")
            for k in order:
                s = servers[k]
                t = f"t{rnd}_{abs(hash(name)) % 1000}"
                requests.put(f"{s.url}/api/v1/table/{t}", json=SCHEMA).raise_for_status()
                t0 = time.monotonic()
                r = requests.put(f"{s.url}/api/v1/table/{t}/write", data=body, headers={"Content-Type": ctype})
                times[(k, name)].append(time.monotonic() - t0)
                assert r.status_code == 200, (k, name, r.text[:200])
                requests.delete(f"{s.url}/api/v1/table/{t}")
    for s in servers.values():
        s.stop()
    return bodies, times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--small-payload", type=int, default=16 * MiB)
    ap.add_argument("--skip-bombs", action="store_true")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="murr-bombs-")
    if not args.skip_bombs:
        print("| binary | max_payload_size | bomb | body bytes | status | seconds | peak RSS growth MiB | growth / payload |")
        print("|---|---:|---|---:|---:|---:|---:|---:|")
        for label, binary in (("A", args.a), ("B", args.b)):
            for payload in (None, args.small_payload):
                p = payload or (1 << 30)

                def emit(name, size, status, dt, grown, label=label, p=p):
                    print(f"| {label} | {p} | {name} | {size} | {status} | {dt:.2f} | {grown / MiB:.0f} | "
                          f"{grown / p:.2f}x |", flush=True)
                bomb_rows(binary, work, payload, emit)
    bodies, times = ingest(args.a, args.b, work, args.rows, args.rounds)
    print(f"\n| write ({args.rows} rows x (utf8 key + 10 float32)) | body MB | A median s | B median s | "
          f"A rows/s | B rows/s | B/A time |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, (body, _) in bodies.items():
        ma, mb = statistics.median(times[("A", name)]), statistics.median(times[("B", name)])
        print(f"| {name} | {len(body) / 1e6:.1f} | {ma:.3f} | {mb:.3f} | {args.rows / ma:,.0f} | {args.rows / mb:,.0f} | "
              f"{mb / ma:.3f} |")


if __name__ == "__main__":
    main()
