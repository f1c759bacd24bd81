"""Large answers on the wire (issue 16's embedding fetch): multi-megabyte Arrow answers sent
while the client reads slowly through a small receive buffer, pipelined behind and ahead of
each other, and under an output budget smaller than one answer, arrive byte-exact and in
order. Expected values come from the formula the rows were written with (numpy), decoded by
pyarrow; the raw socket client here frames the HTTP responses itself."""
import json
import socket
import time

import numpy as np
import pyarrow as pa
import pyarrow.flight as fl
import requests

ARROW = "application/vnd.apache.arrow.stream"
DIM, NROWS = 768, 2000


def emb_of(rows):
    """Row i's vector: element j = ((31 i + j) mod 1000) / 8 (exact in float32)."""
    rows = np.asarray(rows, np.int64)
    return (((31 * rows[:, None] + np.arange(DIM)[None, :]) % 1000) / 8).astype(np.float32)


def load(url):
    cols = {"id": {"dtype": "utf8", "nullable": False, "key": True},
            "emb": {"dtype": "list<float32>", "dim": DIM}, "f": {"dtype": "float32"}}
    assert requests.put(url + "/api/v1/table/v", json={"columns": cols}).status_code == 201
    for first in range(0, NROWS, 500):
        rows = np.arange(first, first + 500)
        t = pa.table({"id": [f"k{i}" for i in rows],
                      "emb": pa.FixedSizeListArray.from_arrays(pa.array(emb_of(rows).ravel()), DIM),
                      "f": pa.array(rows.astype(np.float32) + np.float32(0.5))})
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, t.schema) as w:
            w.write_table(t)
        r = requests.put(url + "/api/v1/table/v/write", data=sink.getvalue().to_pybytes(),
                         headers={"Content-Type": ARROW})
        assert r.status_code == 200, r.text


def fetch_request(rows, close=False):
    """A fetch of keys k<row> (a negative row: a key that is absent), Arrow answer."""
    keys = [f"k{r}" if r >= 0 else f"absent{-r}" for r in rows]
    body = json.dumps({"keys": keys, "columns": ["emb", "f"]}).encode()
    return (b"POST /api/v1/table/v/fetch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Accept: " + ARROW.encode() + b"\r\n" + (b"Connection: close\r\n" if close else b"") +
            b"Content-Length: %d\r\n\r\n" % len(body) + body)


class SlowReader:
    """Reads a socket `chunk` bytes at a time, pausing `pause` s every `every` reads."""

    def __init__(self, sock, chunk=4096, every=64, pause=0.002):
        self.sock, self.chunk, self.every, self.pause = sock, chunk, every, pause
        self.buf, self.reads = bytearray(), 0

    def fill(self, n):
        while len(self.buf) < n:
            got = self.sock.recv(self.chunk)
            assert got, f"connection closed after {len(self.buf)} of {n} buffered bytes"
            self.buf += got
            self.reads += 1
            if self.reads % self.every == 0:
                time.sleep(self.pause)

    def response(self):
        """One HTTP response: (status, headers dict, body bytes)."""
        while b"\r\n\r\n" not in self.buf:
            self.fill(len(self.buf) + 1)
        end = self.buf.index(b"\r\n\r\n") + 4
        head = bytes(self.buf[:end]).decode()
        lines = head.split("\r\n")
        hdrs = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
        n = int(hdrs["content-length"])
        self.fill(end + n)
        body = bytes(self.buf[end:end + n])
        del self.buf[:end + n]
        return int(lines[0].split()[1]), hdrs, body


def slow_socket(port, rcvbuf=8192):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: the window
    s.settimeout(30)
    s.connect(("127.0.0.1", port))
    return s


def check_answer(status, hdrs, body, rows):
    assert status == 200, body[:300]
    assert hdrs["content-type"] == ARROW
    t = pa.ipc.open_stream(body).read_all()
    assert t.num_rows == len(rows)
    present = [i for i, r in enumerate(rows) if r >= 0]
    absent = [i for i, r in enumerate(rows) if r < 0]
    emb = t.column("emb").combine_chunks()
    assert emb.type == pa.list_(pa.float32(), DIM)
    assert [emb[i].is_valid for i in absent] == [False] * len(absent)
    got = np.stack([np.asarray(emb[i].values, np.float32) for i in present])
    assert got.tobytes() == emb_of([rows[i] for i in present]).tobytes()
    f = t.column("f").to_pylist()
    assert [f[i] for i in present] == [float(np.float32(rows[i]) + np.float32(0.5)) for i in present]
    assert [f[i] for i in absent] == [None] * len(absent)


def test_large_answer_read_slowly_arrives_byte_exact(murr):
    """A 4.6 MB answer (1,500 vectors) through an 8 KiB receive buffer read 4 KiB at a time:
    the server's writes hit a full socket hundreds of times and resume where they stopped."""
    load(murr.url)
    rows = list(range(1999, 499, -1))  # 1,500 rows, in reverse order
    rows[7], rows[900] = -1, -2  # absent keys: null rows in the middle of the vectors
    s = slow_socket(murr.port)
    try:
        s.sendall(fetch_request(rows))
        rd = SlowReader(s)
        status, hdrs, body = rd.response()
        assert int(hdrs["content-length"]) > 1500 * DIM * 4  # the vectors alone are 4.6 MB
        check_answer(status, hdrs, body, rows)
    finally:
        s.close()


def test_pipelined_requests_around_large_answers_in_order(murr):
    """Three fetches and a health check in one send: two large answers (together over the
    8 MiB output high-water mark, so the later requests wait parsed-but-held) with a small
    fetch between them, all read slowly; every answer is exact and in request order, and the
    connection then serves another request."""
    load(murr.url)
    big1 = list(range(0, 1500))
    small = [42, -3, 1999]
    big2 = [(i * 7) % NROWS for i in range(1500)]
    s = slow_socket(murr.port)
    try:
        s.sendall(fetch_request(big1) + fetch_request(small) + fetch_request(big2) +
                  b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        rd = SlowReader(s, chunk=65536, every=8, pause=0.005)
        check_answer(*rd.response(), big1)
        check_answer(*rd.response(), small)
        check_answer(*rd.response(), big2)
        status, _, body = rd.response()
        assert status == 200, body
        s.sendall(fetch_request([5, 6], close=True))
        check_answer(*rd.response(), [5, 6])
        assert s.recv(1) == b""  # Connection: close honoured after the answer
    finally:
        s.close()


def test_answer_larger_than_the_output_budget_still_arrives(murr_factory):
    """An output budget of 1 MiB, a 4.6 MB answer and a client that keeps reading slowly:
    the answer is over the budget from the start, but a client that reads is never cut off
    (only one that reads nothing for output_stall_ms is), and every byte is right."""
    m = murr_factory(extra_env={"MURR_SERVER_OUTPUT_BUDGET_BYTES": str(1 << 20), "MURR_SERVER_OUTPUT_STALL_MS": "2000"})
    load(m.url)
    rows = list(range(300, 1800))
    s = slow_socket(m.port)
    try:
        s.sendall(fetch_request(rows) + fetch_request(rows[:10]))
        rd = SlowReader(s, chunk=8192, every=32, pause=0.01)
        check_answer(*rd.response(), rows)
        check_answer(*rd.response(), rows[:10])
    finally:
        s.close()


def test_flight_large_answer_byte_exact(murr):
    """The same 1,500 vectors by Flight DoGet (pyarrow's gRPC client): the answer spans
    several FlightData messages and HTTP/2 DATA frames and decodes to the written values."""
    load(murr.url)
    rows = list(range(250, 1750))
    c = fl.FlightClient(f"grpc://127.0.0.1:{murr.grpc_port}")
    try:
        tkt = fl.Ticket(json.dumps({"table": "v", "keys": [f"k{r}" for r in rows], "columns": ["emb", "f"]}).encode())
        t = c.do_get(tkt).read_all()
        emb = t.column("emb").combine_chunks()
        assert t.num_rows == len(rows)
        assert np.asarray(emb.flatten(), np.float32).tobytes() == emb_of(rows).tobytes()
        assert t.column("f").to_pylist() == [float(np.float32(r) + np.float32(0.5)) for r in rows]
    finally:
        c.close()
