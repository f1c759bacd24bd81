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
    import pyarrow as pa
    # 101 keys: a small ticket, read on the loop; 10,000 keys: 90 KB, over the 64 KiB at which
    # the ticket is decoded and read on a worker
    for n in (101, 10_000):
        ticket = json.dumps({"table": "t", "keys": [f"k{i}" for i in range(n)], "columns": ["x"]}).encode()
        assert (len(ticket) > 65536) == (n > 101)
        try:
            c.do_get(fl.Ticket(ticket)).read_all()
            raise AssertionError(f"a {n}-key DoGet over max_fetch_keys 100 was answered")
        except pa.ArrowException as e:  # pyarrow raises RESOURCE_EXHAUSTED as ArrowInvalid
            assert "resource exhausted" in str(e) and "grpc_status:8" in str(e), str(e)
            assert f"{n} keys" in str(e) and "max_fetch_keys (100)" in str(e), str(e)
    ticket = json.dumps({"table": "t", "keys": [f"k{i}" for i in range(100)], "columns": ["x"]}).encode()
    assert c.do_get(fl.Ticket(ticket)).read_all().num_rows == 100


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


HUGE = 2_500_000


def huge_table(srv):
    """Table t of HUGE rows, id "k<i>" (utf8 key) and x = i (float32); returns the ids."""
    import io
    import pyarrow as pa
    schema = {"key": "id", "columns": {"id": {"dtype": "utf8", "nullable": False},
                                       "x": {"dtype": "float32", "nullable": True}}}
    assert requests.put(srv.url + "/api/v1/table/t", json=schema).status_code in (200, 201)
    ids = [f"k{i}" for i in range(HUGE)]
    t = pa.table({"id": pa.array(ids, pa.utf8()), "x": pa.array(range(HUGE), pa.float32())})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, t.schema) as w:
        w.write_table(t)
    w = requests.put(srv.url + "/api/v1/table/t/write", data=sink.getvalue(), headers={"Content-Type": ARROW})
    assert w.status_code == 200, w.text
    return ids


def p99_ms(lat):
    lat = sorted(lat)
    return lat[int(len(lat) * 0.99) - 1] * 1000


def during(work, probes, rounds_idle=200):
    """Runs each probe rounds_idle times alone (its idle latencies), then work() in a thread
    with each probe looping in a thread of its own until work ends. Returns (idle, busy)
    latency lists per probe and how long work() took, seconds."""
    import threading
    idle = [[] for _ in probes]
    for _ in range(rounds_idle):
        for i, probe in enumerate(probes):
            t0 = time.perf_counter()
            probe()
            idle[i].append(time.perf_counter() - t0)
    busy = [[] for _ in probes]
    done = threading.Event()
    errors = []

    def loop(i):
        try:
            while not done.is_set():
                t0 = time.perf_counter()
                probes[i]()
                busy[i].append(time.perf_counter() - t0)
        except Exception as e:  # reported by the caller's thread
            errors.append(e)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(len(probes))]
    for t in threads:
        t.start()
    t_work = time.perf_counter()
    try:
        work()
        t_work = time.perf_counter() - t_work
    finally:
        done.set()
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    return idle, busy, t_work


def assert_not_stalled(name, idle, busy, work_s, what):
    """The p99 of a probe while `what` ran (work_s seconds): bound max(30 ms, 4x its idle p99,
    a quarter of `what`). 30 ms on a quiet machine; on a loaded one (load 11 on 2 cores seen)
    the idle p99 itself grows and every request takes longer, so the bound is whichever is
    larger. A stall happens once per huge request, so it is one sample and the p99 may not
    see it: the longest wait is bounded too, at max(250 ms, 10x the idle p99, a third of
    `what`). With the huge request on the loop, the probe waited for nearly all of it (0.56 s
    for a 2.5M-key DoGet, debug build): more than a third of it however loaded the machine."""
    assert len(busy) >= 20, f"only {len(busy)} {name} requests during {what}"
    p99, idle_p99, worst, work_ms = p99_ms(busy), p99_ms(idle), max(busy) * 1000, work_s * 1000
    bound, worst_bound = max(30.0, 4 * idle_p99, work_ms / 4), max(250.0, 10 * idle_p99, work_ms / 3)
    assert p99 < bound, (f"{name}: p99 {p99:.1f} ms during {what} ({len(busy)} requests in {work_ms:.0f} ms; "
                         f"idle p99 {idle_p99:.1f} ms, bound {bound:.1f} ms)")
    assert worst < worst_bound, (f"{name}: waited {worst:.0f} ms once during {what} ({work_ms:.0f} ms; bound "
                                 f"{worst_bound:.0f} ms, idle p99 {idle_p99:.1f} ms)")


def test_a_huge_fetch_does_not_stall_a_small_client(murr_factory):
    """A 2.5M-key fetch while a small client fetches 10 keys in a loop, one event-loop thread
    (so both connections share it). On the loop, the small client's p99 went from 0.9 ms to
    79 ms (max 270 ms, release build); on a worker it stays low."""
    import pyarrow as pa
    srv = murr_factory(extra_env={"MURR_SERVER_HTTP_THREADS": "1"})
    ids = huge_table(srv)
    big = json.dumps({"keys": ids, "columns": ["x"]}).encode()
    result = {}

    def huge():
        r = requests.post(srv.url + "/api/v1/table/t/fetch", data=big, timeout=300,
                          headers={"Content-Type": "application/json", "Accept": ARROW})
        result["status"] = r.status_code
        result["rows"] = pa.ipc.open_stream(r.content).read_all().num_rows if r.status_code == 200 else r.text

    sess = requests.Session()
    small = {"keys": ids[:10], "columns": ["x"]}

    def probe():
        r = sess.post(srv.url + "/api/v1/table/t/fetch", json=small)
        assert r.status_code == 200 and r.json()["columns"]["x"] == [float(i) for i in range(10)]

    (idle,), (busy,), work_s = during(huge, [probe])
    assert result["status"] == 200 and result["rows"] == HUGE, result
    assert_not_stalled("small HTTP fetch", idle, busy, work_s, "a 2.5M-key HTTP fetch")


def test_a_huge_do_get_does_not_stall_small_clients(murr_factory):
    """A Flight DoGet of 2.5M keys (a 30 MB ticket) while a small Flight client (10-key DoGet,
    its own connection) and a small HTTP client take turns, one event-loop thread. On the loop
    the ticket's decode and the 2.5M-key read stalled both for the whole fetch; on a worker
    their p99 stays low. The huge answer is checked value by value (pyarrow decodes it), with
    an output budget small enough that the answer (10 MB) goes out under deferral."""
    import numpy as np
    srv = murr_factory(extra_env={"MURR_SERVER_HTTP_THREADS": "1",
                                  "MURR_SERVER_OUTPUT_BUDGET_BYTES": str(1 << 20)})
    ids = huge_table(srv)
    ticket = fl.Ticket(json.dumps({"table": "t", "keys": ids[::-1], "columns": ["x"]}).encode())
    result = {}

    def huge():
        c = fl.FlightClient(f"grpc://127.0.0.1:{srv.grpc_port}")
        t = c.do_get(ticket).read_all()
        result["x"] = t.column("x").to_numpy()
        c.close()

    # a subchannel pool of its own: gRPC would otherwise share one connection between clients
    small = fl.FlightClient(f"grpc://127.0.0.1:{srv.grpc_port}",
                            generic_options=[("grpc.use_local_subchannel_pool", 1)])
    small_ticket = fl.Ticket(json.dumps({"table": "t", "keys": ids[:10], "columns": ["x"]}).encode())
    sess = requests.Session()

    def flight_probe():
        t = small.do_get(small_ticket).read_all()
        assert t.column("x").to_pylist() == [float(i) for i in range(10)]

    def http_probe():
        r = sess.post(srv.url + "/api/v1/table/t/fetch", json={"keys": ids[:10], "columns": ["x"]})
        assert r.status_code == 200 and r.json()["columns"]["x"] == [float(i) for i in range(10)]

    idle, busy, work_s = during(huge, [flight_probe, http_probe])
    x = result["x"]
    assert len(x) == HUGE and np.array_equal(x, np.arange(HUGE - 1, -1, -1, dtype=np.float32))
    assert_not_stalled("small Flight DoGet", idle[0], busy[0], work_s, "a 2.5M-key DoGet")
    assert_not_stalled("small HTTP fetch", idle[1], busy[1], work_s, "a 2.5M-key DoGet")
    # a deadline that passes while the worker reads: DEADLINE_EXCEEDED, the job's answer is
    # dropped when it completes, and the server goes on answering
    c = fl.FlightClient(f"grpc://127.0.0.1:{srv.grpc_port}")
    t0 = time.perf_counter()
    try:
        c.do_get(ticket, fl.FlightCallOptions(timeout=0.3)).read_all()
        raise AssertionError("a 2.5M-key DoGet finished within 0.3 s")
    except fl.FlightTimedOutError as e:
        assert "deadline" in str(e).lower(), str(e)
    assert time.perf_counter() - t0 < 5
    time.sleep(2)  # the job completes meanwhile
    flight_probe()
    c.close()
    small.close()
