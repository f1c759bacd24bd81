"""stall.py - issue 17 item 4: how much a 2.5M-key fetch raises a small client's latency.

One release server with one HTTP event-loop thread (both listeners' connections share the
loop threads they land on; with one thread every connection shares it, the worst case), a
table of --rows rows (id "k<i>" utf8, x = float32 i). Two small probes, each on its own
kept-alive connection: an HTTP fetch of 10 keys (JSON) and a Flight DoGet of 10 keys. First
each probe runs --idle times alone; then, for each huge request kind (a 2.5M-key HTTP fetch
with an Arrow answer, a 2.5M-key DoGet), the huge request runs --rounds times back to back
while both probes loop in threads of their own; the huge requests come from a child
process (a client of their own: pyarrow decoding 2.5M rows must not hold the probes' GIL) and
the HTTP probe uses http.client (requests adds ~2.5 ms a call here). Every answer is checked (the huge ones by
row count and a sum of x). Prints a markdown table: probe, during what, requests, p50, p99,
max, and the p99 rise over idle (target: <= 2 ms).

Usage: stall.py --bin build/release/murr [--rows 2500000] [--rounds 3] [--idle 2000]
"""
from __future__ import annotations

import argparse
import http.client
import io
import json
import multiprocessing
import os
import pathlib
import re
import subprocess
import tempfile
import threading
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.flight as fl
import requests

ARROW = "application/vnd.apache.arrow.stream"


class Server:
    def __init__(self, binary: str, work: str) -> None:
        self.dir = pathlib.Path(tempfile.mkdtemp(dir=work))
        env = dict(os.environ, MURR_STORAGE_PATH=str(self.dir / "data"), MURR_SERVER_HTTP_HOST="127.0.0.1",
                   MURR_SERVER_HTTP_PORT="0", MURR_SERVER_GRPC_HOST="127.0.0.1", MURR_SERVER_GRPC_PORT="0",
                   MURR_SERVER_HTTP_THREADS="1", MURR_STORAGE_SYNC_WRITES="false")
        self.log = self.dir / "log"
        self.proc = subprocess.Popen([binary], env=env, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)
        for _ in range(600):
            text = self.log.read_text(errors="replace")
            h = re.search(r"Listening for HTTP requests on [^\s:]+:(\d+)", text)
            g = re.search(r"Listening for Flight requests on [^\s:]+:(\d+)", text)
            if h and g:
                self.url, self.grpc = f"http://127.0.0.1:{h.group(1)}", f"grpc://127.0.0.1:{g.group(1)}"
                return
            time.sleep(0.05)
        raise RuntimeError(self.log.read_text())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


def load(srv: Server, rows: int) -> list:
    schema = {"key": "id", "columns": {"id": {"dtype": "utf8", "nullable": False},
                                       "x": {"dtype": "float32", "nullable": True}}}
    assert requests.put(srv.url + "/api/v1/table/t", json=schema).status_code in (200, 201)
    ids = [f"k{i}" for i in range(rows)]
    t = pa.table({"id": pa.array(ids, pa.utf8()), "x": pa.array(range(rows), pa.float32())})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, t.schema) as w:
        w.write_table(t)
    r = requests.put(srv.url + "/api/v1/table/t/write", data=sink.getvalue(), headers={"Content-Type": ARROW})
    assert r.status_code == 200, r.text
    return ids


def huge(url: str, grpc: str, kind: str, rows: int, rounds: int, window) -> None:
    """The huge requests (child process): all rows' keys, rounds times, each answer checked;
    puts (first request sent, last answer checked) in perf_counter time on `window`. At the
    lowest CPU priority: on a 2-core machine this client (a JSON encoder and an Arrow decoder
    of 2.5M rows) would otherwise take a core from the probes, which a real deployment's
    remote client does not."""
    os.nice(19)
    ids = [f"k{i}" for i in range(rows)]
    want_sum = float(sum(range(rows)))

    def check(t: pa.Table) -> None:
        assert t.num_rows == rows and float(pc.sum(t.column("x")).as_py()) == want_sum

    body = json.dumps({"keys": ids, "columns": ["x"]}).encode()
    ticket = fl.Ticket(json.dumps({"table": "t", "keys": ids, "columns": ["x"]}).encode())
    client = fl.connect(grpc)
    t0 = time.perf_counter()
    for _ in range(rounds):
        if kind == "http":
            r = requests.post(url + "/api/v1/table/t/fetch", data=body, timeout=600,
                              headers={"Content-Type": "application/json", "Accept": ARROW})
            assert r.status_code == 200, r.text
            check(pa.ipc.open_stream(r.content).read_all())
        else:
            check(client.do_get(ticket).read_all())
    window.put((t0, time.perf_counter()))


def pct(lat: list, q: float) -> float:
    s = sorted(lat)
    return s[min(len(s) - 1, int(len(s) * q))] * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rows", type=int, default=2_500_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--idle", type=int, default=2000)
    ap.add_argument("--work", default=tempfile.gettempdir())
    a = ap.parse_args()
    srv = Server(a.bin, a.work)
    try:
        ids = load(srv, a.rows)
        host, port = srv.url[len("http://"):].split(":")
        hconn = http.client.HTTPConnection(host, int(port))
        small = json.dumps({"keys": ids[:10], "columns": ["x"]})
        fc = fl.connect(srv.grpc)
        small_ticket = fl.Ticket(json.dumps({"table": "t", "keys": ids[:10], "columns": ["x"]}).encode())
        expect = [float(i) for i in range(10)]

        def http_probe():
            hconn.request("POST", "/api/v1/table/t/fetch", body=small, headers={"Content-Type": "application/json"})
            r = hconn.getresponse()
            data = r.read()
            assert r.status == 200 and json.loads(data)["columns"]["x"] == expect, data

        def flight_probe():
            assert fc.do_get(small_ticket).read_all().column("x").to_pylist() == expect

        probes = {"HTTP fetch, 10 keys": http_probe, "Flight DoGet, 10 keys": flight_probe}
        rows = []
        for name, probe in probes.items():
            lat = []
            for _ in range(a.idle):
                t0 = time.perf_counter()
                probe()
                lat.append(time.perf_counter() - t0)
            rows.append((name, "idle", lat, None))
        idle_p99 = {name: pct(lat, 0.99) for name, _, lat, _ in rows}
        for what, kind in (("2.5M-key HTTP fetch", "http"), ("2.5M-key Flight DoGet", "flight")):
            busy = {name: [] for name in probes}
            done = threading.Event()

            def loop(name):
                while not done.is_set():
                    t0 = time.perf_counter()
                    probes[name]()
                    busy[name].append((t0, time.perf_counter() - t0))

            threads = [threading.Thread(target=loop, args=(n,)) for n in probes]
            for t in threads:
                t.start()
            ctx = multiprocessing.get_context("spawn")
            window = ctx.Queue()
            child = ctx.Process(target=huge, args=(srv.url, srv.grpc, kind, a.rows, a.rounds, window))
            child.start()
            child.join()
            done.set()
            for t in threads:
                t.join()
            assert child.exitcode == 0, f"the huge {kind} client failed (exit {child.exitcode})"
            w0, w1 = window.get()  # perf_counter is system-wide (CLOCK_MONOTONIC) on Linux
            for name in probes:  # the probes that started while a huge request was in flight
                lat = [d for t, d in busy[name] if w0 <= t <= w1]
                rows.append((name, f"{a.rounds} x {what} ({w1 - w0:.1f} s)", lat, idle_p99[name]))
        print("| probe | during | requests | p50 ms | p99 ms | max ms | p99 rise over idle ms |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for name, during, lat, base in rows:
            rise = "" if base is None else "%.2f" % (pct(lat, 0.99) - base)
            print("| %s | %s | %d | %.2f | %.2f | %.2f | %s |" % (name, during, len(lat), pct(lat, 0.5), pct(lat, 0.99),
                                                                max(lat) * 1000, rise))
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
