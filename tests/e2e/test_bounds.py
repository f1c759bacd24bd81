"""Resource bounds under hostile clients, measured on the real binary (issue 17): each attack
runs against a server configured with small limits so the test is quick, and the bound is
asserted with margins generous enough for a shared machine yet far below what the attack
cost before the bound existed (figures in the tests, measured on main before the change).
"""
import json
import os
import socket
import time

import pyarrow.flight as fl
import requests

ARROW = "application/vnd.apache.arrow.stream"
NCOL, NROWS = 32, 4000


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def wide_table(url):
    cols = {"id": {"dtype": "utf8", "nullable": False}}
    cols.update({f"c{i}": {"dtype": "float32", "nullable": True} for i in range(NCOL)})
    assert requests.put(url + "/api/v1/table/t", json={"key": "id", "columns": cols}).status_code in (200, 201)
    data = {"id": [f"k{i}" for i in range(NROWS)]}
    data.update({f"c{i}": [float(j) for j in range(NROWS)] for i in range(NCOL)})
    assert requests.put(url + "/api/v1/table/t/write", json={"columns": data}).status_code == 200
    return data["id"]


def test_pipelined_fetches_never_read_stay_within_the_output_budget(murr_factory):
    """16 connections pipeline 500 KB Arrow answers and never read them. Before the global
    output budget the server held ~24 MB per such connection (381 MB for 16 on main, this
    workload, debug build); with a 32 MiB budget it stays near the budget (measured 105 MB:
    the budget, input read-ahead and allocator slack), a normal client keeps getting answers,
    and attackers over their share for the stall deadline are closed."""
    # under the asan preset, freed memory sits in ASan's quarantine (256 MB by default) and
    # would count as RSS: keep it small so the bound measures the server, not the sanitizer
    asan = (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16").lstrip(":")
    srv = murr_factory(extra_env={"MURR_SERVER_OUTPUT_BUDGET_BYTES": str(32 << 20),
                                  "MURR_SERVER_OUTPUT_STALL_MS": "2000", "ASAN_OPTIONS": asan})
    keys = wide_table(srv.url)
    body = json.dumps({"keys": keys, "columns": [f"c{i}" for i in range(NCOL)]}).encode()
    req = (f"POST /api/v1/table/t/fetch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           f"Accept: {ARROW}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    one = requests.post(srv.url + "/api/v1/table/t/fetch", data=body,
                        headers={"Content-Type": "application/json", "Accept": ARROW})
    assert one.status_code == 200 and len(one.content) > 500_000
    base = rss_mb(srv.proc.pid)
    socks = []
    for _ in range(16):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", srv.port))
        s.setblocking(False)
        socks.append(s)
    blob = req * 200
    sent = [0] * len(socks)
    peak = base
    served = 0
    t0 = time.time()
    while time.time() - t0 < 6:
        for i, s in enumerate(socks):
            try:
                sent[i] += s.send(blob[sent[i] % len(blob):])
            except (BlockingIOError, OSError):
                pass
        peak = max(peak, rss_mb(srv.proc.pid))
        r = requests.post(srv.url + "/api/v1/table/t/fetch", timeout=10,
                          json={"keys": keys[:10], "columns": ["c0"]})
        assert r.status_code == 200 and r.json()["columns"]["c0"] == [float(j) for j in range(10)]
        served += 1
    assert sum(sent) > 50 << 20, f"the attack sent only {sum(sent)} bytes"
    assert peak - base < 200, f"server RSS grew by {peak - base:.0f} MB under the attack (bound 200 MB)"
    assert served > 10
    # Those over their share when the stall deadline passed were closed; as they went, the
    # share of the others grew, so not every attacker is closed (they read from here on).
    closed = 0
    for s in socks:
        s.setblocking(True)
        s.settimeout(0.2)
        try:  # what the kernel holds of the answers, then the close
            while True:
                if not s.recv(1 << 20):
                    closed += 1
                    break
        except ConnectionResetError:
            closed += 1
        except socket.timeout:
            pass
        s.close()
    assert closed >= 4, f"{closed} of {len(socks)} attackers closed"
    assert srv.logs().count("over its share") >= 4


def h2_settings_seen(data):
    """True if data starts with an HTTP/2 SETTINGS frame (type 4 at byte 3)."""
    return len(data) >= 9 and data[3] == 4


def test_idle_flight_connections_are_capped_and_closed(murr_factory):
    """3,000 TCP connections to the Flight port that never send a request: before, every one
    was accepted and held forever. Now at most server.grpc.max_connections are served (the
    rest closed at accept) and each is closed after server.grpc.idle_timeout_ms, with a
    GOAWAY first; Flight keeps serving a real client."""
    srv = murr_factory(extra_env={"MURR_SERVER_GRPC_MAX_CONNECTIONS": "500",
                                  "MURR_SERVER_GRPC_IDLE_TIMEOUT_MS": "1500"})
    socks = []
    for _ in range(3000):
        s = socket.create_connection(("127.0.0.1", srv.grpc_port))
        s.settimeout(0.0)
        socks.append(s)
    time.sleep(0.5)
    served = refused = 0
    got = [b""] * len(socks)
    eof = [False] * len(socks)

    def pump():
        for i, s in enumerate(socks):
            if eof[i]:
                continue
            try:
                while True:
                    d = s.recv(65536)
                    if not d:
                        eof[i] = True
                        break
                    got[i] += d
            except BlockingIOError:
                pass
            except ConnectionResetError:
                eof[i] = True

    pump()
    served = sum(1 for g in got if h2_settings_seen(g))
    refused = sum(1 for i in range(len(socks)) if eof[i] and not got[i])
    assert served <= 500, f"{served} idle Flight connections served over a cap of 500"
    assert served >= 400, f"only {served} connections served"
    assert refused >= 2400, f"{refused} refused at accept"
    c = fl.FlightClient(f"grpc://127.0.0.1:{srv.grpc_port}")
    deadline = time.time() + 15
    while time.time() < deadline and not all(eof):
        time.sleep(0.2)
        pump()
    assert all(eof), f"{eof.count(False)} idle connections still open after the 1.5 s idle timeout"
    goaways = sum(1 for g in got if h2_settings_seen(g) and b"\x00\x00\x08\x07" in g)
    assert goaways == served, f"{goaways} GOAWAY frames for {served} idle closes"
    for s in socks:
        s.close()
    assert list(c.list_flights()) == []


def test_max_fetch_keys_is_413_naming_the_limit_and_the_count(murr_factory):
    srv = murr_factory(extra_env={"MURR_SERVER_HTTP_MAX_FETCH_KEYS": "100"})
    schema = {"key": "id", "columns": {"id": {"dtype": "utf8", "nullable": False},
                                       "x": {"dtype": "float32", "nullable": True}}}
    assert requests.put(srv.url + "/api/v1/table/t", json=schema).status_code in (200, 201)
    ok = requests.post(srv.url + "/api/v1/table/t/fetch", json={"keys": [f"k{i}" for i in range(100)],
                                                               "columns": ["x"]})
    assert ok.status_code == 200, ok.text
    for keys in ([f"k{i}" for i in range(101)], {"id": [f"k{i}" for i in range(101)]}):
        r = requests.post(srv.url + "/api/v1/table/t/fetch", json={"keys": keys, "columns": ["x"]})
        assert r.status_code == 413, r.text
        assert "101 keys" in r.json()["error"] and "server.http.max_fetch_keys (100)" in r.json()["error"]
    c = fl.FlightClient(f"grpc://127.0.0.1:{srv.grpc_port}")
    ticket = json.dumps({"table": "t", "keys": [f"k{i}" for i in range(101)], "columns": ["x"]}).encode()
    import pyarrow as pa
    try:
        c.do_get(fl.Ticket(ticket)).read_all()
        raise AssertionError("a 101-key DoGet over max_fetch_keys 100 was answered")
    except pa.ArrowException as e:  # pyarrow raises RESOURCE_EXHAUSTED as ArrowInvalid
        assert "resource exhausted" in str(e) and "grpc_status:8" in str(e), str(e)
        assert "101 keys" in str(e) and "max_fetch_keys (100)" in str(e), str(e)


def test_chunk_data_without_crlf_is_400(murr_factory):
    """http-parser (as Debian builds it, non-strict) takes any two bytes after chunk data as
    its CRLF: such a body was accepted. Now 400 naming the chunk and the byte."""
    srv = murr_factory()
    body = b'{"columns":{"id":["a"],"x":[1.5]}}'
    head = (b"PUT /api/v1/table/t/write HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: application/json\r\n\r\n")
    for framing, status in ((b"%x\r\n%sXY0\r\n\r\n", 400), (b"%x\r\n%s\r\n0\r\n\r\n", None)):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(head + framing % (len(body), body))
        out = b""
        while b"\r\n\r\n" not in out:
            d = s.recv(65536)
            if not d:
                break
            out += d
        s.close()
        if status == 400:
            assert out.startswith(b"HTTP/1.1 400 "), out
        else:  # well framed: past the framing (the table does not exist: 404)
            assert out.startswith(b"HTTP/1.1 404 "), out
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(head + b"%x\r\n%sXY0\r\n\r\n" % (len(body), body))
    text = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        text += d
    assert b"the 34 bytes of chunk data are followed by 0x58 instead of CRLF" in text, text


def test_a_huge_fetch_does_not_stall_a_small_client(murr_factory):
    """A 2.5M-key fetch while a small client fetches 10 keys in a loop, one event-loop thread
    (so both connections share it). On the loop, the small client's p99 went from 0.9 ms to
    79 ms (max 270 ms, release build); on a worker it stays low. Bound generous for a shared
    machine."""
    import io
    import pyarrow as pa
    srv = murr_factory(extra_env={"MURR_SERVER_HTTP_THREADS": "1"})
    schema = {"key": "id", "columns": {"id": {"dtype": "utf8", "nullable": False},
                                       "x": {"dtype": "float32", "nullable": True}}}
    assert requests.put(srv.url + "/api/v1/table/t", json=schema).status_code in (200, 201)
    n = 2_500_000
    ids = [f"k{i}" for i in range(n)]
    t = pa.table({"id": pa.array(ids, pa.utf8()), "x": pa.array(range(n), pa.float32())})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, t.schema) as w:
        w.write_table(t)
    w = requests.put(srv.url + "/api/v1/table/t/write", data=sink.getvalue(), headers={"Content-Type": ARROW})
    assert w.status_code == 200, w.text
    big = json.dumps({"keys": ids, "columns": ["x"]}).encode()
    import threading
    result = {}

    def huge():
        r = requests.post(srv.url + "/api/v1/table/t/fetch", data=big, timeout=300,
                          headers={"Content-Type": "application/json", "Accept": ARROW})
        result["status"] = r.status_code
        result["rows"] = pa.ipc.open_stream(r.content).read_all().num_rows if r.status_code == 200 else r.text

    sess = requests.Session()
    small = {"keys": ids[:10], "columns": ["x"]}
    idle = []
    for _ in range(200):  # warm, and the idle latency on this machine now
        t0 = time.perf_counter()
        sess.post(srv.url + "/api/v1/table/t/fetch", json=small)
        idle.append(time.perf_counter() - t0)
    idle.sort()
    idle_p99 = idle[int(len(idle) * 0.99) - 1] * 1000
    th = threading.Thread(target=huge)
    lat = []
    th.start()
    while th.is_alive():
        t0 = time.perf_counter()
        r = sess.post(srv.url + "/api/v1/table/t/fetch", json=small)
        lat.append(time.perf_counter() - t0)
        assert r.status_code == 200 and r.json()["columns"]["x"] == [float(i) for i in range(10)]
    th.join()
    assert result["status"] == 200 and result["rows"] == n, result
    assert len(lat) >= 20, f"only {len(lat)} small fetches during the huge one"
    lat.sort()
    p99 = lat[int(len(lat) * 0.99) - 1] * 1000
    # 30 ms on a quiet machine; on a loaded one (load 11 on 2 cores seen) the idle p99 itself
    # grows, so the bound is whichever is larger. On the loop the small client waited for the
    # whole huge fetch (seconds in a debug build): far above both.
    bound = max(30.0, 4 * idle_p99)
    assert p99 < bound, (f"small client's p99 {p99:.1f} ms during a 2.5M-key fetch ({len(lat)} fetches; "
                         f"idle p99 {idle_p99:.1f} ms, bound {bound:.1f} ms)")
