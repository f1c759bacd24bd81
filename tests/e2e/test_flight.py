"""Arrow Flight end to end against the real binary: pyarrow.flight.FlightClient for every RPC
(the reference's tests of section 6.3, with DoPut now implemented), grpcio with hand-made
bytes for what a Flight client cannot send (bad protobuf, compression, oversized messages,
deadlines, cancellation), and a raw HTTP/2 socket for a wrong content-type. After every
hostile call the server must still answer a DoGet correctly."""
import json
import threading
import time

import grpc
import numpy as np
import pyarrow as pa
import pyarrow.flight as fl
import pytest
import requests

import flight_wire as fw

SCHEMA = {"key": "id", "columns": {"id": {"dtype": "utf8", "nullable": False},
                                   "score": {"dtype": "float32", "nullable": True}}}
IDENT = dict(request_serializer=None, response_deserializer=None)
SLOW = 60  # generous timeout (s) for a loaded 2-core machine under ASan


def create(url, name="features", schema=SCHEMA):
    r = requests.put(f"{url}/api/v1/table/{name}", json=schema)
    assert r.status_code == 201, r.text


def seed_features(url):
    create(url)
    r = requests.put(f"{url}/api/v1/table/features/write",
                     json={"columns": {"id": ["a", "b", "c"], "score": [1.0, 2.0, None]}})
    assert r.status_code == 200, r.text


def tkt(table, keys, columns):
    return fl.Ticket(json.dumps({"table": table, "keys": keys, "columns": columns}).encode())


@pytest.fixture
def srv(murr):
    seed_features(murr.url)
    return murr


@pytest.fixture
def client(srv):
    c = fl.FlightClient(f"grpc://127.0.0.1:{srv.grpc_port}")
    yield c
    c.close()


@pytest.fixture
def chan(srv):
    ch = grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}",
                               options=[("grpc.max_receive_message_length", -1),
                                        ("grpc.max_send_message_length", -1)])
    yield ch
    ch.close()


def assert_serves(port):
    """The server still answers a DoGet correctly (on a fresh connection)."""
    c = fl.FlightClient(f"grpc://127.0.0.1:{port}")
    try:
        t = c.do_get(tkt("features", ["b", "a"], ["score"]),
                     options=fl.FlightCallOptions(timeout=SLOW)).read_all()
        assert t.column("score").to_pylist() == [2.0, 1.0]
    finally:
        c.close()


def rpc_error(fn):
    with pytest.raises(grpc.RpcError) as ei:
        fn()
    return ei.value


# ---- the reference's tests (section 6.3) ---------------------------------------------------
def test_do_get_round_trip(client):
    reader = client.do_get(tkt("features", ["a", "b", "c"], ["score"]))
    chunks = list(reader)
    assert len(chunks) == 1
    batch = chunks[0].data
    assert batch.num_rows == 3
    assert batch.column(0).to_pylist() == [1.0, 2.0, None]
    assert batch.schema.field("score").type == pa.float32()
    assert batch.schema.field("score").nullable


def test_do_get_not_found(client):
    with pytest.raises(pa.ArrowKeyError, match="nonexistent"):
        client.do_get(tkt("nonexistent", ["a"], ["score"])).read_all()


def test_do_get_invalid_ticket(client):
    with pytest.raises(pa.ArrowInvalid, match="invalid ticket JSON"):
        client.do_get(fl.Ticket(b"not json")).read_all()


def test_list_flights(client):
    infos = list(client.list_flights())
    assert len(infos) == 1
    assert infos[0].descriptor.descriptor_type == fl.DescriptorType.PATH
    assert infos[0].descriptor.path == [b"features"]
    assert infos[0].schema.names == ["id", "score"]


def test_get_flight_info(client):
    d = fl.FlightDescriptor.for_path("features")
    info = client.get_flight_info(d)
    assert info.schema.names == ["id", "score"]
    assert not info.schema.field("id").nullable and info.schema.field("score").nullable
    assert info.schema.field("id").type == pa.string()
    assert info.descriptor == d
    assert info.endpoints == []
    assert info.total_records == -1 and info.total_bytes == -1


def test_get_flight_info_has_key_metadata(client):
    info = client.get_flight_info(fl.FlightDescriptor.for_path("features"))
    assert info.schema.metadata == {b"key": b"id"}


def test_get_schema(client):
    s = client.get_schema(fl.FlightDescriptor.for_path("features")).schema
    assert s.names == ["id", "score"] and s.metadata[b"key"] == b"id"


def test_list_flights_several_tables(srv, client):
    create(srv.url, "other", {"key": "k", "columns": {"v": {"dtype": "int64"},
                                                      "k": {"dtype": "utf8", "nullable": False}}})
    infos = {i.descriptor.path[0]: i for i in client.list_flights()}
    assert set(infos) == {b"features", b"other"}
    assert infos[b"other"].schema.names == ["v", "k"]  # declaration order
    assert infos[b"other"].schema.metadata == {b"key": b"k"}


def app_metadata(info):
    """FlightInfo field 7 (app_metadata) from the message bytes (pyarrow 18 has no accessor)."""
    b, i, found = info.serialize(), 0, None

    def varint(i):
        v = shift = 0
        while True:
            c = b[i]
            i += 1
            v |= (c & 0x7F) << shift
            shift += 7
            if c < 0x80:
                return v, i
    while i < len(b):
        key, i = varint(i)
        assert key & 7 in (0, 2), key
        if key & 7 == 0:
            _, i = varint(i)
            continue
        n, i = varint(i)
        if key >> 3 == 7:
            found = b[i:i + n]
        i += n
    return found


def test_flight_info_carries_the_schema_json(srv, client):
    """app_metadata of GetFlightInfo and ListFlights is the text of GET .../schema (creation
    form: form 2 with its top-level key, form 3 with per-column key flags and strict)."""
    create(srv.url, "f3", {"columns": {"u": {"dtype": "int64", "nullable": False, "key": True},
                                       "s": {"dtype": "utf8", "nullable": False, "key": True},
                                       "x": {"dtype": "float32", "strict": False}}})
    listed = {i.descriptor.path[0].decode(): app_metadata(i) for i in client.list_flights()}
    for name in ("features", "f3"):
        want = requests.get(f"{srv.url}/api/v1/table/{name}/schema").content
        assert app_metadata(client.get_flight_info(fl.FlightDescriptor.for_path(name))) == want, name
        assert listed[name] == want, name
    doc = json.loads(listed["f3"])
    assert [c for c, v in doc["columns"].items() if v["key"]] == ["u", "s"] and doc["columns"]["x"]["strict"] is False
    assert json.loads(listed["features"])["key"] == "id"


# ---- DoGet semantics (HTTP fetch) ----------------------------------------------------------
def test_do_get_fetch_semantics(srv, client):
    create(srv.url, "wide", {"key": "id", "columns": {
        "id": {"dtype": "utf8", "nullable": False}, "i": {"dtype": "int64", "nullable": False},
        "s": {"dtype": "utf8"}, "b": {"dtype": "bool"}, "f": {"dtype": "float64"}}})
    r = requests.put(f"{srv.url}/api/v1/table/wide/write", json={"columns": {
        "id": ["x", "y"], "i": [1, 2], "s": ["hello", None], "b": [True, False], "f": [0.5, 1.5]}})
    assert r.status_code == 200, r.text
    t = client.do_get(tkt("wide", ["y", "zz", "x", "y"], ["s", "i", "b", "f"])).read_all()
    assert t.schema.names == ["s", "i", "b", "f"]  # request order
    assert all(f.nullable for f in t.schema)  # all nullable, like the HTTP answer
    assert t.schema.metadata is None
    assert t.to_pydict() == {"s": [None, None, "hello", None], "i": [2, None, 1, 2],
                             "b": [False, None, True, False], "f": [1.5, None, 0.5, 1.5]}
    empty = client.do_get(tkt("wide", [], ["i"])).read_all()
    assert empty.num_rows == 0 and empty.schema.names == ["i"]


def test_do_get_bad_columns(client):
    with pytest.raises(pa.ArrowInvalid, match="id"):
        client.do_get(tkt("features", ["a"], ["id"])).read_all()  # the key column
    with pytest.raises(pa.ArrowInvalid, match="nope"):
        client.do_get(tkt("features", ["a"], ["nope"])).read_all()
    with pytest.raises(pa.ArrowInvalid):
        client.do_get(tkt("features", ["a"], [])).read_all()
    with pytest.raises(pa.ArrowInvalid, match="invalid ticket JSON"):
        client.do_get(fl.Ticket(b'{"table": "features", "keys": ["a"]}')).read_all()
    with pytest.raises(pa.ArrowInvalid):
        client.do_get(tkt("../etc", ["a"], ["score"])).read_all()


def test_large_do_get_several_batches(srv, client):
    n, ncols = 200_000, 6
    cols = {"id": {"dtype": "utf8", "nullable": False}}
    cols.update({f"c{j}": {"dtype": "float32"} for j in range(ncols)})
    create(srv.url, "big", {"key": "id", "columns": cols})
    ids = np.array([f"k{i}" for i in range(n)])
    data = {f"c{j}": (np.arange(n, dtype=np.float32) * (j + 1)) for j in range(ncols)}
    table = pa.table({"id": pa.array(ids), **data})
    w, _ = client.do_put(fl.FlightDescriptor.for_path("big"), table.schema)
    w.write_table(table, max_chunksize=50_000)
    w.close()
    # ask in reverse order, with a missing key in the middle
    keys = list(ids[::-1])
    keys.insert(1000, "missing")
    want = [f"c{j}" for j in reversed(range(ncols))]
    reader = client.do_get(tkt("big", keys, want), options=fl.FlightCallOptions(timeout=SLOW))
    chunks = [c.data for c in reader]
    assert len(chunks) >= 2, "a 4.8 MB answer must be split into several messages"
    for b in chunks:
        assert b.nbytes <= 2.5 * 2**20
    got = pa.Table.from_batches(chunks)
    assert got.num_rows == n + 1 and got.schema.names == want
    for j in range(ncols):
        exp = data[f"c{j}"][::-1].tolist()
        exp.insert(1000, None)
        assert got.column(f"c{j}").to_pylist() == exp


# ---- DoPut ---------------------------------------------------------------------------------
def test_do_put_multi_batch_round_trip(srv, client):
    n = 1000
    table = pa.table({"score": pa.array(np.linspace(0, 1, n, dtype=np.float32)),
                      "id": pa.array([f"p{i}" for i in range(n)]), "extra": pa.array(range(n))})
    w, reader = client.do_put(fl.FlightDescriptor.for_path("features"), table.schema)
    w.write_table(table, max_chunksize=128)  # 8 batches, one atomic write
    w.done_writing()
    w.close()
    keys = ["p0", "p999", "p500", "a"]
    r = requests.post(f"{srv.url}/api/v1/table/features/fetch", json={"keys": keys, "columns": ["score"]})
    exp = [float(np.float32(v)) for v in (0.0, 1.0, np.linspace(0, 1, n, dtype=np.float32)[500])] + [1.0]
    assert r.status_code == 200
    assert r.json()["columns"]["score"] == pytest.approx(exp)
    t = client.do_get(tkt("features", keys, ["score"])).read_all()
    assert t.column("score").to_pylist() == pytest.approx(exp)


def test_do_put_upsert_and_widening(srv, client):
    table = pa.table({"id": pa.array(["a", "z", "a"], pa.large_string()),
                      "score": pa.array([9.0, 8.0, 7.0], pa.float32())})
    w, _ = client.do_put(fl.FlightDescriptor.for_path("features"), table.schema)
    w.write_table(table)
    w.close()
    t = client.do_get(tkt("features", ["a", "z", "b"], ["score"])).read_all()
    assert t.column("score").to_pylist() == [7.0, 8.0, 2.0]  # last duplicate wins


def test_do_put_errors(srv, client):
    t = pa.table({"id": pa.array(["q"]), "score": pa.array([1.0], pa.float32())})
    with pytest.raises(pa.ArrowKeyError, match="nope"):
        w, _ = client.do_put(fl.FlightDescriptor.for_path("nope"), t.schema)
        w.write_table(t)
        w.close()
    missing = pa.table({"id": pa.array(["q"])})
    with pytest.raises(pa.ArrowInvalid, match="score"):
        w, _ = client.do_put(fl.FlightDescriptor.for_path("features"), missing.schema)
        w.write_table(missing)
        w.close()
    lossy = pa.table({"id": pa.array(["q"]), "score": pa.array([1.0], pa.float64())})
    with pytest.raises(pa.ArrowInvalid, match="score"):
        w, _ = client.do_put(fl.FlightDescriptor.for_path("features"), lossy.schema)
        w.write_table(lossy)
        w.close()
    assert client.do_get(tkt("features", ["q"], ["score"])).read_all().column(0).to_pylist() == [None]


def test_do_put_is_atomic(srv, client):
    """The second batch has a null key: the whole call fails and the first batch is not visible."""
    schema = pa.schema([("id", pa.string()), ("score", pa.float32())])
    good = pa.record_batch([pa.array(["g1", "g2"]), pa.array([1.0, 2.0], pa.float32())], schema=schema)
    bad = pa.record_batch([pa.array(["g3", None]), pa.array([3.0, 4.0], pa.float32())], schema=schema)
    with pytest.raises(pa.ArrowInvalid):
        w, _ = client.do_put(fl.FlightDescriptor.for_path("features"), schema)
        w.write_batch(good)
        w.write_batch(bad)
        w.close()
    t = client.do_get(tkt("features", ["g1", "g2", "g3"], ["score"])).read_all()
    assert t.column("score").to_pylist() == [None, None, None]
    assert_serves(srv.grpc_port)


def test_do_put_schema_only(srv, client):
    schema = pa.schema([("id", pa.string()), ("score", pa.float32())])
    w, _ = client.do_put(fl.FlightDescriptor.for_path("features"), schema)
    w.close()
    assert_serves(srv.grpc_port)


def test_handshake_without_tokens_is_an_empty_ok(srv, chan):
    """No tokens configured (issue 14): Handshake succeeds, answers no messages and no token,
    whatever payloads come (credentials travel in headers: tests/e2e/test_auth.py)."""
    stub = chan.stream_stream(fw.SVC + "Handshake", **IDENT)
    call = stub(iter([b"", b"\x08\x01"]), timeout=SLOW)
    assert list(call) == []
    assert call.code() == grpc.StatusCode.OK
    assert [k for k, _ in call.initial_metadata()] == []
    assert_serves(srv.grpc_port)


# ---- UNIMPLEMENTED and descriptor errors ---------------------------------------------------
@pytest.mark.parametrize("method,kind,msg", [
    ("PollFlightInfo", "unary_unary", "poll_flight_info not supported"),
    ("DoExchange", "stream_stream", "do_exchange not supported"),
    ("DoAction", "unary_stream", "do_action not supported"),
    ("ListActions", "unary_stream", "list_actions not supported"),
])
def test_unimplemented_rpcs(srv, chan, method, kind, msg):
    stub = getattr(chan, kind)(fw.SVC + method, **IDENT)
    req = fw.descriptor(["features"]) if kind != "stream_stream" else iter([b""])
    if kind == "unary_stream":
        e = rpc_error(lambda: list(stub(b"", timeout=SLOW)))
    elif kind == "stream_stream":
        e = rpc_error(lambda: list(stub(req, timeout=SLOW)))
    else:
        e = rpc_error(lambda: stub(req, timeout=SLOW))
    assert e.code() == grpc.StatusCode.UNIMPLEMENTED
    assert e.details() == msg
    assert_serves(srv.grpc_port)


def test_unimplemented_via_pyarrow(client):
    with pytest.raises(pa.ArrowNotImplementedError, match="list_actions not supported"):
        client.list_actions()
    with pytest.raises(pa.ArrowNotImplementedError, match="do_action not supported"):
        list(client.do_action(fl.Action("x", b"")))


def test_unknown_method(srv, chan):
    e = rpc_error(lambda: chan.unary_unary("/some.Other/Method", **IDENT)(b"", timeout=SLOW))
    assert e.code() == grpc.StatusCode.UNIMPLEMENTED and "/some.Other/Method" in e.details()
    e = rpc_error(lambda: chan.unary_unary(fw.SVC + "Nope", **IDENT)(b"", timeout=SLOW))
    assert e.code() == grpc.StatusCode.UNIMPLEMENTED


def test_descriptor_errors(srv, chan):
    info = chan.unary_unary(fw.SVC + "GetFlightInfo", **IDENT)
    schema = chan.unary_unary(fw.SVC + "GetSchema", **IDENT)
    for stub in (info, schema):
        e = rpc_error(lambda: stub(fw.descriptor([]), timeout=SLOW))
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert e.details() == "path must contain table name"
        e = rpc_error(lambda: stub(fw.descriptor(["nonexistent"]), timeout=SLOW))
        assert e.code() == grpc.StatusCode.NOT_FOUND and "nonexistent" in e.details()
        # extra path elements are ignored: path[0] is the table
        assert len(stub(fw.descriptor(["features", "ignored"]), timeout=SLOW)) > 0


def test_error_codes_via_grpcio(srv, chan):
    do_get = chan.unary_stream(fw.SVC + "DoGet", **IDENT)
    e = rpc_error(lambda: list(do_get(fw.ticket(b"not json"), timeout=SLOW)))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and e.details().startswith("invalid ticket JSON: ")
    e = rpc_error(lambda: list(do_get(fw.ticket(json.dumps(
        {"table": "nonexistent", "keys": [], "columns": ["x"]}).encode()), timeout=SLOW)))
    assert e.code() == grpc.StatusCode.NOT_FOUND
    e = rpc_error(lambda: list(do_get(fw.ticket(json.dumps(
        {"table": "features", "keys": ["a"], "columns": ["nope"]}).encode()), timeout=SLOW)))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "nope" in e.details()
    # a non-ASCII message arrives intact (grpc-message is percent-encoded)
    e = rpc_error(lambda: list(do_get(fw.ticket(json.dumps(
        {"table": "features", "keys": ["a"], "columns": ["caf\u00e9"]}).encode()), timeout=SLOW)))
    assert "caf\u00e9" in e.details()


# ---- hostile bytes (grpcio) ----------------------------------------------------------------
def test_bad_protobuf(srv, chan):
    garbage = b"\xff\xff\xff\xff\x0f\x0a\x50"
    for method, kind in (("GetFlightInfo", "unary_unary"), ("GetSchema", "unary_unary"),
                         ("DoGet", "unary_stream"), ("ListFlights", "unary_stream")):
        stub = getattr(chan, kind)(fw.SVC + method, **IDENT)
        e = rpc_error(lambda: list(stub(garbage, timeout=SLOW)) if kind == "unary_stream"
                      else stub(garbage, timeout=SLOW))
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, e)
    do_put = chan.stream_unary(fw.SVC + "DoPut", **IDENT)
    e = rpc_error(lambda: do_put(iter([garbage]), timeout=SLOW))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "FlightData" in e.details()
    # a descriptor, then a data_header that is not a flatbuffer
    msgs = [fw.flight_data(desc=fw.descriptor(["features"])), fw.flight_data(header=b"\x01\x02\x03")]
    e = rpc_error(lambda: do_put(iter(msgs), timeout=SLOW))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "Arrow" in e.details()
    # no descriptor in the first message
    schema = pa.schema([("id", pa.string()), ("score", pa.float32())])
    h, _ = fw.ipc_parts(schema)
    e = rpc_error(lambda: do_put(iter([fw.flight_data(header=h)]), timeout=SLOW))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "flight_descriptor" in e.details()
    e = rpc_error(lambda: do_put(iter([]), timeout=SLOW))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    # two request messages for a unary call
    e = rpc_error(lambda: chan.stream_unary(fw.SVC + "GetSchema", **IDENT)(
        iter([fw.descriptor(["features"])] * 2), timeout=SLOW))
    assert e.code() == grpc.StatusCode.INTERNAL
    assert_serves(srv.grpc_port)


def test_hand_made_do_put(srv, chan):
    """DoPut from raw FlightData: descriptor and schema in the first message, two batches."""
    schema = pa.schema([("id", pa.string()), ("score", pa.float32())])
    h, _ = fw.ipc_parts(schema)
    msgs = [fw.flight_data(header=h, desc=fw.descriptor(["features"]))]
    # the empty batch has an empty body: its FlightData carries no data_body field at all
    for ids, vals in ((["h1", "h2"], [1.5, 2.5]), ([], []), (["h3"], [3.5])):
        b = pa.record_batch([pa.array(ids), pa.array(vals, pa.float32())], schema=schema)
        msgs.append(fw.flight_data(*fw.ipc_parts(b)))
    out = list(chan.stream_stream(fw.SVC + "DoPut", **IDENT)(iter(msgs), timeout=SLOW))
    assert out == [b""]  # one PutResult, empty app_metadata
    c = fl.FlightClient(f"grpc://127.0.0.1:{srv.grpc_port}")
    assert c.do_get(tkt("features", ["h1", "h2", "h3"], ["score"])).read_all().column(0).to_pylist() \
        == [1.5, 2.5, 3.5]
    c.close()


def test_compression_refused(srv, chan):
    stub = chan.unary_unary(fw.SVC + "GetSchema", **IDENT)
    e = rpc_error(lambda: stub(fw.descriptor(["features"]), timeout=SLOW, compression=grpc.Compression.Gzip))
    assert e.code() in (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.INTERNAL)
    assert "gzip" in e.details() or "compress" in e.details()
    assert_serves(srv.grpc_port)


def test_oversized_message(murr_factory):
    s = murr_factory(extra_env={"MURR_SERVER_GRPC_MAX_MESSAGE_SIZE": "4096"})
    seed_features(s.url)
    with grpc.insecure_channel(f"127.0.0.1:{s.grpc_port}") as ch:
        do_get = ch.unary_stream(fw.SVC + "DoGet", **IDENT)
        big = fw.ticket(json.dumps({"table": "features", "keys": ["k" * 50] * 200,
                                    "columns": ["score"]}).encode())
        assert len(big) > 4096
        e = rpc_error(lambda: list(do_get(big, timeout=SLOW)))
        assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert str(len(big)) in e.details() and "4096" in e.details()
        # a DoPut stream whose second message is too big
        schema = pa.schema([("id", pa.string()), ("score", pa.float32())])
        h, _ = fw.ipc_parts(schema)
        b = pa.record_batch([pa.array([f"x{i}" for i in range(2000)]),
                             pa.array(np.zeros(2000, np.float32))], schema=schema)
        msgs = [fw.flight_data(header=h, desc=fw.descriptor(["features"])), fw.flight_data(*fw.ipc_parts(b))]
        e = rpc_error(lambda: ch.stream_unary(fw.SVC + "DoPut", **IDENT)(iter(msgs), timeout=SLOW))
        assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert_serves(s.grpc_port)


# ---- deadlines and cancellation ------------------------------------------------------------
def big_table(srv, n=200_000):
    names = ["x", "y", "z", "u", "v", "w"]  # 4.8 MB of float32: schema + at least 3 batches
    cols = {"id": {"dtype": "utf8", "nullable": False}, **{c: {"dtype": "float32"} for c in names}}
    create(srv.url, "big", {"key": "id", "columns": cols})
    t = pa.table({"id": pa.array([f"k{i}" for i in range(n)]),
                  **{c: pa.array(np.arange(n, dtype=np.float32) + j) for j, c in enumerate(names)}})
    c = fl.FlightClient(f"grpc://127.0.0.1:{srv.grpc_port}")
    w, _ = c.do_put(fl.FlightDescriptor.for_path("big"), t.schema)
    w.write_table(t, max_chunksize=50_000)
    w.close()
    c.close()
    return fw.ticket(json.dumps({"table": "big", "keys": [f"k{i}" for i in range(n)],
                                 "columns": names}).encode())


def test_deadline_on_large_do_get(srv, chan):
    ticket = big_table(srv)
    do_get = chan.unary_stream(fw.SVC + "DoGet", **IDENT)
    e = rpc_error(lambda: list(do_get(ticket, timeout=0.001)))
    assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert_serves(srv.grpc_port)
    # the same call without a deadline works and streams several messages
    assert len(list(do_get(ticket, timeout=SLOW))) >= 4


def test_server_side_deadline_on_stalled_do_put(srv):
    """grpc-timeout 300m, one partial message, then silence: the server itself ends the call."""
    h = fw.RawH2(srv.grpc_port)
    try:
        hdrs = fw.request_headers(fw.SVC + "DoPut", extra=[("grpc-timeout", "300m")])
        h.send(fw.frame(fw.HEADERS, fw.END_HEADERS, 1, hdrs))
        first = fw.grpc_frame(fw.flight_data(desc=fw.descriptor(["features"])))
        h.send(fw.frame(fw.DATA, 0, 1, first + b"\x00\x00\x00\x10\x00"))  # next message never completes
        frames = h.frames_of_stream(1, deadline_s=SLOW)
        heads = [f for f in frames if f[0] == fw.HEADERS]
        assert heads and heads[0][1] & fw.END_STREAM, frames  # trailers-only answer
        assert fw.status_of_header_block(heads[0][3]) == "200"
    finally:
        h.close()
    assert_serves(srv.grpc_port)


def test_deadline_on_stalled_do_put_grpcio(srv, chan):
    release = threading.Event()
    schema = pa.schema([("id", pa.string()), ("score", pa.float32())])
    h, _ = fw.ipc_parts(schema)
    b = pa.record_batch([pa.array(["d1"]), pa.array([1.0], pa.float32())], schema=schema)

    def gen():
        yield fw.flight_data(header=h, desc=fw.descriptor(["features"]))
        yield fw.flight_data(*fw.ipc_parts(b))
        release.wait(SLOW)

    e = rpc_error(lambda: chan.stream_unary(fw.SVC + "DoPut", **IDENT)(gen(), timeout=1.0))
    release.set()
    assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    c = fl.FlightClient(f"grpc://127.0.0.1:{srv.grpc_port}")
    assert c.do_get(tkt("features", ["d1"], ["score"])).read_all().column(0).to_pylist() == [None]
    c.close()
    assert_serves(srv.grpc_port)


def test_cancel_do_get_mid_stream(srv, chan):
    ticket = big_table(srv)
    do_get = chan.unary_stream(fw.SVC + "DoGet", **IDENT)
    for _ in range(3):
        call = do_get(ticket, timeout=SLOW)
        first = next(call)
        assert len(first) > 0
        call.cancel()
        with pytest.raises(grpc.RpcError) as ei:
            for _m in call:
                pass
        assert ei.value.code() == grpc.StatusCode.CANCELLED
    assert_serves(srv.grpc_port)
    assert len(list(do_get(ticket, timeout=SLOW))) >= 4


def test_cancel_do_put_mid_stream(srv, chan):
    release = threading.Event()
    sent = threading.Event()
    schema = pa.schema([("id", pa.string()), ("score", pa.float32())])
    h, _ = fw.ipc_parts(schema)
    b = pa.record_batch([pa.array(["c1", "c2"]), pa.array([1.0, 2.0], pa.float32())], schema=schema)

    def gen():
        yield fw.flight_data(header=h, desc=fw.descriptor(["features"]))
        yield fw.flight_data(*fw.ipc_parts(b))
        sent.set()
        release.wait(SLOW)

    fut = chan.stream_unary(fw.SVC + "DoPut", **IDENT).future(gen(), timeout=SLOW)
    assert sent.wait(SLOW)
    time.sleep(0.2)  # let the batches reach the server; correctness does not depend on it
    fut.cancel()
    release.set()
    with pytest.raises(grpc.FutureCancelledError):
        fut.result()
    c = fl.FlightClient(f"grpc://127.0.0.1:{srv.grpc_port}")
    assert c.do_get(tkt("features", ["c1", "c2"], ["score"])).read_all().column(0).to_pylist() == [None, None]
    c.close()
    assert_serves(srv.grpc_port)


# ---- HTTP/2 level --------------------------------------------------------------------------
def test_wrong_content_type(srv):
    h = fw.RawH2(srv.grpc_port)
    try:
        hdrs = fw.request_headers(fw.SVC + "GetSchema", content_type="application/json")
        body = fw.grpc_frame(fw.descriptor(["features"]))
        h.send(fw.frame(fw.HEADERS, fw.END_HEADERS, 1, hdrs) + fw.frame(fw.DATA, fw.END_STREAM, 1, body))
        frames = h.frames_of_stream(1, deadline_s=SLOW)
        heads = [f for f in frames if f[0] == fw.HEADERS]
        assert heads, frames
        assert fw.status_of_header_block(heads[0][3]) == "415"
        assert heads[0][1] & fw.END_STREAM
        assert not [f for f in frames if f[0] == fw.DATA]
        # the same connection still serves a correct request (stream 3)
        hdrs = fw.request_headers(fw.SVC + "GetSchema")
        h.send(fw.frame(fw.HEADERS, fw.END_HEADERS, 3, hdrs) + fw.frame(fw.DATA, fw.END_STREAM, 3, body))
        frames = h.frames_of_stream(3, deadline_s=SLOW)
        heads = [f for f in frames if f[0] == fw.HEADERS]
        assert fw.status_of_header_block(heads[0][3]) == "200"
        data = b"".join(f[3] for f in frames if f[0] == fw.DATA)
        assert len(data) > 5 and data[0] == 0  # one uncompressed SchemaResult
    finally:
        h.close()
    assert_serves(srv.grpc_port)


def test_garbage_connection(srv):
    """Not HTTP/2 at all, then a truncated frame: the server drops those connections only."""
    import socket
    for junk in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", fw.PREFACE + b"\x00\x00\x10\x01"):
        s = socket.create_connection(("127.0.0.1", srv.grpc_port), timeout=SLOW)
        s.sendall(junk)
        s.shutdown(socket.SHUT_WR)
        try:
            while s.recv(65536):
                pass
        except ConnectionResetError:
            pass
        s.close()
    assert_serves(srv.grpc_port)


def test_many_concurrent_streams(srv):
    c = fl.FlightClient(f"grpc://127.0.0.1:{srv.grpc_port}")
    results, errors = [], []

    def worker(i):
        try:
            t = c.do_get(tkt("features", ["a", "c", "b"][i % 3:], ["score"])).read_all()
            results.append(t.num_rows)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ths = [threading.Thread(target=worker, args=(i,)) for i in range(24)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(SLOW)
    c.close()
    assert not errors and len(results) == 24


# ---- lifecycle -----------------------------------------------------------------------------
def test_graceful_shutdown_with_open_client(srv, client):
    assert client.do_get(tkt("features", ["a"], ["score"])).read_all().num_rows == 1
    assert srv.stop() == 0
    assert "murr stopped cleanly" in srv.logs()


def test_shutdown_sends_goaway_and_drains_in_flight_do_put(murr_factory, tmp_path):
    """SIGTERM while a DoPut is half sent: GOAWAY, the call still completes, the data is
    durable (seen after a restart), and the process exits 0."""
    import signal
    s = murr_factory(tmp_path / "drain")
    seed_features(s.url)
    schema = pa.schema([("id", pa.string()), ("score", pa.float32())])
    h_schema, _ = fw.ipc_parts(schema)
    b = pa.record_batch([pa.array(["g1", "g2"]), pa.array([4.0, 5.0], pa.float32())], schema=schema)
    h = fw.RawH2(s.grpc_port)
    try:
        h.send(fw.frame(fw.HEADERS, fw.END_HEADERS, 1, fw.request_headers(fw.SVC + "DoPut")))
        h.send(fw.frame(fw.DATA, 0, 1, fw.grpc_frame(fw.flight_data(header=h_schema,
                                                                     desc=fw.descriptor(["features"])))))
        # frames are handled in order: once the PING is answered, stream 1 exists on the server
        h.send(fw.frame(fw.PING, 0, 0, b"murrping"))
        while True:
            f = h.read_frame()
            assert f is not None, "connection closed before the PING ACK"
            if f[0] == fw.PING and f[1] & fw.ACK:
                break
        s.proc.send_signal(signal.SIGTERM)
        while True:
            f = h.read_frame()
            assert f is not None, "connection closed without GOAWAY"
            if f[0] == fw.GOAWAY:
                assert int.from_bytes(f[3][:4], "big") & 0x7FFFFFFF == 1  # last stream id
                assert int.from_bytes(f[3][4:8], "big") == 0  # NO_ERROR
                break
        h.send(fw.frame(fw.DATA, fw.END_STREAM, 1, fw.grpc_frame(fw.flight_data(*fw.ipc_parts(b)))))
        frames = h.frames_of_stream(1, deadline_s=SLOW)
        data = b"".join(f[3] for f in frames if f[0] == fw.DATA)
        assert data == b"\x00\x00\x00\x00\x00", frames  # one empty PutResult: the write committed
    finally:
        h.close()
    assert s.proc.wait(SLOW) == 0
    assert s.stop() == 0
    s2 = murr_factory(tmp_path / "drain")
    r = requests.post(f"{s2.url}/api/v1/table/features/fetch", json={"keys": ["g1", "g2"], "columns": ["score"]})
    assert r.json() == {"columns": {"score": [4.0, 5.0]}}


def test_bind_failure_names_address(murr_factory, srv):
    with pytest.raises(RuntimeError) as ei:
        murr_factory(data_dir=srv.data_dir.parent / "second",
                     extra_env={"MURR_SERVER_GRPC_PORT": str(srv.grpc_port)})
    assert f"127.0.0.1:{srv.grpc_port}" in str(ei.value)
    assert "exited with 1" in str(ei.value)


def test_grpc_disabled(murr_factory):
    s = murr_factory(extra_env={"MURR_SERVER_GRPC_ENABLED": "false"})
    assert s.grpc_port is None
    assert "Listening for Flight" not in s.logs()
    assert requests.get(f"{s.url}/health").status_code == 200


# ---- murr 0.3: form-3 tables, both ticket key forms -----------------------------------------
def test_form3_table_has_no_key_metadata_and_tickets_take_both_key_forms(srv, client):
    create(srv.url, "ints", {"columns": {"id": {"dtype": "int32", "key": True, "nullable": False},
                                         "v": {"dtype": "float64"}}})
    r = requests.put(f"{srv.url}/api/v1/table/ints/write", json={"columns": {"id": [1, 2], "v": [0.5, None]}})
    assert r.status_code == 200, r.text
    d = fl.FlightDescriptor.for_path("ints")
    assert client.get_schema(d).schema.metadata is None
    assert client.get_flight_info(d).schema.metadata is None
    infos = {i.descriptor.path[0]: i for i in client.list_flights()}
    assert infos[b"ints"].schema.metadata is None and infos[b"features"].schema.metadata == {b"key": b"id"}
    # 0.3 object form: sparse; 0.2 array form of integers: dense
    t = client.do_get(tkt("ints", {"id": [2, 7, 1]}, ["v"])).read_all().sort_by("_idx")
    assert t.schema.names == ["_idx", "v"] and t.to_pydict() == {"_idx": [0, 2], "v": [None, 0.5]}
    t = client.do_get(tkt("ints", [2, 7, 1], ["v"])).read_all()
    assert t.to_pydict() == {"v": [None, None, 0.5]}
    t = client.do_get(tkt("features", {"id": ["c", "a"]}, ["score"])).read_all()
    assert sorted(t.column("_idx").to_pylist()) == [0, 1]
    with pytest.raises(pa.ArrowInvalid, match="member 'x', which is not a key column"):
        client.do_get(tkt("ints", {"id": [1], "x": [1]}, ["v"])).read_all()
