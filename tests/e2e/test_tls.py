"""TLS on both listeners (issue 14, decision 0010) against clients nobody here wrote: curl,
Python's ssl / http.client / requests, pyarrow.flight over grpc+tls. The PKI is made at test
time by the openssl CLI (tests/support/mkcerts.sh). Two servers serve the whole session
(session-scoped fixtures): one with server.tls.cert_file/key_file and bearer tokens, one that
also requires client certificates (server.tls.client_ca_file).

Covered: HTTPS with --cacert (and refused without it), ALPN per listener, large bodies both
ways, pipelined requests in one TLS write, records as the test cuts them (a request split
across records, many records in one TCP write, a record cut short then completed: no lost
wake-up and no busy loop with OpenSSL's read-ahead), client-certificate verification (good, none, from
another CA) on HTTP and Flight, Flight with tls_root_certs + bearer header and
authenticate_basic_token, SIGHUP certificate reload (a kept-alive connection keeps working
with its certificate, new connections get the new one, a broken file keeps the current
one), a plaintext client on a TLS port closed without hurting a TLS client, and a client that
never starts its handshake costing no CPU."""
import http.client
import json
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as fl
import pytest
import requests

from conftest import ROOT, MurrServer, assert_no_sanitizer_report, ours_only

pytestmark = ours_only

TOKEN = "t" * 8 + "0123456789abcdef"
BEARER = {"Authorization": "Bearer " + TOKEN}
SCHEMA = {"key": "id", "columns": {"id": {"dtype": "utf8", "nullable": False}, "v": {"dtype": "float64"}}}


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    subprocess.run([str(ROOT / "tests" / "support" / "mkcerts.sh"), str(d)], check=True)
    return d


def _start(d, pki, client_ca=False):
    tokens = d / "tokens"
    tokens.write_text(f"read,write,admin {TOKEN}\n")
    live = d / "live"  # the files the server reads: swapped by the reload test
    live.mkdir()
    shutil.copy(pki / "server.pem", live / "cert.pem")
    shutil.copy(pki / "server.key", live / "key.pem")
    env = {"MURR_SERVER_AUTH_TOKENS_FILE": str(tokens), "MURR_SERVER_TLS_CERT_FILE": str(live / "cert.pem"),
           "MURR_SERVER_TLS_KEY_FILE": str(live / "key.pem")}
    if client_ca:
        env["MURR_SERVER_TLS_CLIENT_CA_FILE"] = str(pki / "ca.pem")
    s = MurrServer(d / "data", extra_env=env).start()
    s.live = live
    return s


@pytest.fixture(scope="session")
def tls_srv(tmp_path_factory, pki):
    s = _start(tmp_path_factory.mktemp("tls"), pki)
    yield s
    assert s.stop() == 0
    assert_no_sanitizer_report(s)


@pytest.fixture(scope="session")
def mtls_srv(tmp_path_factory, pki):
    s = _start(tmp_path_factory.mktemp("mtls"), pki, client_ca=True)
    yield s
    assert s.stop() == 0
    assert_no_sanitizer_report(s)


def https(s):
    return f"https://localhost:{s.port}"


def curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", "20", *args], capture_output=True, text=True)


def ctx(pki, alpn=None, cert=None):
    c = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if alpn:
        c.set_alpn_protocols(alpn)
    if cert:
        c.load_cert_chain(str(pki / f"{cert}.pem"), str(pki / f"{cert}.key"))
    return c


def peer(sock):
    """(subject CN, serial) of the certificate the server presented on this connection."""
    der = sock.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject", "-serial"], input=der,
                         capture_output=True, check=True).stdout.decode()
    subject = [l for l in out.splitlines() if l.startswith("subject")][0]
    serial = [l for l in out.splitlines() if l.startswith("serial=")][0]
    return subject.split("CN")[-1].lstrip(" =").strip(), serial.split("=", 1)[1]


def pem_serial(path):
    out = subprocess.run(["openssl", "x509", "-in", str(path), "-noout", "-serial"], capture_output=True, text=True,
                         check=True).stdout
    return out.strip().split("=", 1)[1]


def make_table(s, pki, name, rows):
    v = requests.put(f"{https(s)}/api/v1/table/{name}", json=SCHEMA, headers=BEARER, verify=str(pki / "ca.pem"))
    assert v.status_code == 201, v.text
    body = {"columns": {"id": [f"k{i}" for i in range(rows)], "v": [i * 0.5 for i in range(rows)]}}
    w = requests.put(f"{https(s)}/api/v1/table/{name}/write", json=body, headers=BEARER, verify=str(pki / "ca.pem"))
    assert w.status_code == 200, w.text


# ---- HTTP ------------------------------------------------------------------------------------

def test_curl_over_https_with_the_test_ca(tls_srv, pki):
    r = curl("--cacert", str(pki / "ca.pem"), "-w", "%{http_code} %{http_version}", "-o", "/dev/null",
             https(tls_srv) + "/health")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "200 1.1"
    r = curl("--cacert", str(pki / "ca.pem"), "-H", "Authorization: Bearer " + TOKEN, https(tls_srv) + "/api/v1/table")
    assert r.returncode == 0, r.stderr
    assert isinstance(json.loads(r.stdout), (list, dict))
    r = curl("--cacert", str(pki / "ca.pem"), "-w", "%{http_code}", "-o", "/dev/null", https(tls_srv) + "/api/v1/table")
    assert r.stdout == "401"
    # without the test CA curl cannot verify the server: exit 60 (peer certificate cannot be authenticated)
    r = curl("-o", "/dev/null", https(tls_srv) + "/health")
    assert r.returncode == 60, (r.returncode, r.stderr)


def test_alpn_per_listener(tls_srv, pki):
    with socket.create_connection(("127.0.0.1", tls_srv.port), timeout=10) as raw:
        with ctx(pki, ["h2", "http/1.1"]).wrap_socket(raw, server_hostname="localhost") as s:
            assert s.selected_alpn_protocol() == "http/1.1"
            assert s.version() in ("TLSv1.2", "TLSv1.3")
            assert peer(s)[0] == "murr-test-server"
    with socket.create_connection(("127.0.0.1", tls_srv.grpc_port), timeout=10) as raw:
        with ctx(pki, ["h2"]).wrap_socket(raw, server_hostname="localhost") as s:
            assert s.selected_alpn_protocol() == "h2"
    # a client that only speaks http/1.1 is refused by the Flight listener (no_application_protocol)
    with socket.create_connection(("127.0.0.1", tls_srv.grpc_port), timeout=10) as raw:
        with pytest.raises(ssl.SSLError, match="NO_APPLICATION_PROTOCOL|no application protocol"):
            ctx(pki, ["http/1.1"]).wrap_socket(raw, server_hostname="localhost")


def test_large_bodies_both_ways_on_one_connection(tls_srv, pki):
    """A 6 MB write and a 4 MB answer: many records, partial SSL_writes, reads split over records."""
    n = 200_000
    make_table(tls_srv, pki, "big", n)
    with requests.Session() as sess:  # verify per request: REQUESTS_CA_BUNDLE would win over sess.verify
        sess.headers.update(BEARER)
        keys = [f"k{i}" for i in range(0, n, 1)]
        for _ in range(2):
            r = sess.post(f"{https(tls_srv)}/api/v1/table/big/fetch", json={"keys": keys, "columns": ["v"]},
                          verify=str(pki / "ca.pem"))
            assert r.status_code == 200, r.text[:300]
            got = r.json()["columns"]["v"]
            assert len(got) == n and got[0] == 0.0 and got[12345] == 12345 * 0.5 and got[-1] == (n - 1) * 0.5


def test_pipelined_requests_in_one_tls_write(tls_srv, pki):
    """200 requests in one write arrive as a few TLS records; every answer comes back in order."""
    n = 200
    req = b"".join(b"GET /health?i=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(n))
    with socket.create_connection(("127.0.0.1", tls_srv.port), timeout=20) as raw:
        with ctx(pki).wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(req)
            data = b""
            while data.count(b"HTTP/1.1 200 ") < n:
                chunk = s.recv(65536)
                assert chunk, f"closed after {data.count(b'HTTP/1.1 200 ')} answers"
                data += chunk
    assert data.count(b"HTTP/1.1 ") == n


class RecordClient:
    """A TLS client over a raw socket through ssl.MemoryBIO: every write() is one TLS record
    whose bytes the test puts on the wire when and in the pieces it wants."""

    def __init__(self, s, pki):
        self.sock = socket.create_connection(("127.0.0.1", s.port), timeout=20)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx(pki).wrap_bio(self.inc, self.out, server_hostname="localhost")
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.sock.sendall(self.out.read())
                data = self.sock.recv(65536)
                assert data, "the server closed during the handshake"
                self.inc.write(data)
        self.sock.sendall(self.out.read())  # the client's Finished

    def record(self, data):
        self.obj.write(data)
        return self.out.read()

    def answers(self, n):
        """Reads until n HTTP answers (bodies are small: counted by status lines)."""
        data = b""
        while data.count(b"HTTP/1.1 ") < n:
            try:
                data += self.obj.read(65536)
                continue
            except ssl.SSLWantReadError:
                pass
            chunk = self.sock.recv(65536)
            assert chunk, f"closed after {data.count(b'HTTP/1.1 ')} answers"
            self.inc.write(chunk)
        return data

    def close(self):
        self.sock.close()


def test_a_request_split_across_records(tls_srv, pki):
    """One request in three records sent apart (the header line cut mid-word): one answer."""
    c = RecordClient(tls_srv, pki)
    try:
        req = b"GET /health?split=1 HTTP/1.1\r\nHost: x\r\n\r\n"
        for piece in (req[:7], req[7:25], req[25:]):
            c.sock.sendall(c.record(piece))
            time.sleep(0.05)
        got = c.answers(1)
        assert got.startswith(b"HTTP/1.1 200 "), got[:200]
        assert got.count(b"HTTP/1.1 ") == 1
    finally:
        c.close()


def test_a_record_cut_short_waits_without_spinning(tls_srv, pki):
    """A whole record and the first bytes of the next in one TCP write: the server reads both
    (read-ahead), answers the first, then waits for the rest on the socket (no busy loop, no
    lost wake-up): the second answer comes when the rest of its record does."""
    c = RecordClient(tls_srv, pki)
    try:
        r1 = c.record(b"GET /health?i=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        r2 = c.record(b"GET /health?i=2 HTTP/1.1\r\nHost: x\r\n\r\n")
        c.sock.sendall(r1 + r2[:10])
        first = c.answers(1)
        assert first.startswith(b"HTTP/1.1 200 ") and first.count(b"HTTP/1.1 ") == 1, first[:200]
        before = _cpu_seconds(tls_srv.proc.pid)
        time.sleep(1.0)
        used = _cpu_seconds(tls_srv.proc.pid) - before
        assert used < 0.3, f"{used:.2f} s of CPU in 1 s waiting for the rest of a record"
        c.sock.sendall(r2[10:])
        second = c.answers(1)
        assert second.startswith(b"HTTP/1.1 200 ") and second.count(b"HTTP/1.1 ") == 1, second[:200]
    finally:
        c.close()


def test_many_records_in_one_tcp_write(tls_srv, pki):
    """50 requests, one record each, all in one TCP write: read ahead together, every answer
    comes back in order (none left inside OpenSSL unseen by epoll)."""
    c = RecordClient(tls_srv, pki)
    try:
        n = 50
        wire = b"".join(c.record(b"GET /health?i=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i) for i in range(n))
        c.sock.sendall(wire)
        got = c.answers(n)
        assert got.count(b"HTTP/1.1 200 ") == n
    finally:
        c.close()


def test_client_certificates_on_http(mtls_srv, pki):
    ca = str(pki / "ca.pem")
    r = curl("--cacert", ca, "--cert", str(pki / "client.pem"), "--key", str(pki / "client.key"), "-w",
             "%{http_code}", "-o", "/dev/null", https(mtls_srv) + "/health")
    assert (r.returncode, r.stdout) == (0, "200"), r.stderr
    for extra in ([], ["--cert", str(pki / "rogue.pem"), "--key", str(pki / "rogue.key")]):
        r = curl("--cacert", ca, "-w", "%{http_code}", "-o", "/dev/null", *extra, https(mtls_srv) + "/health")
        assert r.returncode != 0 and r.stdout in ("000", ""), (extra, r.returncode, r.stdout, r.stderr)
        # curl's TLS failures: 35 (handshake), 55/56 (send/receive: with TLS 1.3 the refusal
        # comes after the client's side of the handshake, as an alert and a close)
        assert r.returncode in (35, 55, 56), (extra, r.returncode, r.stderr)
    # Python: no certificate -> the server's alert (certificate required), no HTTP answer
    with socket.create_connection(("127.0.0.1", mtls_srv.port), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            with ctx(pki).wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                assert s.recv(100) == b""  # TLS 1.3: the refusal arrives on the first read


# ---- Flight ----------------------------------------------------------------------------------

def flight(s, pki, **kw):
    return fl.connect(f"grpc+tls://localhost:{s.grpc_port}", tls_root_certs=(pki / "ca.pem").read_bytes(), **kw)


def ticket(table, keys):
    return fl.Ticket(json.dumps({"table": table, "keys": keys, "columns": ["v"]}).encode())


def test_flight_over_tls_with_a_bearer_header(tls_srv, pki):
    make_table(tls_srv, pki, "fl", 1000)
    c = flight(tls_srv, pki)
    o = fl.FlightCallOptions(headers=[(b"authorization", b"Bearer " + TOKEN.encode())])
    t = c.do_get(ticket("fl", ["k7", "k999", "k0"]), options=o).read_all()
    assert t.column("v").to_pylist() == [3.5, 499.5, 0.0]
    with pytest.raises(fl.FlightUnauthenticatedError):
        list(c.list_flights())
    data = pa.table({"id": pa.array(["n1", "n2"]), "v": pa.array([10.0, 20.0])})
    w, _ = c.do_put(fl.FlightDescriptor.for_path("fl"), data.schema, options=o)
    w.write_table(data)
    w.close()
    t = c.do_get(ticket("fl", ["n2", "n1"]), options=o).read_all()
    assert t.column("v").to_pylist() == [20.0, 10.0]
    c.close()


def test_flight_over_tls_with_authenticate_basic_token(tls_srv, pki):
    make_table(tls_srv, pki, "flb", 10)
    c = flight(tls_srv, pki)
    k, v = c.authenticate_basic_token("anyone", TOKEN)
    assert (k, v) == (b"authorization", b"Bearer " + TOKEN.encode())
    o = fl.FlightCallOptions(headers=[(k, v)])
    assert c.do_get(ticket("flb", ["k4"]), options=o).read_all().column("v").to_pylist() == [2.0]
    with pytest.raises(fl.FlightUnauthenticatedError):
        c.authenticate_basic_token("anyone", "z" * 24)
    c.close()


def test_flight_without_the_ca_is_refused(tls_srv):
    c = fl.connect(f"grpc+tls://localhost:{tls_srv.grpc_port}")  # system roots: the test CA is not among them
    with pytest.raises(fl.FlightUnavailableError):
        list(c.list_flights(options=fl.FlightCallOptions(timeout=10)))
    c.close()


def test_flight_client_certificates(mtls_srv, pki):
    o = fl.FlightCallOptions(headers=[(b"authorization", b"Bearer " + TOKEN.encode())], timeout=10)
    c = flight(mtls_srv, pki, cert_chain=(pki / "client.pem").read_bytes(),
               private_key=(pki / "client.key").read_bytes())
    assert list(c.list_flights(options=o)) == []
    c.close()
    for kw in ({}, {"cert_chain": (pki / "rogue.pem").read_bytes(), "private_key": (pki / "rogue.key").read_bytes()}):
        c = flight(mtls_srv, pki, **kw)
        with pytest.raises(fl.FlightUnavailableError):
            list(c.list_flights(options=o))
        c.close()


# ---- hostile and idle clients ---------------------------------------------------------------

def test_plaintext_client_on_a_tls_port_is_closed_and_others_go_on(tls_srv, pki):
    with socket.create_connection(("127.0.0.1", tls_srv.port), timeout=10) as raw:
        keep = ctx(pki).wrap_socket(raw, server_hostname="localhost")
        conn = http.client.HTTPSConnection("localhost", tls_srv.port, context=ctx(pki))
        conn.sock = keep
        conn.request("GET", "/health")
        assert conn.getresponse().read() == b"OK"
        for port, hello in ((tls_srv.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"),
                            (tls_srv.grpc_port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as p:
                p.sendall(hello)
                got = b""
                t0 = time.time()
                try:
                    while chunk := p.recv(4096):  # at most a TLS alert, then the close
                        got += chunk
                        assert time.time() - t0 < 10
                except ConnectionResetError:  # closed with our bytes unread: a reset
                    pass
                assert b"HTTP/1.1" not in got and len(got) < 64, got
                assert got == b"" or got[0] == 0x15  # nothing, or an alert record
        conn.request("GET", "/health")
        r = conn.getresponse()
        assert r.status == 200 and r.read() == b"OK"
        conn.close()


def _cpu_seconds(pid):
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / 100.0  # utime + stime, clock ticks


def test_a_client_that_never_sends_its_hello_costs_no_cpu(tls_srv):
    """Flight writes its SETTINGS at accept; over TLS that write waits for the handshake, which
    waits for the client: the connection must sleep on EPOLLIN, not spin on EPOLLOUT."""
    socks = [socket.create_connection(("127.0.0.1", p), timeout=10) for p in (tls_srv.grpc_port, tls_srv.port)]
    time.sleep(0.3)
    before = _cpu_seconds(tls_srv.proc.pid)
    time.sleep(2.0)
    used = _cpu_seconds(tls_srv.proc.pid) - before
    for s in socks:
        s.close()
    assert used < 0.5, f"{used:.2f} s of CPU in 2 s with two silent TLS connections open"


# ---- certificate reload (last: it swaps the session server's files and puts them back) -----

def _sighup_and_wait(s, text):
    n = s.logs().count(text)
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while s.logs().count(text) == n:
        assert time.time() < deadline, s.logs()[-2000:]
        time.sleep(0.05)


def _new_peer(s, pki, port, alpn):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx(pki, alpn).wrap_socket(raw, server_hostname="localhost") as t:
            return peer(t)


def test_zz_sighup_reloads_the_certificate_without_dropping_connections(tls_srv, pki):
    s = tls_srv
    old_serial, new_serial = pem_serial(pki / "server.pem"), pem_serial(pki / "server2.pem")
    assert old_serial != new_serial
    conn = http.client.HTTPSConnection("localhost", s.port, context=ctx(pki), timeout=10)
    conn.request("GET", "/health")
    assert conn.getresponse().read() == b"OK"
    assert peer(conn.sock) == ("murr-test-server", old_serial)
    fc = flight(s, pki)  # a Flight connection kept open across the reload
    o = fl.FlightCallOptions(headers=[(b"authorization", b"Bearer " + TOKEN.encode())])
    assert list(fc.list_flights(options=o)) is not None
    try:
        shutil.copy(pki / "server2.pem", s.live / "cert.pem")
        shutil.copy(pki / "server2.key", s.live / "key.pem")
        _sighup_and_wait(s, "SIGHUP: reloaded the TLS certificate")
        # the kept-alive connection goes on with the certificate it has
        sock_before = conn.sock
        conn.request("GET", "/api/v1/table", headers=BEARER)
        r = conn.getresponse()
        assert r.status == 200 and isinstance(json.loads(r.read()), (list, dict))
        assert conn.sock is sock_before and peer(conn.sock) == ("murr-test-server", old_serial)
        assert list(fc.list_flights(options=o)) is not None
        # new connections get the new one, on both listeners
        assert _new_peer(s, pki, s.port, None) == ("murr-test-server-2", new_serial)
        assert _new_peer(s, pki, s.grpc_port, ["h2"]) == ("murr-test-server-2", new_serial)
        r = curl("--cacert", str(pki / "ca.pem"), "-w", "%{http_code}", "-o", "/dev/null", https(s) + "/health")
        assert r.stdout == "200", r.stderr
        # a broken file keeps the certificate in force and says why
        (s.live / "cert.pem").write_text("not a certificate\n")
        _sighup_and_wait(s, "SIGHUP: keeping the current TLS certificate")
        assert f"server.tls.cert_file: cannot load the PEM certificate chain {s.live / 'cert.pem'}" in s.logs()
        assert _new_peer(s, pki, s.port, None) == ("murr-test-server-2", new_serial)
    finally:
        shutil.copy(pki / "server.pem", s.live / "cert.pem")
        shutil.copy(pki / "server.key", s.live / "key.pem")
        _sighup_and_wait(s, "SIGHUP: reloaded the TLS certificate")
    assert _new_peer(s, pki, s.port, None) == ("murr-test-server", old_serial)
    conn.request("GET", "/health")
    r = conn.getresponse()
    assert r.status == 200 and r.read() == b"OK"
    conn.close()
    fc.close()
