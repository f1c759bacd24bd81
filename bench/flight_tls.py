"""flight_tls.py - Flight DoGet with a bearer header over grpc+tls next to cleartext without a
token (issue 14), same run: A = a murr server without tokens (grpc://), B = one with a tokens
file and server.tls.* (grpc+tls://, `authorization: Bearer` call header), optionally C = B's
configuration on another build (--base DIR: its before/after in the same run). The client is
pyarrow.flight (gRPC C++): bench/flight_client.c has no TLS. The same table on every server
(10,000 rows, utf8 key, 4 float32 columns); DoGet of 100 keys x 4 columns on one channel per
server, rounds rotated over the sides, after warm-up. Prints p50/p99 per side and the ratios.

Usage: python bench/flight_tls.py BUILD_DIR [--base DIR] [--rounds R] [--per-round K]
(the e2e virtualenv has pyarrow and requests). The server pids are printed first;
FLIGHT_TLS_PAUSE=SECONDS waits that long before measuring (to attach strace or perf)."""
import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.flight as fl
import requests

ROOT = Path(__file__).resolve().parent.parent


def start(binary, tmp, name, extra):
    log = tmp / f"{name}.log"
    env = dict(os.environ, MURR_STORAGE_PATH=str(tmp / f"{name}-data"), MURR_SERVER_HTTP_HOST="127.0.0.1",
               MURR_SERVER_HTTP_PORT="0", MURR_SERVER_GRPC_HOST="127.0.0.1", MURR_SERVER_GRPC_PORT="0",
               MURR_SERVER_HTTP_THREADS="1", MURR_STORAGE_SYNC_WRITES="false", **extra)
    proc = subprocess.Popen([str(binary)], env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    for _ in range(400):
        text = log.read_text(errors="replace")
        m = re.search(r"Listening for HTTP requests on [^\s:]+:(\d+)", text)
        g = re.search(r"Listening for Flight requests on [^\s:]+:(\d+)", text)
        if m and g:
            return proc, int(m.group(1)), int(g.group(1))
        if proc.poll() is not None:
            sys.exit(f"{binary} exited:\n{text}")
        time.sleep(0.05)
    sys.exit(f"{binary} did not start:\n{log.read_text(errors='replace')}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--base")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--per-round", type=int, default=200)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="murr-flight-tls-"))
    subprocess.run([str(ROOT / "tests/support/mkcerts.sh"), str(tmp / "pki")], check=True)
    token = secrets.token_hex(32)
    (tmp / "tokens").write_text(f"read,write,admin {token}\n")
    tls = {"MURR_SERVER_AUTH_TOKENS_FILE": str(tmp / "tokens"),
           "MURR_SERVER_TLS_CERT_FILE": str(tmp / "pki/server.pem"),
           "MURR_SERVER_TLS_KEY_FILE": str(tmp / "pki/server.key")}
    ca = str(tmp / "pki/ca.pem")
    specs = [("A: grpc://, no token", Path(a.build) / "murr", {}, False),
             ("B: grpc+tls://, bearer header", Path(a.build) / "murr", tls, True)]
    if a.base:
        specs.append(("C: grpc+tls://, bearer header, base build", Path(a.base) / "murr", tls, True))
    procs, sides = [], []
    try:
        rows = 10000
        schema = {"key": "id", "columns": {"id": {"dtype": "utf8", "nullable": False},
                                           **{c: {"dtype": "float32"} for c in "abcd"}}}
        data = {"columns": {"id": [f"k{i}" for i in range(rows)],
                            **{c: [i + j + 0.5 for i in range(rows)] for j, c in enumerate("abcd")}}}
        for i, (label, binary, extra, secure) in enumerate(specs):
            proc, hport, gport = start(binary, tmp, f"s{i}", extra)
            procs.append(proc)
            scheme, hdrs = ("https", {"Authorization": "Bearer " + token}) if secure else ("http", {})
            base = f"{scheme}://localhost:{hport}/api/v1/table/bench"
            assert requests.put(base, json=schema, headers=hdrs, verify=ca).status_code == 201
            assert requests.put(base + "/write", json=data, headers=hdrs, verify=ca).status_code == 200
            if secure:
                client = fl.FlightClient(f"grpc+tls://localhost:{gport}", tls_root_certs=open(ca, "rb").read())
                opts = fl.FlightCallOptions(headers=[(b"authorization", b"Bearer " + token.encode())])
            else:
                client = fl.FlightClient(f"grpc://127.0.0.1:{gport}")
                opts = fl.FlightCallOptions()
            sides.append({"label": label, "client": client, "opts": opts, "t": []})
        print("server pids:", " ".join(str(p.pid) for p in procs), flush=True)  # for strace / perf -p
        time.sleep(float(os.environ.get("FLIGHT_TLS_PAUSE", "0")))
        keys = [f"k{(i * 7919) % rows}" for i in range(100)]
        ticket = fl.Ticket(json.dumps({"table": "bench", "keys": keys, "columns": list("abcd")}).encode())
        for s in sides:  # the answer is right on every side, and every side is warm
            t = s["client"].do_get(ticket, options=s["opts"]).read_all()
            assert t.num_rows == 100 and t.column("a")[0].as_py() == 0.5, t
            for _ in range(200):
                s["client"].do_get(ticket, options=s["opts"]).read_all()
        for r in range(a.rounds):
            for j in range(len(sides)):
                s = sides[(r + j) % len(sides)]
                c, o, ts = s["client"], s["opts"], s["t"]
                for _ in range(a.per_round):
                    t0 = time.perf_counter_ns()
                    c.do_get(ticket, options=o).read_all()
                    ts.append(time.perf_counter_ns() - t0)
        print("| side | DoGets | p50 us | p99 us |\n|---|---:|---:|---:|")
        p50 = []
        for s in sides:
            ts = sorted(s["t"])
            p50.append(ts[len(ts) // 2] / 1e3)
            print(f"| {s['label']} | {len(ts)} | {p50[-1]:.1f} | {ts[len(ts) * 99 // 100] / 1e3:.1f} |")
        print(f"ratio B/A: p50 {p50[1] / p50[0]:.3f}")
        if len(p50) == 3:
            print(f"ratio C/A: p50 {p50[2] / p50[0]:.3f}\nratio B/C: p50 {p50[1] / p50[2]:.3f}")
    finally:
        for s in sides:
            s["client"].close()
        for p in procs:
            p.terminate()
            p.wait()
        subprocess.run(["rm", "-rf", str(tmp)])


if __name__ == "__main__":
    main()
