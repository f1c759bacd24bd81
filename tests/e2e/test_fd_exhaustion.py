"""Out of file descriptors (RLIMIT_NOFILE 128, hundreds of connections): neither listener
spins on a failing accept() (the HTTP loop used to take ~100% of a core) or floods the log
(the Flight listener wrote 1.56 million WARN lines in 5 s); surplus connections are closed,
one line a second reports them, and the server serves again once connections go away."""
import os
import re
import resource
import socket
import subprocess
import time

import pytest
import requests

from conftest import MURR_BIN


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_fds_does_not_spin_or_flood_the_log(tmp_path):
    log_path = tmp_path / "murr.log"
    env = dict(os.environ, MURR_STORAGE_PATH=str(tmp_path / "data"), MURR_SERVER_HTTP_HOST="127.0.0.1",
               MURR_SERVER_HTTP_PORT="0", MURR_SERVER_GRPC_HOST="127.0.0.1", MURR_SERVER_GRPC_PORT="0",
               MURR_SERVER_HTTP_THREADS="2")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(MURR_BIN)], env=env, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128)))
    socks = []
    try:
        deadline = time.time() + 15
        http = grpc = None
        while time.time() < deadline and not (http and grpc):
            text = log_path.read_text(errors="replace")
            m = re.search(r"Listening for HTTP requests on [^\s:]+:(\d+)", text)
            g = re.search(r"Listening for Flight requests on [^\s:]+:(\d+)", text)
            http, grpc = (int(m.group(1)) if m else None), (int(g.group(1)) if g else None)
            assert proc.poll() is None, text
            time.sleep(0.02)
        assert http and grpc, log_path.read_text()
        for port in (http, grpc):
            for _ in range(200):
                socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(0.5)  # let the listeners meet the limit
        size0, cpu0, t0 = log_path.stat().st_size, cpu_seconds(proc.pid), time.time()
        time.sleep(3)
        cpu = cpu_seconds(proc.pid) - cpu0
        wall = time.time() - t0
        grown = log_path.stat().st_size - size0
        text = log_path.read_text(errors="replace")
        # generous bounds: a spinning loop burns ~1 s of CPU a second, a flooding one megabytes
        print(f"out of descriptors: {cpu:.2f} s CPU in {wall:.1f} s, log +{log_path.stat().st_size - size0} bytes")
        assert cpu < 0.5 * wall, f"{cpu:.2f} s of CPU in {wall:.1f} s while out of descriptors"
        assert grown < 20000, f"log grew by {grown} bytes in {wall:.1f} s"
        assert "out of file descriptors" in text and "the limit is 128 open files" in text, text[-3000:]
        # surplus connections were closed by the server, not left hanging in the backlog
        closed = 0
        for s in socks:
            s.settimeout(0.01)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except (socket.timeout, BlockingIOError):
                pass
            except OSError:
                closed += 1
        assert closed > 0, "no surplus connection was closed"
    finally:
        for s in socks:
            s.close()
    try:
        ok = False
        for _ in range(100):
            try:
                ok = requests.get(f"http://127.0.0.1:{http}/health", timeout=2).text == "OK"
            except requests.RequestException:
                ok = False
            if ok:
                break
            time.sleep(0.05)
        assert ok, "not serving once the connections went away"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
