"""List (embedding) columns end to end (issue 16, decision 0012) against pyarrow and numpy:
list<float32|float16|int8>, fixed size (dim) and variable length, in both schema forms;
Arrow IPC writes and answers, JSON writes and answers, Flight DoPut / DoGet; nulls at the
list level, empty lists; validation errors naming column, row and sizes; restart."""
import io
import json
import re
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.flight as fl
import pytest
import requests

ARROW = "application/vnd.apache.arrow.stream"
ELEM = {"float32": (pa.float32(), np.float32), "float16": (pa.float16(), np.float16), "int8": (pa.int8(), np.int8)}


def schema(dtype, dim=None, form=3, nullable=True):
    col = {"dtype": f"list<{dtype}>", "nullable": nullable}
    if dim is not None:
        col["dim"] = dim
    if form == 2:
        return {"key": "id", "columns": {"id": {"dtype": "utf8", "nullable": False}, "v": col}}
    return {"columns": {"id": {"dtype": "utf8", "nullable": False, "key": True}, "v": col}}


def create(url, sch, name="t"):
    r = requests.put(f"{url}/api/v1/table/{name}", json=sch)
    assert r.status_code == 201, r.text


def ipc(table):
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue()


def write_arrow(url, table, name="t"):
    return requests.put(f"{url}/api/v1/table/{name}/write", data=ipc(table), headers={"Content-Type": ARROW})


def fetch_arrow(url, keys, name="t", columns=("v",)):
    r = requests.post(f"{url}/api/v1/table/{name}/fetch", json={"keys": keys, "columns": list(columns)},
                      headers={"Accept": ARROW})
    assert r.status_code == 200, r.text
    return pa.ipc.open_stream(r.content).read_all()


def vectors(rng, dtype, n, dim=None, nulls=(), empty=()):
    """n rows: fixed dim, or lengths 0..9 varying; rows in `nulls` are None, in `empty` []."""
    _, npt = ELEM[dtype]
    out = []
    for i in range(n):
        if i in nulls:
            out.append(None)
            continue
        k = dim if dim else (0 if i in empty else int(rng.integers(1, 10)))
        if npt is np.int8:
            out.append(rng.integers(-128, 128, k).astype(np.int8))
        else:
            out.append(rng.standard_normal(k).astype(npt))
    return out


def arrow_list(vals, dtype, dim=None):
    at, _ = ELEM[dtype]
    typ = pa.list_(at, dim) if dim else pa.list_(at)
    return pa.array([None if v is None else list(v) for v in vals], typ)


def bits(v):
    return None if v is None else np.asarray(v).tobytes()


@pytest.mark.parametrize("dtype", ["float32", "float16", "int8"])
@pytest.mark.parametrize("dim", [1, 3, 768, 4096, None])
def test_arrow_round_trip_bit_exact(murr, dtype, dim):
    rng = np.random.default_rng(16)
    n = 40
    vals = vectors(rng, dtype, n, dim, nulls={3, 17}, empty={5, 6} if dim is None else ())
    create(murr.url, schema(dtype, dim))
    t = pa.table({"id": [f"k{i}" for i in range(n)], "v": arrow_list(vals, dtype, dim)})
    r = write_arrow(murr.url, t)
    assert r.status_code == 200, r.text
    keys = [f"k{i}" for i in (39, 3, 0, 5, 17, 6, 20)] + ["missing"]
    got = fetch_arrow(murr.url, {"id": keys})
    at, _ = ELEM[dtype]
    field = got.schema.field("v")
    assert field.type == (pa.list_(at, dim) if dim else pa.list_(at))
    idx = got.column("_idx").to_pylist()
    assert idx == list(range(7))  # found keys only (sparse 0.3 answer), "missing" left out
    col = got.column("v").to_pylist()
    for pos, row in zip(idx, col):
        want = vals[int(keys[pos][1:])]
        assert bits(row if row is None else np.array(row, dtype=ELEM[dtype][1])) == bits(want), (pos, keys[pos])
    assert col[1] is None and col[4] is None  # nulls at list level
    if dim is None:
        assert col[3] == [] and col[5] == []  # empty variable lists stay empty, not null


def test_fixed_answer_buffers_are_one_child_array(murr):
    """The FixedSizeList answer is a plain child buffer of rows x dim elements (zero copy)."""
    dim = 768
    rng = np.random.default_rng(1)
    m = rng.standard_normal((50, dim)).astype(np.float32)
    create(murr.url, schema("float32", dim, form=2))
    t = pa.table({"id": [f"k{i}" for i in range(50)],
                  "v": pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), dim)})
    assert write_arrow(murr.url, t).status_code == 200
    got = fetch_arrow(murr.url, [f"k{i}" for i in (7, 0, 49)])  # 0.2 form: dense answer
    arr = got.column("v").combine_chunks()
    flat = np.frombuffer(arr.values.buffers()[1], dtype=np.float32)[: 3 * dim]
    assert np.array_equal(flat.reshape(3, dim), m[[7, 0, 49]])


@pytest.mark.parametrize("form", [2, 3])
def test_schema_printed_back_in_its_form(murr, form):
    create(murr.url, schema("float16", 64, form=form))
    s = requests.get(f"{murr.url}/api/v1/table/t/schema").json()
    assert s["columns"]["v"]["dtype"] == "list<float16>" and s["columns"]["v"]["dim"] == 64
    assert ("key" in s) == (form == 2)
    create(murr.url, schema("int8", None, form=form), name="u")
    s = requests.get(f"{murr.url}/api/v1/table/u/schema").json()
    assert s["columns"]["v"]["dtype"] == "list<int8>" and "dim" not in s["columns"]["v"]


def test_schema_refusals(murr):
    u = f"{murr.url}/api/v1/table/bad"
    r = requests.put(u, json=schema("float32", 0))
    assert r.status_code == 400 and "dim" in r.text and "0" in r.text
    r = requests.put(u, json=schema("float32", 70000))
    assert r.status_code == 400 and "70000" in r.text and "65536" in r.text
    r = requests.put(u, json={"columns": {"id": {"dtype": "utf8", "nullable": False, "key": True},
                                          "v": {"dtype": "float32", "dim": 4}}})
    assert r.status_code == 400 and "'v'" in r.text and "float32" in r.text
    r = requests.put(u, json={"columns": {"id": {"dtype": "utf8", "nullable": False, "key": True},
                                          "v": {"dtype": "list<list<float32>>"}}})
    assert r.status_code == 422 and "one level" in r.text
    r = requests.put(u, json={"columns": {"v": {"dtype": "list<float32>", "nullable": False, "key": True}}})
    assert r.status_code == 400 and "'v'" in r.text


def test_json_write_and_answer(murr):
    create(murr.url, schema("float32", 3))
    r = requests.put(f"{murr.url}/api/v1/table/t/write",
                     json={"columns": {"id": ["a", "b", "c"], "v": [[0.1, 2, -3.5e-8], None, [1e38, 0, 0.95]]}})
    assert r.status_code == 200, r.text
    r = requests.post(f"{murr.url}/api/v1/table/t/fetch", json={"keys": {"id": ["c", "b", "a"]}, "columns": ["v"]})
    assert r.status_code == 200, r.text
    assert r.json()["columns"]["v"] == [[1e38, 0.0, 0.95], None, [0.1, 2.0, -3.5e-08]]  # float32 shortest digits
    assert '"v":[[1e+38,0.0,0.95],null,[0.1,2.0,-3.5e-08]]' in r.text


def test_json_float16_every_value_shortest(murr):
    """All 63,488 finite float16 values: written as Arrow HalfFloat, answered in JSON with
    the shortest digits that read back as that float16 (numpy's unique formatting)."""
    allh = np.arange(65536, dtype=np.uint16).view(np.float16)
    finite = allh[np.isfinite(allh)]
    create(murr.url, schema("float16", None))
    t = pa.table({"id": ["all"], "v": pa.ListArray.from_arrays(pa.array([0, len(finite)], pa.int32()), pa.array(finite))})
    assert write_arrow(murr.url, t).status_code == 200
    r = requests.post(f"{murr.url}/api/v1/table/t/fetch", json={"keys": {"id": ["all"]}, "columns": ["v"]})
    assert r.status_code == 200
    text = r.text
    body = text[text.index('"v":[[') + 6: text.index("]]")]
    toks = body.split(",")
    assert len(toks) == len(finite)
    for tok, h in zip(toks, finite):
        assert np.float16(float(tok)).tobytes() == h.tobytes(), tok
        shortest = np.format_float_positional(h, unique=True, trim="-")
        assert len(Decimal(tok).normalize().as_tuple().digits) == len(Decimal(shortest).normalize().as_tuple().digits) \
            or Decimal(tok) == 0, (tok, shortest)


def test_json_validation_names_column_row_sizes(murr):
    create(murr.url, schema("int8", 4))
    w = f"{murr.url}/api/v1/table/t/write"
    r = requests.put(w, json={"columns": {"id": ["a", "b"], "v": [[1, 2, 3, 4], [1, 2, 3]]}})
    assert r.status_code == 400 and "'v'" in r.text and "row 1" in r.text and "3 elements" in r.text and "4" in r.text
    r = requests.put(w, json={"columns": {"id": ["a"], "v": [[1, 2, 300, 4]]}})
    assert r.status_code == 400 and "element 2" in r.text and "300" in r.text
    r = requests.put(w, json={"columns": {"id": ["a"], "v": [[1, 2, 0.5, 4]]}})
    assert r.status_code == 400 and "0.5" in r.text
    r = requests.put(w, json={"columns": {"id": ["a"], "v": [[1, [2], 3, 4]]}})
    assert r.status_code == 400 and "one level" in r.text and "element 1" in r.text
    r = requests.put(w, json={"columns": {"id": ["a"], "v": [[1, None, 3, 4]]}})
    assert r.status_code == 400 and "cannot be null" in r.text
    r = requests.put(w, json={"columns": {"id": ["a"], "v": [5]}})
    assert r.status_code == 400 and "array" in r.text
    r = requests.post(f"{murr.url}/api/v1/table/t/fetch", json={"keys": {"id": ["a"]}, "columns": ["v"]})
    assert r.json()["columns"]["v"] == []  # nothing of the refused writes landed


def test_arrow_validation(murr):
    create(murr.url, schema("float16", 3, nullable=False))
    def put(arr):
        return write_arrow(murr.url, pa.table({"id": [f"k{i}" for i in range(len(arr))], "v": arr}))
    def h16(rows, dim=None):  # pyarrow builds float16 lists from numpy float16 values
        return pa.array([None if r is None else [np.float16(x) if x is not None else None for x in r] for r in rows],
                        pa.list_(pa.float16(), dim) if dim else pa.list_(pa.float16()))
    r = put(h16([[1, 2, 3], [1, 2]]))
    assert r.status_code == 400 and "'v'" in r.text and "row 1" in r.text and "2 elements" in r.text
    r = put(h16([[1, 2, 3, 4]], 4))
    assert r.status_code == 400 and "dimension 4" in r.text and "3" in r.text
    r = put(pa.array([[1, 2, 3]], pa.list_(pa.float32(), 3)))  # float32 -> float16 narrows
    assert r.status_code == 400 and "float32" in r.text and "float16" in r.text and "strict" in r.text
    r = put(pa.array([[1, 2, 3]], pa.list_(pa.float64(), 3)))
    assert r.status_code == 400 and "'v'" in r.text
    r = put(pa.array([[[1.0], [2.0], [3.0]]], pa.list_(pa.list_(pa.float32()), 3)))
    assert r.status_code == 400 and "one level" in r.text
    r = put(h16([[1, None, 3]], 3))
    assert r.status_code == 400 and "null" in r.text
    r = put(h16([None], 3))
    assert r.status_code == 400 and "non-nullable" in r.text
    # widening is lossless and accepted: int8 -> float16, and a variable list of the right length
    assert put(pa.array([[1, -128, 127]], pa.list_(pa.int8(), 3))).status_code == 200
    assert put(h16([[0.5, 1.5, 2.5], [1, 2, 3]])).status_code == 200
    got = fetch_arrow(murr.url, {"id": ["k0", "k1"]})
    assert got.column("v").to_pylist() == [[0.5, 1.5, 2.5], [1.0, 2.0, 3.0]]


def test_non_strict_narrowing_rounds(murr):
    sch = schema("float16", None)
    sch["columns"]["v"]["strict"] = False
    create(murr.url, sch)
    vals = [np.float32(0.1), np.float32(65519.0), np.float32(-1e-9)]  # 65519 rounds to 65504, not infinity
    t = pa.table({"id": ["a"], "v": pa.array([vals], pa.list_(pa.float32()))})
    assert write_arrow(murr.url, t).status_code == 200
    got = fetch_arrow(murr.url, {"id": ["a"]}).column("v").to_pylist()[0]
    assert np.array(got, np.float16).tobytes() == np.array(vals, np.float32).astype(np.float16).tobytes()


def test_restart_and_compaction_keep_vectors(murr_factory, tmp_path):
    s = murr_factory(tmp_path / "d", extra_env={"MURR_STORAGE_SEGMENT_MAX_BYTES": "65536"})  # ~16 rows a segment
    rng = np.random.default_rng(5)
    fixed = vectors(rng, "float32", 60, 1000, nulls={2})
    var = vectors(rng, "int8", 60, None, nulls={4}, empty={7})
    create(s.url, {"columns": {"id": {"dtype": "int64", "nullable": False, "key": True},
                               "name": {"dtype": "utf8"},
                               "f": {"dtype": "list<float32>", "dim": 1000},
                               "g": {"dtype": "list<int8>"}, "x": {"dtype": "float64"}}})
    t = pa.table({"id": pa.array(range(60), pa.int64()), "name": [f"n{i}" * (i % 4) for i in range(60)],
                  "f": arrow_list(fixed, "float32", 1000), "g": arrow_list(var, "int8"),
                  "x": pa.array(np.arange(60, dtype=np.float64))})
    assert write_arrow(s.url, t).status_code == 200
    # overwrite half the rows (garbage), then compact: vectors move to new records
    assert write_arrow(s.url, t.slice(0, 40)).status_code == 200
    assert requests.post(f"{s.url}/api/v1/table/t/compact").status_code == 200
    m = re.search(r'murr_table_compactions_total\{table="t"\} (\d+)', requests.get(f"{s.url}/metrics").text)
    assert m and int(m.group(1)) >= 1  # sealed segments with garbage were rewritten
    s.stop()
    s.start()
    got = fetch_arrow(s.url, {"id": list(range(59, -1, -1))}, columns=("name", "f", "g", "x"))
    for j, i in enumerate(range(59, -1, -1)):
        assert got.column("name")[j].as_py() == f"n{i}" * (i % 4)
        assert bits(None if got.column("f")[j].as_py() is None else np.array(got.column("f")[j].as_py(), np.float32)) \
            == bits(fixed[i])
        g = got.column("g")[j].as_py()
        assert bits(None if g is None else np.array(g, np.int8)) == bits(var[i])
        assert got.column("x")[j].as_py() == float(i)


def test_flight_put_and_get(murr):
    create(murr.url, schema("float32", 16))
    rng = np.random.default_rng(3)
    m = rng.standard_normal((300, 16)).astype(np.float32)
    t = pa.table({"id": [f"k{i}" for i in range(300)], "v": pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), 16)})
    c = fl.FlightClient(f"grpc://127.0.0.1:{murr.grpc_port}")
    try:
        w, _ = c.do_put(fl.FlightDescriptor.for_path("t"), t.schema)
        w.write_table(t, max_chunksize=64)
        w.close()
        keys = [f"k{i}" for i in (299, 0, 150)]
        tkt = fl.Ticket(json.dumps({"table": "t", "keys": {"id": keys}, "columns": ["v"]}).encode())
        got = c.do_get(tkt).read_all()
        assert got.schema.field("v").type == pa.list_(pa.float32(), 16)
        assert np.array(got.column("v").to_pylist(), np.float32).tobytes() == m[[299, 0, 150]].tobytes()
        info = c.get_schema(fl.FlightDescriptor.for_path("t"))
        assert info.schema.field("v").type == pa.list_(pa.float32(), 16)
    finally:
        c.close()


def test_pypi_client_031_with_list_columns(murr):
    """murr 0.3.1 (PyPI) does not know the list dtypes: its schema models refuse them with a
    pydantic ValidationError naming the column's dtype (a clear error, no misread); its data
    path is Arrow IPC, so writes and reads of vector columns work unchanged."""
    import pydantic
    from v03_util import Murr031
    db = Murr031(murr)
    create(murr.url, schema("float32", 4))
    create(murr.url, {"columns": {"id": {"dtype": "utf8", "nullable": False, "key": True},
                                  "s": {"dtype": "float32"}}}, name="plain")
    with pytest.raises(pydantic.ValidationError) as ei:
        db.get_schema("t")
    text = str(ei.value)
    assert "columns.v.dtype" in text and "list<float32>" in text
    with pytest.raises(pydantic.ValidationError):  # one vector table fails the whole listing
        db.list_tables()
    assert set(db.get_schema("plain").columns) == {"id", "s"}
    m = np.arange(12, dtype=np.float32).reshape(3, 4)
    db.write("t", pa.table({"id": ["a", "b", "c"], "v": pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), 4)}))
    got = db.read("t", {"id": ["c", "x", "a"]}, ["v"])
    assert got.column("_idx").to_pylist() == [0, 2]
    assert got.schema.field("v").type == pa.list_(pa.float32(), 4)
    assert np.array(got.column("v").to_pylist(), np.float32).tobytes() == m[[2, 0]].tobytes()
