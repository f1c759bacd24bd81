"""Hostile and odd inputs over real sockets: each is answered correctly (or the connection
closed) while the server keeps serving other connections. Also the wire usage of murr's
Python client (reference section 8.1): create with its JSON, one Arrow batch per write,
JSON fetch request with Arrow Accept decoded by pa.ipc.open_stream."""
import io
import json
import socket
import time

import pyarrow as pa
import requests

from test_http_api import ARROW, SCHEMA, create, fetch


def send(murr, data, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", murr.port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        pass
    s.close()
    return out


def still_serving(murr):
    assert requests.get(murr.url + "/health", timeout=5).text == "OK"


def test_malformed_request_lines(murr):
    for line in (b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"\x00\x01\x02\r\n\r\n",
                 b"GET /health HTTP/1.1\r\nHost x\r\n\r\n", b"G\xffT /health HTTP/1.1\r\n\r\n"):
        out = send(murr, line)
        want = b"HTTP/1.1 505" if b"9.9" in line else b"HTTP/1.1 400"
        assert out.startswith(want) or out == b"", (line, out[:80])
        still_serving(murr)


def test_endless_headers_and_truncated_bodies(murr):
    create(murr.url)
    s = socket.create_connection(("127.0.0.1", murr.port), timeout=5)
    s.sendall(b"GET /health HTTP/1.1\r\n")
    for _ in range(2000):
        try:
            s.sendall(b"X-Header: " + b"v" * 60 + b"\r\n")
        except OSError:
            break
    try:
        out = s.recv(1024)
    except OSError:
        out = b""
    s.close()
    assert out.startswith(b"HTTP/1.1 431") or out == b""
    still_serving(murr)
    # a body shorter than its Content-Length, then the client goes away
    s = socket.create_connection(("127.0.0.1", murr.port), timeout=5)
    s.sendall(b"PUT /api/v1/table/features/write HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
              b"\r\n{\"columns\":")
    s.close()
    still_serving(murr)
    # a body longer than its Content-Length: the rest is the next (garbage) request
    body = json.dumps({"columns": {"id": ["x"], "score": [1]}}).encode()
    out = send(murr, b"PUT /api/v1/table/features/write HTTP/1.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body + b"TRAILING GARBAGE\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200"), out[:100]
    assert b"HTTP/1.1 400" in out
    assert fetch(murr.url, ["x"], ["score"]).json()["columns"]["score"] == [1.0]


def test_slow_client_does_not_block_others(murr):
    s = socket.create_connection(("127.0.0.1", murr.port), timeout=5)
    for b in b"GET /health HTTP/1.1\r\n":
        s.sendall(bytes([b]))
        still_serving(murr) if b == ord("/") else None
    s.sendall(b"\r\n")
    assert s.recv(1024).startswith(b"HTTP/1.1 200")
    s.close()


def test_invalid_json_and_wrong_types(murr):
    create(murr.url)
    u = murr.url + "/api/v1/table/features/fetch"
    for body, status in ((b"{", 400), (b"[]", 422), (b'{"keys":"a","columns":["score"]}', 422),
                         (b'{"keys":[null],"columns":["score"]}', 422), (b'{"keys":[],"columns":[1]}', 422),
                         (b'\xff\xfe', 400), (b"", 400), (b'{"keys":[],"columns":["score"]} extra', 400)):
        r = requests.post(u, data=body, headers={"Content-Type": "application/json"})
        assert r.status_code == status, (body, r.status_code, r.text)
        assert r.json()["error"]
    w = murr.url + "/api/v1/table/features/write"
    for body in (b"{", b'{"columns":[]}', b'{"columns":{"id":"a","score":[1]}}', b'{"columns":{"id":[1],"score":[1]}}',
                 b'{"columns":{"id":["a"],"score":["x"]}}', b'{"columns":{"id":["a"],"score":[true]}}'):
        r = requests.put(w, data=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (body, r.status_code, r.text)
        assert r.json()["error"].startswith("Table error"), r.text
    still_serving(murr)


def test_garbage_arrow_bytes(murr):
    create(murr.url)
    good = io.BytesIO()
    t = pa.table({"id": ["a", "b"], "score": pa.array([1.0, 2.0], pa.float32())})
    with pa.ipc.new_stream(good, t.schema) as wr:
        wr.write_table(t)
    data = good.getvalue()
    for bad in (b"", b"\xff\xff\xff\xff", data[:len(data) // 2], data[:-20], b"PAR1" * 100,
                bytes(range(256)) * 4):
        r = requests.put(murr.url + "/api/v1/table/features/write", data=bad, headers={"Content-Type": ARROW})
        assert r.status_code == 400, (len(bad), r.status_code, r.text)
        assert r.json()["error"]
    assert fetch(murr.url, ["a"], ["score"]).json()["columns"]["score"] == [None]
    still_serving(murr)


def test_ten_thousand_keys_of_10kb(murr):
    create(murr.url)
    keys = [("k%05d" % i) + "x" * (10240 - 6) for i in range(10000)]  # ~100 MB of keys
    some = keys[::1000]
    w = requests.put(murr.url + "/api/v1/table/features/write",
                     json={"columns": {"id": some, "score": list(range(len(some)))}})
    assert w.status_code == 200, w.text
    r = fetch(murr.url, keys, ["score"], arrow=True)
    assert r.status_code == 200
    got = pa.ipc.open_stream(r.content).read_all()["score"].to_pylist()
    assert len(got) == 10000
    assert [got[i] for i in range(0, 10000, 1000)] == [float(i) for i in range(10)]
    assert got[1] is None
    still_serving(murr)


def test_python_client_wire_usage(murr):
    """What murr-python (generation A/B) sends: pydantic schema JSON, one Arrow batch per
    write (a pa.Table split with to_batches), JSON fetch with Accept arrow, first batch read."""
    schema = {"key": "id", "columns": {"id": {"dtype": "utf8", "nullable": True}, "score": {"dtype": "float32",
                                                                                            "nullable": True}}}
    r = requests.put(murr.url + "/api/v1/table/pyclient", data=json.dumps(schema),
                     headers={"Content-Type": "application/json"})
    assert r.status_code == 201
    table = pa.table({"id": ["a", "b", "c"], "score": pa.array([1.0, 2.0, 3.0], pa.float32())})
    for batch in table.to_batches(max_chunksize=2):
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, batch.schema) as w:
            w.write_batch(batch)
        r = requests.put(murr.url + "/api/v1/table/pyclient/write", data=sink.getvalue(),
                         headers={"Content-Type": ARROW})
        assert r.status_code == 200, r.text
    r = requests.post(murr.url + "/api/v1/table/pyclient/fetch", json={"keys": ["c", "a"], "columns": ["score"]},
                      headers={"Accept": ARROW})
    batch = pa.ipc.open_stream(r.content).read_next_batch()
    assert batch.column(0).to_pylist() == [3.0, 1.0]
    assert requests.get(murr.url + "/api/v1/table/pyclient/schema").json() == schema
    lst = requests.get(murr.url + "/api/v1/table").json()
    assert lst["pyclient"] == schema
    # error mapping the client relies on: 404 -> FileNotFoundError, 409 -> ValueError
    assert requests.post(murr.url + "/api/v1/table/nope/fetch", json={"keys": [], "columns": ["x"]}).status_code == 404
    assert requests.put(murr.url + "/api/v1/table/pyclient", json=schema).status_code == 409


def test_transfer_codings_and_huge_chunks(murr):
    create(murr.url)
    url_path = "/api/v1/table/features/write"
    body = json.dumps({"columns": {"id": ["a"], "score": [1.0]}}).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    head = (f"PUT {url_path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n").encode()
    # a coding the server does not implement is refused (501), not ignored
    t0 = time.time()
    out = send(murr, head + b"Transfer-Encoding: gzip, chunked\r\n\r\n" + chunked)
    assert out.startswith(b"HTTP/1.1 501"), out[:200]
    assert b"Transfer-Encoding `gzip, chunked` is not supported" in out, out
    # the same list split over two headers is one list
    out = send(murr, head + b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
    assert out.startswith(b"HTTP/1.1 501") and b"`gzip,chunked`" in out, out[:300]
    # chunked alone (any case) is fine
    out = send(murr, head + b"Transfer-Encoding: Chunked\r\nConnection: close\r\n\r\n" + chunked)
    assert out.startswith(b"HTTP/1.1 200"), out[:300]
    # a chunk declaring 2^63 bytes is refused at its header, not held open for its bytes
    t0 = time.time()
    out = send(murr, head + b"Transfer-Encoding: chunked\r\n\r\n8000000000000000\r\nabc", timeout=10)
    assert out.startswith(b"HTTP/1.1 413"), out[:200]
    assert b"max_payload_size" in out
    assert time.time() - t0 < 5, "the 413 waited for the chunk's bytes"
    still_serving(murr)


def test_write_content_types(murr):
    create(murr.url)
    url = murr.url + "/api/v1/table/features/write"
    body = json.dumps({"columns": {"id": ["a"], "score": [1.0]}})
    for ctype in ("text/plain", "application/xml", "application/x-www-form-urlencoded"):
        r = requests.put(url, data=body, headers={"Content-Type": ctype})
        assert r.status_code == 415, (ctype, r.status_code, r.text)
        assert f"got `{ctype}`" in r.json()["error"]
    # nothing landed
    got = requests.post(murr.url + "/api/v1/table/features/fetch", json={"keys": ["a"], "columns": ["score"]})
    assert got.json() == {"columns": {"score": [None]}}
    # absent (0.2.1's rule) and JSON types are JSON
    s = socket.create_connection(("127.0.0.1", murr.port), timeout=5)
    s.sendall(b"PUT /api/v1/table/features/write HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body.encode()))
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    s.close()
    assert out.startswith(b"HTTP/1.1 200"), out[:200]
    r = requests.put(url, data=body, headers={"Content-Type": "application/vnd.murr+json; charset=utf-8"})
    assert r.status_code == 200, r.text
    got = requests.post(murr.url + "/api/v1/table/features/fetch", json={"keys": ["a"], "columns": ["score"]})
    assert got.json() == {"columns": {"score": [1.0]}}


def test_json_numbers_out_of_range_are_refused(murr):
    """JSON has no infinities: a number beyond the column's range is a 400 naming the column, the
    row and the value, not an infinity stored; the largest finite values are stored exactly."""
    schema = {"key": "id", "columns": {"id": {"dtype": "utf8", "nullable": False},
                                       "f32": {"dtype": "float32", "nullable": True},
                                       "f64": {"dtype": "float64", "nullable": True}}}
    assert create(murr.url, "ranges", schema).status_code in (200, 201)
    url = murr.url + "/api/v1/table/ranges/write"
    cases = (("f32", "3.5e38", "float32 (largest 3.4028235e38)"), ("f32", "-1e39", "float32 (largest 3.4028235e38)"),
             ("f64", "1e400", "float64 (largest 1.7976931348623157e308)"),
             ("f64", "-2e308", "float64 (largest 1.7976931348623157e308)"))
    for col, value, limit in cases:
        other = "f64" if col == "f32" else "f32"
        body = '{"columns": {"id": ["a", "b"], "%s": [1.5, %s], "%s": [1, 2]}}' % (col, value, other)
        r = requests.put(url, data=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (col, value, r.status_code, r.text)
        msg = r.json()["error"]
        assert f"column '{col}'" in msg and "row 1" in msg and f"`{value}`" in msg and limit in msg, msg
    # nothing of the refused writes landed
    got = fetch(murr.url, ["a", "b"], ["f32", "f64"], name="ranges").json()
    assert got == {"columns": {"f32": [None, None], "f64": [None, None]}}, got
    # the largest finite values are in range and come back exactly
    body = '{"columns": {"id": ["a"], "f32": [3.4028235e38], "f64": [1.7976931348623157e308]}}'
    r = requests.put(url, data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    got = fetch(murr.url, ["a"], ["f32", "f64"], name="ranges", arrow=True)
    t = pa.ipc.open_stream(got.content).read_all()
    assert t.column("f32").to_pylist() == [float(pa.array([3.4028235e38], pa.float32())[0].as_py())]
    assert t.column("f64").to_pylist() == [1.7976931348623157e308]
