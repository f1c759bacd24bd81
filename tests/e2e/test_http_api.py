"""HTTP API end to end against the real binary: the reference's tests (sections 6.1, 6.2,
6.4), every route and status code, and the protocol edge cases (keep-alive, pipelining,
100-continue, chunked bodies, limits, timeouts)."""
import io
import json
import math
import random
import signal
import socket
import subprocess
import threading
import time

import pyarrow as pa
import pytest
import requests

ARROW = "application/vnd.apache.arrow.stream"
SCHEMA = {"key": "id", "columns": {"id": {"dtype": "utf8", "nullable": False},
                                   "score": {"dtype": "float32", "nullable": True}}}


def create(url, name="features", schema=SCHEMA):
    return requests.put(f"{url}/api/v1/table/{name}", json=schema)


def fetch(url, keys, columns, name="features", arrow=False):
    headers = {"Accept": ARROW} if arrow else {}
    return requests.post(f"{url}/api/v1/table/{name}/fetch", json={"keys": keys, "columns": columns},
                         headers=headers)


def arrow_bytes(table_or_batches, schema=None):
    sink = io.BytesIO()
    if isinstance(table_or_batches, pa.Table):
        schema, batches = table_or_batches.schema, table_or_batches.to_batches()
    else:
        batches = table_or_batches
    with pa.ipc.new_stream(sink, schema) as w:
        for b in batches:
            w.write_batch(b)
    return sink.getvalue()


def write_arrow(url, data, name="features"):
    return requests.put(f"{url}/api/v1/table/{name}/write", data=data, headers={"Content-Type": ARROW})


# ---- reference 6.1 ----------------------------------------------------------------------

def test_openapi(murr):
    r = requests.get(murr.url + "/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"] == "3.1.0"
    assert "/health" in doc["paths"] and "/api/v1/table/{name}/fetch" in doc["paths"]


def test_health(murr):
    r = requests.get(murr.url + "/health")
    assert r.status_code == 200 and r.text == "OK"
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    h = requests.head(murr.url + "/health")
    assert h.status_code == 200 and h.text == "" and h.headers["Content-Length"] == "2"


def test_get_nonexistent_table(murr):
    r = requests.get(murr.url + "/api/v1/table/nope/schema")
    assert r.status_code == 404
    assert r.json() == {"error": "table not found: nope"}


def test_create_duplicate_table(murr):
    assert create(murr.url).status_code == 201
    r = create(murr.url)
    assert r.status_code == 409
    assert r.json() == {"error": "table already exists: features"}


def test_list_and_get_table(murr):
    create(murr.url)
    tables = requests.get(murr.url + "/api/v1/table").json()
    assert tables["features"]["key"] == "id"
    s = requests.get(murr.url + "/api/v1/table/features/schema").json()
    assert s == SCHEMA


def test_full_round_trip(murr):
    create(murr.url)
    assert requests.put(murr.url + "/api/v1/table/features/write",
                        json={"columns": {"id": ["a", "b"], "score": [1.0, 2.0]}}).status_code == 200
    t = pa.table({"id": ["c"], "score": pa.array([3.0], pa.float32())})
    assert write_arrow(murr.url, arrow_bytes(t)).status_code == 200
    assert fetch(murr.url, ["a", "b", "c"], ["score"]).json() == {"columns": {"score": [1.0, 2.0, 3.0]}}
    r = fetch(murr.url, ["a", "b", "c"], ["score"], arrow=True)
    assert r.headers["Content-Type"] == ARROW
    batch = pa.ipc.open_stream(r.content).read_next_batch()
    assert batch.num_rows == 3
    assert batch.column(0).type == pa.float32()
    assert batch.column(0).to_pylist() == [1.0, 2.0, 3.0]


# ---- reference 6.2 (anime-like dataset, synthetic) ---------------------------------------

@pytest.fixture
def anime(murr):
    rnd = random.Random(7)
    n = 3000
    floats = [f"f{i}" for i in range(6)]
    schema = {"key": "anime_id", "columns": {"anime_id": {"dtype": "utf8", "nullable": False},
                                             "Genres": {"dtype": "utf8", "nullable": True},
                                             **{f: {"dtype": "float32", "nullable": True} for f in floats}}}
    assert create(murr.url, "anime", schema).status_code == 201
    keys = sorted(str(rnd.randrange(10**9)) for _ in range(n))
    keys = sorted(set(keys))
    cols = {"anime_id": keys,
            "Genres": [None if rnd.random() < 0.1 else ",".join(rnd.sample(["Action", "Drama", "Comedy", "Ümlaut"], 2))
                       for _ in keys]}
    for f in floats:
        cols[f] = [None if rnd.random() < 0.15 else rnd.uniform(-1e3, 1e3) for _ in keys]
    t = pa.table({"anime_id": cols["anime_id"], "Genres": cols["Genres"],
                  **{f: pa.array(cols[f], pa.float32()) for f in floats}})
    r = write_arrow(murr.url, arrow_bytes(t), "anime")
    assert r.status_code == 200, r.text
    expected = t.to_pydict()
    return murr, keys, expected, ["Genres", *floats]


def test_all_rows_all_columns(anime):
    murr, keys, expected, cols = anime
    got = fetch(murr.url, keys, cols, "anime").json()["columns"]
    for c in cols:
        assert len(got[c]) == len(keys)
        for g, e in zip(got[c], expected[c]):
            if e is None:
                assert g is None
            elif isinstance(e, str):
                assert g == e
            else:
                assert abs(g - e) <= 1e-6 * max(1.0, abs(e))


def test_arrow_all_rows_exact(anime):
    murr, keys, expected, cols = anime
    r = fetch(murr.url, keys, cols, "anime", arrow=True)
    t = pa.ipc.open_stream(r.content).read_all()
    assert t.column_names == cols
    for c in cols:
        assert t[c].to_pylist() == expected[c]


def test_single_row_single_column_and_missing(anime):
    murr, keys, expected, cols = anime
    got = fetch(murr.url, [keys[5]], ["f2"], "anime").json()["columns"]["f2"]
    assert len(got) == 1
    mixed = keys[:5] + [f"nonexistent_{i}" for i in range(5)]
    got = fetch(murr.url, mixed, ["f0"], "anime").json()["columns"]["f0"]
    assert got[5:] == [None] * 5
    assert [g is None for g in got[:5]] == [e is None for e in expected["f0"][:5]]


# ---- reference 6.4 and semantics ----------------------------------------------------------

def test_request_order_duplicates_and_upsert(murr):
    create(murr.url)
    requests.put(murr.url + "/api/v1/table/features/write",
                 json={"columns": {"id": ["a", "b", "c", "a"], "score": [1, 2, 3, 9]}})
    assert fetch(murr.url, ["c", "a", "a", "x"], ["score"]).json()["columns"]["score"] == [3.0, 9.0, 9.0, None]
    requests.put(murr.url + "/api/v1/table/features/write", json={"columns": {"id": ["b"], "score": [None]}})
    assert fetch(murr.url, ["b"], ["score"]).json()["columns"]["score"] == [None]


def test_key_and_unknown_columns_refused(murr):
    create(murr.url)
    r = fetch(murr.url, ["a"], ["id"])
    assert r.status_code == 400 and r.json()["error"] == "Segment error: column 'id' not found"
    r = fetch(murr.url, ["a"], ["nope"])
    assert r.status_code == 400 and "column 'nope' not found" in r.json()["error"]
    r = fetch(murr.url, ["a"], [])
    assert r.status_code == 400 and "no columns requested" in r.json()["error"]
    r = fetch(murr.url, [], ["score"])
    assert r.status_code == 200 and r.json() == {"columns": {"score": []}}
    r = fetch(murr.url, [], ["score"], arrow=True)
    t = pa.ipc.open_stream(r.content).read_all()
    assert t.num_rows == 0 and t.schema.field("score").type == pa.float32()


def test_float32_prints_as_float32(murr):
    create(murr.url)
    requests.put(murr.url + "/api/v1/table/features/write", json={"columns": {"id": ["a"], "score": [0.95]}})
    r = fetch(murr.url, ["a"], ["score"])
    assert r.text == '{"columns":{"score":[0.95]}}'


def test_create_errors(murr):
    u = murr.url + "/api/v1/table/t"
    r = requests.put(u, data=json.dumps(SCHEMA), headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and "Content-Type: application/json" in r.json()["error"]
    r = requests.put(u, data="{bad", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"].startswith("Failed to parse the request body as JSON")
    r = requests.put(u, json={"key": "id", "columns": {"id": {"dtype": "float16"}}})
    assert r.status_code == 422 and "unknown dtype 'float16'" in r.json()["error"]
    r = requests.put(u, json={"key": "id", "columns": {"x": {"dtype": "utf8"}}})
    assert r.status_code == 400 and r.json()["error"] == "Table error: key column 'id' not in schema"
    # a refused schema does not poison the name
    assert requests.put(u, json=SCHEMA).status_code == 201
    r = requests.put(murr.url + "/api/v1/table/bad%2Fname", json=SCHEMA)
    assert r.status_code == 400 and "[A-Za-z0-9_.-]" in r.json()["error"]
    r = requests.put(murr.url + "/api/v1/table/.hidden", json=SCHEMA)
    assert r.status_code == 400
    r = requests.put(murr.url + "/api/v1/table/vendor+json", data=json.dumps(SCHEMA),
                     headers={"Content-Type": "application/vnd.murr+json; charset=utf-8"})
    assert r.status_code == 400  # '+' is not allowed in a name; the content type itself was accepted


def test_write_errors(murr):
    create(murr.url)
    w = murr.url + "/api/v1/table/features/write"
    r = requests.put(w, json={"columns": {"id": ["a"]}})
    assert r.status_code == 400 and r.json()["error"] == "Table error: missing column 'score' in write payload"
    r = requests.put(w, json={"columns": {"id": [None], "score": [1]}})
    assert r.status_code == 400 and "null in key column 'id' at row 0" in r.json()["error"]
    r = requests.put(w, json={"columns": {"id": ["a", "b"], "score": [1]}})
    assert r.status_code == 400 and "has 1 values but column 'id' has 2" in r.json()["error"]
    r = requests.put(w, data="{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"].startswith("Table error: invalid JSON")
    r = requests.put(murr.url + "/api/v1/table/nope/write", json={"columns": {}})
    assert r.status_code == 404
    # Arrow: wrong type, lossy cast named, garbage bytes, missing column
    t = pa.table({"id": ["a"], "score": pa.array([1.0], pa.float64())})
    r = write_arrow(murr.url, arrow_bytes(t))
    assert r.status_code == 400 and "expected float32, got float64" in r.json()["error"]
    assert "cast the column to float32" in r.json()["error"]
    r = write_arrow(murr.url, b"\x00garbage bytes that are not arrow")
    assert r.status_code == 400 and r.json()["error"]
    t = pa.table({"id": ["a"]})
    r = write_arrow(murr.url, arrow_bytes(t))
    assert r.status_code == 400 and "missing column 'score'" in r.json()["error"]
    t = pa.table({"id": pa.array(["a", None]), "score": pa.array([1.0, 2.0], pa.float32())})
    r = write_arrow(murr.url, arrow_bytes(t))
    assert r.status_code == 400 and "row 1" in r.json()["error"]
    # nothing of the refused batches landed
    assert fetch(murr.url, ["a"], ["score"]).json()["columns"]["score"] == [None]
    r = requests.put(w, data=b"PAR1", headers={"Content-Type": "application/vnd.apache.parquet"})
    assert r.status_code == 400 and r.json()["error"].startswith("Table error: invalid Parquet: not a Parquet file")


def test_arrow_write_widening_multibatch_and_extra_columns(murr):
    schema = {"key": "id", "columns": {"id": {"dtype": "utf8", "nullable": False}, "n": {"dtype": "int64"},
                                       "x": {"dtype": "float64"}}}
    create(murr.url, "w", schema)
    batches = [pa.record_batch({"extra": pa.array([1, 2], pa.int8()), "x": pa.array([0.5, 1.5], pa.float32()),
                                "n": pa.array([-1, 2], pa.int8()), "id": pa.array(["a", "b"], pa.large_string())}),
               pa.record_batch({"extra": pa.array([3], pa.int8()), "x": pa.array([2.5], pa.float32()),
                                "n": pa.array([3], pa.int8()), "id": pa.array(["a"], pa.large_string())})]
    r = write_arrow(murr.url, arrow_bytes(batches, batches[0].schema), "w")
    assert r.status_code == 200, r.text
    got = fetch(murr.url, ["a", "b"], ["n", "x"], "w").json()["columns"]
    assert got == {"n": [3, 2], "x": [2.5, 1.5]}


def test_drop_and_compact(murr):
    create(murr.url)
    requests.put(murr.url + "/api/v1/table/features/write", json={"columns": {"id": ["a"], "score": [1]}})
    assert requests.post(murr.url + "/api/v1/table/features/compact").status_code == 200
    assert fetch(murr.url, ["a"], ["score"]).json()["columns"]["score"] == [1.0]
    assert requests.post(murr.url + "/api/v1/table/nope/compact").status_code == 404
    r = requests.delete(murr.url + "/api/v1/table/features")
    assert r.status_code == 204 and r.content == b"" and "Content-Length" not in r.headers  # as murr 0.3.1
    assert requests.delete(murr.url + "/api/v1/table/features").status_code == 404
    assert requests.get(murr.url + "/api/v1/table/features/schema").status_code == 404
    assert create(murr.url).status_code == 201
    assert fetch(murr.url, ["a"], ["score"]).json()["columns"]["score"] == [None]


def test_unknown_path_and_wrong_method(murr):
    r = requests.get(murr.url + "/api/v1/table/")
    assert r.status_code == 404 and "error" in r.json()
    r = requests.get(murr.url + "/nope")
    assert r.status_code == 404
    r = requests.get(murr.url + "/api/v1/table/x/fetch")
    assert r.status_code == 405 and r.headers["Allow"] == "POST" and "error" in r.json()
    r = requests.post(murr.url + "/api/v1/table/x")
    assert r.status_code == 405 and r.headers["Allow"] == "PUT, DELETE"
    r = fetch(murr.url, ["a"], ["score"], name="missing")
    assert r.status_code == 404
    r = requests.post(murr.url + "/api/v1/table/x/fetch", data="{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = requests.post(murr.url + "/api/v1/table/x/fetch", json={"keys": [True], "columns": ["a"]})
    assert r.status_code == 422 and "keys[0]" in r.json()["error"]


def test_metrics(murr):
    create(murr.url)
    fetch(murr.url, ["a"], ["score"])
    fetch(murr.url, ["a"], ["nope"])
    text = requests.get(murr.url + "/metrics").text
    assert 'murr_http_requests_total{route="fetch",status="200"} 1' in text
    assert 'murr_http_requests_total{route="fetch",status="400"} 1' in text
    assert 'murr_http_request_duration_seconds_count{route="create_table",status="201"} 1' in text
    assert 'murr_table_rows{table="features"} 0' in text
    assert "murr_memory_bytes " in text


# ---- protocol edge cases -------------------------------------------------------------------

def raw(murr, data, timeout=5.0, read_until_close=True):
    s = socket.create_connection(("127.0.0.1", murr.port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            if not read_until_close:
                break
    except socket.timeout:
        pass
    s.close()
    return out


def test_keep_alive_and_pipelining(murr):
    create(murr.url)
    req = (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /api/v1/table/features/schema HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    out = raw(murr, req)
    assert out.count(b"HTTP/1.1 200 OK") == 3
    first, second = out.index(b"OK\r\n"), out.index(b'"key":"id"')
    assert first < second
    with requests.Session() as s:  # one connection, many requests
        for _ in range(20):
            assert s.get(murr.url + "/health").status_code == 200


def test_expect_100_continue_before_body(murr):
    create(murr.url)
    body = json.dumps({"columns": {"id": ["z"], "score": [5]}}).encode()
    s = socket.create_connection(("127.0.0.1", murr.port), timeout=5)
    s.sendall(b"PUT /api/v1/table/features/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
    interim = s.recv(1024)
    assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    s.sendall(body)
    final = s.recv(1024)
    assert final.startswith(b"HTTP/1.1 200 OK")
    s.close()
    # and curl, which waits for the 100 before sending
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "-H",
                        "Content-Type: application/json", "-H", "Expect: 100-continue", "--data-binary", body,
                        murr.url + "/api/v1/table/features/write"], capture_output=True, text=True, timeout=20)
    assert r.stdout == "200"


def test_chunked_body(murr):
    create(murr.url)
    body = json.dumps({"columns": {"id": ["c1", "c2"], "score": [1, 2]}}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7]) for i in range(0, len(body), 7))
    out = raw(murr, b"PUT /api/v1/table/features/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks + b"0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 OK"), out
    assert fetch(murr.url, ["c2"], ["score"]).json()["columns"]["score"] == [2.0]


def test_413_before_body_is_sent(murr_factory):
    s = murr_factory(extra_env={"MURR_SERVER_HTTP_MAX_PAYLOAD_SIZE": "1000"})
    out = raw(s, b"PUT /api/v1/table/features/write HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000000\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 413 "), out
    assert b"max_payload_size (1000 bytes)" in out
    # chunked: refused once the running total passes the limit
    out = raw(s, b"PUT /api/v1/table/features/write HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 + b"400\r\n" + b"x" * 1024 + b"\r\n")
    assert out.startswith(b"HTTP/1.1 413 "), out


def test_431_oversized_headers(murr):
    out = raw(murr, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 431 "), out[:100]


def test_idle_and_header_timeouts(murr_factory):
    s = murr_factory(extra_env={"MURR_SERVER_HTTP_IDLE_TIMEOUT_MS": "300", "MURR_SERVER_HTTP_HEADER_TIMEOUT_MS": "300"})
    c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert c.recv(1024).startswith(b"HTTP/1.1 200")
    assert c.recv(1024) == b""  # closed by the idle timeout
    c.close()
    slow = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # headers never finish
    assert slow.recv(1024).startswith(b"HTTP/1.1 408")
    slow.close()


def test_connection_cap(murr_factory, tmp_path):
    s = murr_factory(tmp_path / "cap", extra_env={"MURR_SERVER_HTTP_MAX_CONNECTIONS": "3"})
    held = []
    for _ in range(3):  # each held connection is surely accepted: it got an answer
        h = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        h.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert h.recv(1024).startswith(b"HTTP/1.1 200")
        held.append(h)
    extra = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    out = extra.recv(1024)
    assert out.startswith(b"HTTP/1.1 503") and b"connection limit reached (3)" in out, out
    extra.close()
    held.pop().close()
    time.sleep(0.3)
    assert requests.get(s.url + "/health").status_code == 200  # a freed slot is usable again
    for h in held:
        h.close()


def test_slow_upload_does_not_block_fetch(murr):
    create(murr.url)
    requests.put(murr.url + "/api/v1/table/features/write", json={"columns": {"id": ["a"], "score": [1]}})
    up = socket.create_connection(("127.0.0.1", murr.port), timeout=10)
    up.sendall(b"PUT /api/v1/table/features/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: 100000\r\n\r\n" + b" " * 1000)
    t0 = time.time()
    for _ in range(20):
        assert fetch(murr.url, ["a"], ["score"]).json()["columns"]["score"] == [1.0]
    assert time.time() - t0 < 10  # served while the upload is open (no timing claim, just not stuck)
    up.close()


def test_sigterm_finishes_in_flight_request(murr_factory, tmp_path):
    s = murr_factory(tmp_path / "sig")
    create(s.url)
    body = json.dumps({"columns": {"id": [f"k{i}" for i in range(20000)], "score": list(range(20000))}}).encode()
    c = socket.create_connection(("127.0.0.1", s.port), timeout=20)
    c.sendall(b"PUT /api/v1/table/features/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body[:100])
    time.sleep(0.2)
    s.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    # stopped accepting, but the request whose body is still arriving is served
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", s.port), timeout=2).close()
    assert s.proc.poll() is None
    c.sendall(body[100:])
    resp = b""
    while b"\r\n\r\n" not in resp:
        chunk = c.recv(4096)
        if not chunk:
            break
        resp += chunk
    c.close()
    assert resp.startswith(b"HTTP/1.1 200"), resp
    assert b"Connection: close" in resp
    assert s.proc.wait(20) == 0
    again = murr_factory(tmp_path / "sig")  # the acknowledged write is durable
    assert fetch(again.url, ["k0", "k19999"], ["score"]).json()["columns"]["score"] == [0.0, 19999.0]


def test_stalled_body_gets_408(murr_factory):
    s = murr_factory(extra_env={"MURR_SERVER_HTTP_IDLE_TIMEOUT_MS": "400"})
    c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    c.sendall(b"PUT /api/v1/table/features/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 1000\r\n\r\n{\"columns\"")
    out = c.recv(4096)
    assert out.startswith(b"HTTP/1.1 408 "), out
    assert b"stalled" in out
    assert c.recv(4096) == b""
    c.close()


def test_pipelined_requests_behind_a_write_answered_in_order(murr):
    create(murr.url)
    body = json.dumps({"columns": {"id": ["p1", "p2"], "score": [7, 8]}}).encode()
    fetch_body = json.dumps({"keys": ["p2", "p1"], "columns": ["score"]}).encode()
    req = (b"PUT /api/v1/table/features/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n%s" % (len(body), body) +
           b"POST /api/v1/table/features/fetch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n%s" % (len(fetch_body), fetch_body) +
           b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    out = raw(murr, req)
    parts = out.split(b"HTTP/1.1 ")[1:]
    assert [p[:3] for p in parts] == [b"200", b"200", b"200"], out
    assert b'"score":[8.0,7.0]' in parts[1], parts[1]  # read-your-writes on the same connection
    assert parts[2].endswith(b"OK")


# ---- the OpenAPI document stays true ---------------------------------------------------------

SERVED = {  # path -> method -> statuses this suite exercises
    "/health": {"get": {200}},
    "/openapi.json": {"get": {200}},
    "/metrics": {"get": {200}},
    "/api/v1/table": {"get": {200}},
    "/api/v1/table/{name}": {"put": {201, 400, 409, 415, 422}, "delete": {204, 404}},
    "/api/v1/table/{name}/schema": {"get": {200, 404}},
    "/api/v1/table/{name}/compact": {"post": {200, 404}},
    "/api/v1/table/{name}/fetch": {"post": {200, 400, 404, 415, 422}},
    "/api/v1/table/{name}/write": {"put": {200, 400, 404, 413, 415}},
    "/api/v1/table/{name}/versions": {"get": {200, 404}},  # test_versions.py
    "/api/v1/table/{name}/rollback": {"post": {200, 400, 404, 409, 415, 422}},
    "/api/v1/table/{name}/source": {"get": {200, 404}, "put": {200, 400}, "delete": {204, 404}},
    "/api/v1/table/{name}/refresh": {"post": {202, 404}},
}


def test_openapi_documents_every_route_method_and_status(murr):
    doc = requests.get(murr.url + "/openapi.json").json()
    assert set(doc["paths"]) == set(SERVED), "documented paths differ from served paths"
    for path, methods in SERVED.items():
        ops = {m for m in doc["paths"][path] if m in ("get", "put", "post", "delete", "head", "patch")}
        assert ops == set(methods), (path, ops)
        for method, statuses in methods.items():
            documented = {int(s) for s in doc["paths"][path][method]["responses"]}
            assert statuses <= documented, (path, method, statuses - documented)
    # and every documented operation really exists on the server (not a 404/405 for that method)
    for path, methods in SERVED.items():
        url = murr.url + path.replace("{name}", "openapi_probe")
        for method in methods:
            r = requests.request(method.upper(), url, data=b"{}", headers={"Content-Type": "application/json"})
            assert r.status_code not in (405,), (method, path, r.status_code)


@pytest.mark.parametrize("nfloat,nstr", [(60, 20), (700, 0)])
def test_wide_arrow_fetch_sends_every_buffer(murr, nfloat, nstr):
    # more buffers than fit inline in an output chunk (64), and more than IOV_MAX (1024)
    cols = {"id": {"dtype": "utf8", "nullable": False}}
    cols.update({f"c{i}": {"dtype": "float32"} for i in range(nfloat)})
    cols.update({f"s{i}": {"dtype": "utf8"} for i in range(nstr)})
    assert create(murr.url, "wide", {"key": "id", "columns": cols}).status_code == 201
    body = {"columns": {k: (["k0", "k1"] if k == "id" or k.startswith("s") else [1.5, None]) for k in cols}}
    assert requests.put(murr.url + "/api/v1/table/wide/write", json=body).status_code == 200
    names = [k for k in cols if k != "id"]
    r = requests.post(murr.url + "/api/v1/table/wide/fetch", json={"keys": ["k1", "zz", "k0"], "columns": names},
                      headers={"Accept": ARROW}, timeout=10)
    assert r.status_code == 200
    t = pa.ipc.open_stream(io.BytesIO(r.content)).read_all()
    assert t.column_names == names and t.num_rows == 3
    assert t.column(f"c{nfloat - 1}").to_pylist() == [None, None, 1.5]
    if nstr:
        assert t.column(f"s{nstr - 1}").to_pylist() == ["k1", None, "k0"]


def test_many_pipelined_requests_read_while_sending(murr):
    # The client reads as fast as it can from the start, so loopback socket buffers grow to
    # tens of MB and one flush can take a connection from above its output high-water mark
    # to empty: the requests still buffered must then be parsed without any further event
    # (this stalled the connection before the fix).
    n = 3000
    req = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * (n - 1) + b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n"
    s = socket.create_connection(("127.0.0.1", murr.port), timeout=30)
    out = bytearray()

    def reader():
        while True:
            chunk = s.recv(1 << 22)
            if not chunk:
                break
            out.extend(chunk)

    t = threading.Thread(target=reader)
    t.start()
    s.sendall(req)
    t.join(60)
    assert not t.is_alive(), f"connection stalled after {out.count(b'HTTP/1.1 200 OK')} of {n} answers"
    s.close()
    assert out.count(b"HTTP/1.1 200 OK") == n
    assert out.endswith(b"OK")


def test_many_pipelined_requests_with_unread_answers(murr):
    # ~3000 answers of a few KB pile up unread: the connection stops reading past its output
    # high-water mark and resumes as the client reads; every request is answered, in order
    n = 3000
    req = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * (n - 1) + b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n"
    s = socket.create_connection(("127.0.0.1", murr.port), timeout=20)
    s.sendall(req)
    time.sleep(0.5)
    out = bytearray()
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        out += chunk
    s.close()
    assert out.count(b"HTTP/1.1 200 OK") == n
    assert out.endswith(b"OK")
    assert requests.get(murr.url + "/health").status_code == 200


# ---- the murr 0.3 fetch protocol beside 0.2 (server side; the 0.3 client's own suite is
# elsewhere) --------------------------------------------------------------------------------
UI = {"columns": {"user": {"dtype": "int64", "key": True, "nullable": False},
                  "item": {"dtype": "utf8", "key": True, "nullable": False},
                  "score": {"dtype": "float32"}}}


def seed_ui(url):
    assert create(url, "ui", UI).status_code == 201
    r = requests.put(f"{url}/api/v1/table/ui/write",
                     json={"columns": {"user": [1, 1, 2], "item": ["a", "b", "a"], "score": [0.5, 2.0, None]}})
    assert r.status_code == 200, r.text


def post_fetch(url, name, body, **headers):
    return requests.post(f"{url}/api/v1/table/{name}/fetch", json=body, headers=headers)


def ipc_request(keys: pa.Table, columns):
    meta = dict(keys.schema.metadata or {})
    if columns is not None:
        meta[b"columns"] = columns if isinstance(columns, bytes) else json.dumps(columns).encode()
    return arrow_bytes(keys.replace_schema_metadata(meta))


def test_fetch_json_object_form_is_sparse(murr):
    seed_ui(murr.url)
    body = {"keys": {"item": ["b", "a", "a", "b"], "user": [1, 7, 2, 1]}, "columns": ["score"]}
    got = post_fetch(murr.url, "ui", body).json()["columns"]
    assert list(got) == ["_idx", "score"]
    assert sorted(zip(got["_idx"], got["score"]), key=lambda p: p[0]) == [(0, 2.0), (2, None), (3, 2.0)]
    t = pa.ipc.open_stream(post_fetch(murr.url, "ui", body, Accept=ARROW).content).read_all()
    assert t.schema.field("_idx").type == pa.uint32() and not t.schema.field("_idx").nullable
    assert t.schema.names == ["_idx", "score"] and t.num_rows == 3
    # nothing found: zero rows, every column with its type
    none = post_fetch(murr.url, "ui", {"keys": {"user": [9], "item": ["z"]}, "columns": ["score"]}, Accept=ARROW)
    t = pa.ipc.open_stream(none.content).read_all()
    assert t.num_rows == 0 and t.schema.types == [pa.uint32(), pa.float32()]
    assert post_fetch(murr.url, "ui", {"keys": {"user": [], "item": []}, "columns": ["score"]}).json() == \
        {"columns": {"_idx": [], "score": []}}
    # a 0.2 table asked in the 0.3 form answers sparse too
    assert create(murr.url).status_code == 201
    requests.put(murr.url + "/api/v1/table/features/write", json={"columns": {"id": ["a"], "score": [1]}})
    assert post_fetch(murr.url, "features", {"keys": {"id": ["x", "a"]}, "columns": ["score"]}).json() == \
        {"columns": {"_idx": [1], "score": [1.0]}}


@pytest.mark.parametrize("keys,needle", [
    (["a"], "the key of this table has 2 columns (user, item): send keys as an object"),
    ({"user": [1, 2], "item": ["a"]}, "key column 'item' has 1 values but key column 'user' has 2"),
    ({"user": [1]}, "missing key column 'item' in keys (key columns: user, item)"),
    ({"user": [1], "item": ["a"], "score": [1]}, "member 'score', which is not a key column"),
    ({"user": ["1"], "item": ["a"]}, "column 'user': Table error: row 0: expected integer, got a string"),
    ({"user": [2**63], "item": ["a"]}, "row 0: invalid value: integer `9223372036854775808`, expected i64"),
    ({"user": [1], "item": "a"}, "keys.item: expected an array, got a string"),
])
def test_fetch_json_bad_keys_are_400_naming_them(murr, keys, needle):
    seed_ui(murr.url)
    r = post_fetch(murr.url, "ui", {"keys": keys, "columns": ["score"]})
    assert r.status_code == 400 and needle in r.json()["error"], r.text


def test_fetch_array_form_on_an_integer_key_is_dense(murr):
    schema = {"columns": {"id": {"dtype": "int64", "key": True, "nullable": False}, "v": {"dtype": "utf8"}}}
    assert create(murr.url, "ints", schema).status_code == 201
    r = requests.put(murr.url + "/api/v1/table/ints/write", json={"columns": {"id": [5, -1], "v": ["five", "neg"]}})
    assert r.status_code == 200, r.text
    got = post_fetch(murr.url, "ints", {"keys": [-1, 3, 5, 5], "columns": ["v"]}).json()
    assert got == {"columns": {"v": ["neg", None, "five", "five"]}}
    r = post_fetch(murr.url, "ints", {"keys": ["5"], "columns": ["v"]})
    assert r.status_code == 400 and "expected integer, got a string" in r.json()["error"]
    r = post_fetch(murr.url, "ints", {"keys": [1.5], "columns": ["v"]})
    assert r.status_code == 400 and "floating point `1.5`" in r.json()["error"]
    # a utf8 key still wants strings, with the 0.2 status
    assert create(murr.url).status_code == 201
    r = post_fetch(murr.url, "features", {"keys": [1], "columns": ["score"]})
    assert r.status_code == 422 and "keys[0]: expected a string, got a number" in r.json()["error"]


def test_fetch_arrow_ipc_request(murr):
    seed_ui(murr.url)
    keys = pa.table({"user": pa.array([2, 1, 3], pa.int64()), "item": ["a", "b", "a"]})
    r = requests.post(murr.url + "/api/v1/table/ui/fetch", data=ipc_request(keys, ["score"]),
                      headers={"Content-Type": ARROW, "Accept": ARROW})
    assert r.status_code == 200, r.text
    t = pa.ipc.open_stream(r.content).read_all().sort_by("_idx")
    assert t.to_pydict() == {"_idx": [0, 1], "score": [None, 2.0]}
    # several batches are one request: _idx counts across the stream; int32 widens into int64
    sch = pa.schema([("user", pa.int32()), ("item", pa.string())], metadata={b"columns": b'["score"]'})
    b1 = pa.record_batch([pa.array([9], pa.int32()), pa.array(["x"])], schema=sch)
    b2 = pa.record_batch([pa.array([1, 1], pa.int32()), pa.array(["a", "b"])], schema=sch)
    r = requests.post(murr.url + "/api/v1/table/ui/fetch", data=arrow_bytes([b1, b2], sch),
                      headers={"Content-Type": ARROW})
    got = r.json()["columns"]
    assert sorted(zip(got["_idx"], got["score"])) == [(1, 0.5), (2, 2.0)], r.text


@pytest.mark.parametrize("columns,needle", [
    (None, "missing 'columns' entry in Arrow schema metadata"),
    (b'{"a": 1}', "invalid 'columns' entry in Arrow schema metadata (expected a JSON array of column names): "
                  "columns: expected an array of strings, got an object"),
    (b'["score", 3]', "columns[1]: expected a string, got a number"),
    (b"score", "invalid 'columns' entry"),
])
def test_fetch_arrow_ipc_request_bad_metadata(murr, columns, needle):
    seed_ui(murr.url)
    keys = pa.table({"user": pa.array([1], pa.int64()), "item": ["a"]})
    r = requests.post(murr.url + "/api/v1/table/ui/fetch", data=ipc_request(keys, columns),
                      headers={"Content-Type": ARROW})
    assert r.status_code == 400 and needle in r.json()["error"], r.text


def test_fetch_content_types(murr):
    create(murr.url)
    url = murr.url + "/api/v1/table/features/fetch"
    body = json.dumps({"keys": ["a"], "columns": ["score"]})
    assert requests.post(url, data=body, headers={"Content-Type": "application/json"}).json() == \
        {"columns": {"score": [None]}}
    r = requests.post(url, data=body)  # absent: refused, as by 0.2.1 (415) and 0.3.1 (400)
    assert r.status_code == 415 and "got no Content-Type" in r.json()["error"]
    r = requests.post(url, data=body, headers={"Content-Type": "application/vnd.apache.parquet"})
    assert r.status_code == 415 and "not Parquet" in r.json()["error"]
    r = requests.post(url, data=body, headers={"Content-Type": "text/csv"})
    assert r.status_code == 415 and "got `text/csv`" in r.json()["error"]
    r = requests.post(url, data=b"\xff\xff\xff\xff\x10\x00", headers={"Content-Type": ARROW})
    assert r.status_code == 400 and "invalid Arrow IPC stream in the fetch request" in r.json()["error"], r.text
