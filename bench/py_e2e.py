"""py_e2e - the Python end-to-end figure: time for one read of K uniformly random existing
keys x all C float32 columns until a pandas DataFrame (K rows x C columns) is in hand, through
the clients an inference service would use:

  murr HTTP + Arrow IPC   requests.Session.post + pa.ipc.open_stream(...).read_pandas()
  murr HTTP + JSON        requests.Session.post + .json() + pd.DataFrame(columns)
  murr Arrow Flight       pyarrow.flight do_get(ticket JSON) + read_pandas(), only when the
                          murr log shows "Listening for Flight requests on HOST:PORT"
  Redis blob              MGET of "b:<key>" + np.frombuffer + pd.DataFrame
  Redis hash              pipelined HMGET key col_0.. + np.frombuffer + pd.DataFrame

The data is the one bench_harness loaded (murr table `bench`; Redis hashes `<key>` and, with
--redis-keep-blob, blobs `b:<key>`). Redis is spoken through the minimal RESP client below
(pure Python, like redis-py without hiredis) so the suite needs no extra dependency. One
connection per backend, closed loop; key lists are generated before the timed region, the
request encoding, the round trip, decoding and the DataFrame are timed; a warm-up of
reads/10 + 5 precedes the timed reads. Every DataFrame is checked against the workload
(value of column c in row i = float32(i) + float32(c)/10) outside the timed region.

Usage: py_e2e.py --murr-port P --murr-log FILE --redis-port P [--rows N] [--cols C]
                 [--keys K] [--reads R] [--seed S]
"""
import argparse
import json
import re
import socket
import sys
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import requests


class Resp:
    """Minimal blocking RESP2 client: encode commands, parse replies from a buffered socket."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            out.append(b"$%d\r\n" % len(a))
            out.append(a)
            out.append(b"\r\n")
        return b"".join(out)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        if self.pos:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            self._fill()

    def reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) - self.pos < n + 2:
                self._fill()
            v = bytes(self.buf[self.pos:self.pos + n])
            self.pos += n + 2
            return v
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        if t == b":":
            return int(rest)
        if t == b"+":
            return rest
        if t == b"-":
            raise RuntimeError("redis error: " + rest.decode(errors="replace"))
        raise RuntimeError("redis: unexpected reply type %r" % t)

    def pipeline(self, commands):
        self.sock.sendall(b"".join(self.encode(c) for c in commands))
        return [self.reply() for _ in commands]


def expected(rows, cols):
    r = np.asarray(rows, dtype=np.uint64).astype(np.float32)
    return r[:, None] + (np.arange(cols, dtype=np.float32) / np.float32(10))[None, :]


def check(name, df, rows, cols):
    want = expected(rows, cols)
    got = df[[f"col_{c}" for c in range(cols)]].to_numpy(dtype=np.float32)
    if got.shape != want.shape:
        sys.exit(f"py_e2e {name}: wrong answer: DataFrame shape {got.shape}, expected {want.shape}")
    bad = np.argwhere(got != want)
    if len(bad):
        i, c = bad[0]
        sys.exit(f"py_e2e {name}: wrong answer for key {rows[i]} col_{c}: expected {want[i, c]!r}, got {got[i, c]!r}")


def measure(name, read, key_sets, row_sets, cols, warm):
    lat = []
    for i, (keys, rows) in enumerate(zip(key_sets, row_sets)):
        t0 = time.perf_counter_ns()
        df = read(keys)
        dt = time.perf_counter_ns() - t0
        check(name, df, rows, cols)
        if i >= warm:
            lat.append(dt)
    lat = np.sort(np.asarray(lat, dtype=np.float64)) / 1000.0

    def pct(q):
        return lat[int(q * (len(lat) - 1) + 0.5)]

    return pct(0.5), pct(0.99)


def flight_address(log_path):
    with open(log_path, errors="replace") as f:
        m = re.search(r"Listening for Flight requests on (\S+):(\d+)", f.read())
    return (m.group(1), int(m.group(2))) if m else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--murr-port", type=int, required=True)
    ap.add_argument("--murr-log", required=True)
    ap.add_argument("--redis-port", type=int, required=True)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--cols", type=int, default=10)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--reads", type=int, default=500)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    cols = [f"col_{c}" for c in range(a.cols)]
    warm = a.reads // 10 + 5
    rng = np.random.default_rng(a.seed)
    row_sets = [rng.integers(0, a.rows, a.keys) for _ in range(warm + a.reads)]
    key_sets = [[str(r) for r in rows.tolist()] for rows in row_sets]

    http = requests.Session()
    url = f"http://127.0.0.1:{a.murr_port}/api/v1/table/bench/fetch"

    def murr_arrow(keys):
        r = http.post(url, data=json.dumps({"keys": keys, "columns": cols}),
                      headers={"Content-Type": "application/json",
                               "Accept": "application/vnd.apache.arrow.stream"})
        r.raise_for_status()
        return pa.ipc.open_stream(r.content).read_pandas()

    def murr_json(keys):
        r = http.post(url, data=json.dumps({"keys": keys, "columns": cols}),
                      headers={"Content-Type": "application/json", "Accept": "application/json"})
        r.raise_for_status()
        return pd.DataFrame(r.json()["columns"])

    redis = Resp(a.redis_port)
    ncols = a.cols

    def redis_blob(keys):
        vals = redis.pipeline([["MGET"] + ["b:" + k for k in keys]])[0]
        arr = np.frombuffer(b"".join(vals), dtype="<f4").reshape(-1, ncols)
        return pd.DataFrame(arr, columns=cols)

    def redis_hash(keys):
        replies = redis.pipeline([["HMGET", k] + cols for k in keys])
        arr = np.frombuffer(b"".join(v for rep in replies for v in rep), dtype="<f4").reshape(-1, ncols)
        return pd.DataFrame(arr, columns=cols)

    backends = [("murr HTTP + Arrow IPC (requests + read_pandas)", murr_arrow),
                ("murr HTTP + JSON (requests + DataFrame)", murr_json)]
    addr = flight_address(a.murr_log)
    flight_note = None
    if addr:
        import pyarrow.flight as fl
        client = fl.connect(f"grpc+tcp://{addr[0]}:{addr[1]}")

        def murr_flight(keys):
            ticket = fl.Ticket(json.dumps({"table": "bench", "keys": keys, "columns": cols}).encode())
            return client.do_get(ticket).read_pandas()

        backends.append(("murr Arrow Flight (do_get + read_pandas)", murr_flight))
    else:
        flight_note = "murr Arrow Flight (do_get + read_pandas)"
    backends += [("Redis blob (MGET + np.frombuffer)", redis_blob),
                 ("Redis hash (pipelined HMGET + np.frombuffer)", redis_hash)]

    results = {}
    for name, fn in backends:
        results[name] = measure(name, fn, key_sets, row_sets, a.cols, warm)

    print(f"\n{a.rows} rows x {a.cols} float32 columns, {a.keys} random keys per read, {a.reads} reads "
          f"(closed loop, 1 connection), time until a pandas DataFrame is in hand\n")
    print("| Python client path | p50 us | p99 us | p50 vs Redis blob |")
    print("|---|---:|---:|---:|")
    base = results["Redis blob (MGET + np.frombuffer)"][0]
    for name, _ in backends:
        p50, p99 = results[name]
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {base / p50:.2f}x |")
        if flight_note and name.startswith("murr HTTP + JSON"):
            print(f"| {flight_note} | skipped (no Flight listener) | - | - |")


if __name__ == "__main__":
    main()
