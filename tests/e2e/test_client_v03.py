"""The PyPI client murr 0.3.1 (`murr.client.Client`: async, httpx, Arrow IPC for data, JSON
for schemas), unmodified, through its whole API against the real binary; one server for the
module.

What it proves: tables in the 0.3 schema form (per-column `key`, compound and integer keys,
`strict`) round-trip through the client's pydantic models, which forbid extra fields, so
our schema answers have exactly murr 0.3.1's form; the client's Arrow IPC fetch requests get
sparse `_idx` answers whose values, joined on `_idx`, are what was written (a Python model
of the writes is the oracle); every error class the client maps (TableNotFoundError,
TableAlreadyExistsError, InvalidRequestError, ServerError) comes from the status it should,
with a message that names the thing."""
import asyncio
import os
import shutil

import numpy as np
import pyarrow as pa
import pytest
import requests

from murr.client import (IDX_COLUMN, Client, ColumnSchema, DType, InvalidRequestError, MurrError, ServerError,
                         TableAlreadyExistsError, TableNotFoundError, TableSchema)

from conftest import REFERENCE_BIN, ours_only
from test_diskfull import fill, tmpfs  # noqa: F401 (a fixture: a small tmpfs, root only)
from v03_util import Model, Murr031, f32, scatter

U8, I64, F32, F64 = DType.UTF8, DType.INT64, DType.FLOAT32, DType.FLOAT64


def key(dtype):
    return ColumnSchema(dtype=dtype, nullable=False, key=True)


def col(dtype, **kw):
    return ColumnSchema(dtype=dtype, **kw)


SCHEMAS = {
    # (a) one utf8 key
    "docs": TableSchema(columns={"id": key(U8), "score": col(F32), "category": col(U8), "n": col(I64)}),
    # (b) compound utf8 + int64 key, the key columns not first and not adjacent
    "ratings": TableSchema(columns={"score": col(F64), "user": key(U8), "label": col(U8), "item": key(I64)}),
    # (c) int32 key
    "events": TableSchema(columns={"id": key(DType.INT32), "flag": col(DType.BOOL), "v": col(DType.INT16)}),
    # (d) uint64 key
    "big": TableSchema(columns={"id": key(DType.UINT64), "v": col(DType.UINT64), "f": col(F64, nullable=False)}),
    # (e) a float32 column that rounds float64 (strict: false) beside a strict one
    "loose": TableSchema(columns={"id": key(U8), "score": col(F32, strict=False), "exact": col(F32)}),
}


@pytest.fixture(scope="module")
def db(murr_module):
    return Murr031(murr_module)


@pytest.fixture(scope="module")
def tables(db):
    """Creates the five tables and writes them (multi-batch tables, upserts across batches);
    returns their models."""
    for name, schema in SCHEMAS.items():
        db.create_table(name, schema)
    models = {}

    m = models["docs"] = Model(["id"], ["score", "category", "n"])
    s = pa.schema([("id", pa.string()), ("score", pa.float32()), ("category", pa.string()), ("n", pa.int64())])
    b1 = {"id": [f"d{i}" for i in range(100)], "score": [i / 7 for i in range(100)],
          "category": [["ml", "infra", None][i % 3] for i in range(100)], "n": [i * 10**12 for i in range(100)]}
    b2 = {"id": [f"d{i}" for i in range(100, 200)] + ["d5", ""], "score": [None] * 100 + [-1.5, 3.25],
          "category": ["ünïcode ✓"] * 100 + ["over", "empty key"], "n": [-i for i in range(100)] + [None, -(2**63)]}
    b3 = {"id": ["d7"], "score": [None], "category": [None], "n": [None]}  # a found row of nulls
    batches = [pa.record_batch(b, schema=s) for b in (b1, b2, b3)]
    t = pa.Table.from_batches(batches)
    assert len(t.to_batches()) == 3  # the client sends one IPC message per batch
    db.write("docs", t)
    for b in (b1, b2, b3):
        m.write({**b, "score": [f32(v) for v in b["score"]]})

    m = models["ratings"] = Model(["user", "item"], ["score", "label"])
    r1 = {"user": ["u1", "u11", "u1", "", "u", "ü"], "item": [12, 2, 2, 0, -1, 2**62],
          "score": [0.5, 1.5, 2.5, 3.5, 4.5, 5.5], "label": ["a", "b", "c", "d", "e", "f"]}
    r2 = {"user": ["u1", "u2"], "item": [12, 12], "score": [9.75, None], "label": [None, "new"]}
    db.write("ratings", pa.Table.from_batches([pa.record_batch(r1), pa.record_batch(r2)]))
    m.write(r1)
    m.write(r2)

    m = models["events"] = Model(["id"], ["flag", "v"])
    e1 = {"id": [-(2**31), -1, 0, 1, 2**31 - 1], "flag": [True, False, None, True, False],
          "v": [-(2**15), -1, 0, 1, 2**15 - 1]}
    db.write("events", pa.table({"id": pa.array(e1["id"], pa.int32()), "flag": pa.array(e1["flag"]),
                                 "v": pa.array(e1["v"], pa.int16())}))
    e2 = {"id": [7, -7, 1], "flag": [True, True, False], "v": [70, -70, 11]}
    # int16 keys and int8 values: widened into the int32 key and the int16 column
    db.write("events", pa.table({"id": pa.array(e2["id"], pa.int16()), "flag": pa.array(e2["flag"]),
                                 "v": pa.array(e2["v"], pa.int8())}))
    m.write(e1)
    m.write(e2)

    m = models["big"] = Model(["id"], ["v", "f"])
    g1 = {"id": [0, 1, 2**63 - 1, 2**63, 2**63 + 1, 2**64 - 1], "v": [2**64 - 1, 2**63, 0, 1, None, 5],
          "f": [0.0, -0.0, 1e300, -1e-300, 2.5, float("inf")]}
    db.write("big", pa.table({"id": pa.array(g1["id"], pa.uint64()), "v": pa.array(g1["v"], pa.uint64()),
                              "f": pa.array(g1["f"], pa.float64())}))
    g2 = {"id": [2**32 - 1, 42], "v": [3, 4], "f": [1.0, 2.0]}  # uint32 keys widened into uint64
    db.write("big", pa.table({"id": pa.array(g2["id"], pa.uint32()), "v": pa.array(g2["v"], pa.uint32()),
                              "f": pa.array(g2["f"], pa.float32())}))
    m.write(g1)
    m.write(g2)

    m = models["loose"] = Model(["id"], ["score", "exact"])
    l1 = {"id": ["a", "b", "c", "d"], "score": [0.1, 1e300, -2.5, None], "exact": [0.25, None, 1.0, 2.0]}
    db.write("loose", pa.table({"id": l1["id"], "score": pa.array(l1["score"], pa.float64()),
                                "exact": pa.array(l1["exact"], pa.float32())}))
    m.write({"id": l1["id"], "score": [f32(v) for v in l1["score"]], "exact": l1["exact"]})
    return models


# ---- schemas ------------------------------------------------------------------------------

def test_get_schema_round_trips_every_form3_table(db, tables, murr_module):
    for name, schema in SCHEMAS.items():
        got = db.get_schema(name)
        assert isinstance(got, TableSchema)
        assert got == schema, name
        assert list(got.columns) == list(schema.columns), f"{name}: column order"
        assert got.key_columns == schema.key_columns
        # every column carries dtype, nullable, key and strict (murr 0.3.1's answer)
        raw = requests.get(f"{murr_module.url}/api/v1/table/{name}/schema").json()
        assert raw == schema.model_dump(mode="json"), name
        assert list(raw["columns"]) == list(schema.columns)


def test_list_tables(db, tables):
    listed = db.list_tables()
    assert listed == SCHEMAS
    for name, schema in listed.items():
        assert list(schema.columns) == list(SCHEMAS[name].columns)


# ---- reads --------------------------------------------------------------------------------

def test_utf8_key_hits_misses_duplicates(db, tables):
    m = tables["docs"]
    keys = {"id": ["d5", "nope", "d0", "d5", "d150", "", "d199", "d7", "D5", "d5 "]}
    for columns in (["score", "category", "n"], ["n", "score"], ["category"]):
        got = db.read("docs", keys, columns)
        types = [{"score": pa.float32(), "category": pa.string(), "n": pa.int64()}[c] for c in columns]
        assert scatter(got, len(keys["id"]), columns, types) == m.expect(keys, columns)
    rows = scatter(db.read("docs", keys, ["score", "n"]), 10, ["score", "n"])
    assert rows[0] == rows[3] == (-1.5, None)  # the upsert of the second batch, twice
    assert rows[1] is None and rows[8] is None and rows[9] is None  # misses have no row
    assert rows[7] == (None, None)  # a found row of stored nulls is not a miss
    assert rows[5] == (3.25, -(2**63))  # the empty string is a key like any other


def test_read_all_rows_as_table_and_batch(db, tables):
    m = tables["docs"]
    ids = [f"d{i}" for i in range(199, -1, -1)] + ["x"]
    keys = {"id": ids}
    want = m.expect(keys, ["score", "category", "n"])
    for k in (pa.table({"id": ids}), pa.record_batch({"id": pa.array(ids)}),
              pa.table({"id": pa.array(ids, pa.large_string())})):  # large_utf8 widens into utf8
        got = db.read("docs", k, ["score", "category", "n"])
        assert got.num_rows == 200
        assert scatter(got, len(ids), ["score", "category", "n"]) == want


def test_nothing_found_has_the_full_schema(db, tables):
    for keys in ({"id": ["x", "y", "x"]}, {"id": pa.array([], pa.string())}):
        got = db.read("docs", keys, ["n", "category", "score"])
        assert got.num_rows == 0
        assert got.schema.names == [IDX_COLUMN, "n", "category", "score"]
        assert got.schema.types == [pa.uint32(), pa.int64(), pa.string(), pa.float32()]
    got = db.read("ratings", {"user": ["u1"], "item": [13]}, ["label"])
    assert got.num_rows == 0 and got.schema.names == [IDX_COLUMN, "label"] and got.schema.types[1] == pa.string()


def test_compound_key(db, tables):
    m = tables["ratings"]
    keys = {"user": ["u1", "u11", "u1", "u1", "", "u", "ü", "u2", "u1", "u11", "u2"],
            "item": [12, 2, 2, 1, 0, -1, 2**62, 12, 12, 12, 13]}
    got = db.read("ratings", keys, ["score", "label"])  # item: Python ints, int64 as declared
    want = m.expect(keys, ["score", "label"])
    assert scatter(got, 11, ["score", "label"], [pa.float64(), pa.string()]) == want
    assert want[0] == want[8] == (9.75, None) and want[2] == (2.5, "c") and want[3] is None
    # ("u1", 12) and ("u11", 2) are different keys: components do not run into each other
    assert want[1] == (1.5, "b") and want[9] is None
    # keys as a pa.Table with the key columns in the other order, item as int32 (widened)
    k = pa.table({"item": pa.array(keys["item"][:6], pa.int32()), "user": keys["user"][:6]})
    got = db.read("ratings", k, ["label"])
    assert scatter(got, 6, ["label"]) == m.expect({c: keys[c][:6] for c in keys}, ["label"])


def test_int32_key(db, tables):
    m = tables["events"]
    ids = [1, -(2**31), 7, 2, 2**31 - 1, -7, 0, 1, -1]
    keys = {"id": ids}
    want = m.expect(keys, ["flag", "v"])
    assert want[0] == (False, 11) and want[3] is None and want[6] == (None, 0)
    got = db.read("events", {"id": pa.array(ids, pa.int32())}, ["flag", "v"])
    assert scatter(got, len(ids), ["flag", "v"], [pa.bool_(), pa.int16()]) == want
    got = db.read("events", {"id": pa.array([7, -7, 3], pa.int8())}, ["v"])  # int8 widens into int32
    assert scatter(got, 3, ["v"]) == [(70,), (-70,), None]
    # Python ints are int64: the server never narrows a key, whatever the values
    with pytest.raises(InvalidRequestError) as ei:
        db.read("events", {"id": [1, 2]}, ["v"])
    e = ei.value
    assert e.status_code == 400
    assert "id" in e.message and "int64" in e.message.lower() and "int32" in e.message.lower(), e.message
    with pytest.raises(InvalidRequestError) as ei:
        db.read("events", {"id": pa.array([1], pa.uint32())}, ["v"])  # uint32 does not fit int32
    assert ei.value.status_code == 400 and "uint32" in ei.value.message.lower()


def test_uint64_key_above_2_63(db, tables):
    m = tables["big"]
    ids = [2**64 - 1, 2**63, 3, 2**63 + 1, 0, 2**63 - 1, 1, 2**32 - 1, 42, 2**63 + 2]
    keys = {"id": ids}
    want = m.expect(keys, ["v", "f"])
    assert want[0] == (5, float("inf")) and want[1] == (1, -1e-300) and want[2] is None
    got = db.read("big", {"id": pa.array(ids, pa.uint64())}, ["v", "f"])
    assert scatter(got, len(ids), ["v", "f"], [pa.uint64(), pa.float64()]) == want
    got = db.read("big", {"id": pa.array([0, 42, 2**32 - 1], pa.uint32())}, ["v"])  # uint32 widens
    assert scatter(got, 3, ["v"]) == [(2**64 - 1,), (4,), (3,)]
    with pytest.raises(InvalidRequestError) as ei:  # int64 into uint64 is not a widening
        db.read("big", {"id": [0]}, ["v"])
    assert ei.value.status_code == 400 and "int64" in ei.value.message.lower()


def test_strict_false_rounds_float64(db, tables):
    m = tables["loose"]
    keys = {"id": ["a", "b", "c", "d", "e"]}
    got = scatter(db.read("loose", keys, ["score", "exact"]), 5, ["score", "exact"], [pa.float32(), pa.float32()])
    assert got == m.expect(keys, ["score", "exact"])
    assert got[0][0] == float(np.float32(0.1)) != 0.1  # rounded to the nearest float32
    assert got[1][0] == float("inf")  # out of range: infinity, as the reference's Arrow cast
    # the strict column refuses float64 and names the column and the cast; nothing lands
    bad = pa.table({"id": ["z", "a"], "score": pa.array([1.0, 2.0]), "exact": pa.array([1.0, 2.0])})
    with pytest.raises(InvalidRequestError) as ei:
        db.write("loose", bad)
    msg = ei.value.message
    assert ei.value.status_code == 400
    assert "exact" in msg and "float64" in msg.lower() and "float32" in msg.lower(), msg
    assert scatter(db.read("loose", {"id": ["z", "a"]}, ["score"]), 2, ["score"]) == [None, (float(np.float32(0.1)),)]


def test_no_columns_asks_which_keys_exist(db, tables):
    """An empty column list: `_idx` alone, one row per key found (what murr 0.3.1 answers)."""
    got = db.read("ratings", {"user": ["u1", "zz", "u11", "u1"], "item": [12, 12, 2, 99]}, [])
    assert scatter(got, 4, []) == [(), None, (), None]
    got = db.read("docs", {"id": ["x"]}, [])
    assert got.num_rows == 0 and got.schema.names == [IDX_COLUMN]


def test_many_concurrent_reads_on_one_client(murr_module, tables):
    """One httpx client, 40 reads in flight on its connection pool."""
    m = tables["ratings"]
    reqs = [{"user": ["u1", "u11", "zz"][: 1 + i % 3], "item": [12, 2, 0][: 1 + i % 3]} for i in range(40)]

    async def go():
        async with Client(murr_module.url) as c:
            return await asyncio.gather(*(c.read("ratings", k, ["score"]) for k in reqs))
    for k, got in zip(reqs, asyncio.run(go())):
        assert scatter(got, len(k["user"]), ["score"]) == m.expect(k, ["score"])


# ---- drop and compact ---------------------------------------------------------------------

def test_drop_table_and_reuse_the_name(db, tables):
    s1 = TableSchema(columns={"k": key(DType.INT64), "v": col(U8)})
    db.create_table("scratch", s1)
    try:
        db.write("scratch", pa.table({"k": [1, 2], "v": ["one", "two"]}))
        assert scatter(db.read("scratch", {"k": [2]}, ["v"]), 1, ["v"]) == [("two",)]
    finally:
        assert db.drop_table("scratch") is None
    for call in (lambda: db.get_schema("scratch"), lambda: db.read("scratch", {"k": [1]}, ["v"]),
                 lambda: db.drop_table("scratch")):
        with pytest.raises(TableNotFoundError) as ei:
            call()
        assert ei.value.status_code == 404 and ei.value.message == "table not found: scratch"
    assert "scratch" not in db.list_tables()
    # the name is free again, for another schema; the old rows are gone
    s2 = TableSchema(columns={"k": key(DType.INT64), "v": col(I64)})
    db.create_table("scratch", s2)
    try:
        assert db.get_schema("scratch") == s2
        assert db.read("scratch", {"k": [1, 2]}, ["v"]).num_rows == 0
    finally:
        db.drop_table("scratch")


def test_compact_keeps_the_latest_rows(db, tables):
    db.create_table("churn", TableSchema(columns={"u": key(U8), "i": key(DType.UINT16), "v": col(I64)}))
    try:
        m = Model(["u", "i"], ["v"])
        for round_ in range(5):  # every row overwritten four times: garbage to compact
            data = {"u": [f"u{j % 7}" for j in range(300)], "i": [j for j in range(300)],
                    "v": [round_ * 1000 + j for j in range(300)]}
            db.write("churn", pa.table({"u": data["u"], "i": pa.array(data["i"], pa.uint16()), "v": data["v"]}))
            m.write(data)
        assert db.compact("churn") is None
        keys = {"u": [f"u{j % 7}" for j in range(0, 300, 3)] + ["u0"], "i": list(range(0, 300, 3)) + [1]}
        k = pa.table({"u": keys["u"], "i": pa.array(keys["i"], pa.uint16())})
        assert scatter(db.read("churn", k, ["v"]), len(keys["u"]), ["v"]) == m.expect(keys, ["v"])
        assert m.expect(keys, ["v"])[0] == (4000,)
    finally:
        db.drop_table("churn")
    with pytest.raises(TableNotFoundError):
        db.compact("churn")


# ---- errors -------------------------------------------------------------------------------

def test_table_already_exists(db, tables):
    with pytest.raises(TableAlreadyExistsError) as ei:
        db.create_table("docs", SCHEMAS["ratings"])
    assert ei.value.status_code == 409 and ei.value.message == "table already exists: docs"
    assert db.get_schema("docs") == SCHEMAS["docs"]  # untouched


def test_table_not_found_everywhere(db, tables):
    t = pa.table({"id": ["a"]})
    for call in (lambda: db.get_schema("nope"), lambda: db.read("nope", {"id": ["a"]}, ["x"]),
                 lambda: db.write("nope", t), lambda: db.compact("nope"), lambda: db.drop_table("nope")):
        with pytest.raises(TableNotFoundError) as ei:
            call()
        assert ei.value.status_code == 404 and ei.value.message == "table not found: nope"
        assert isinstance(ei.value, MurrError)


@pytest.mark.parametrize("columns,names", [
    ({"a": col(U8), "b": col(F32)}, ["key"]),                              # no key column
    ({"id": ColumnSchema(dtype=U8, key=True), "b": col(F32)}, ["id", "nullable"]),  # nullable key
    ({"id": key(F32), "b": col(U8)}, ["id"]),                               # float key
    ({"id": key(F64), "b": col(U8)}, ["id"]),
    ({"id": key(DType.BOOL), "b": col(U8)}, ["id"]),                        # bool key
    ({"id": key(U8), "_idx": col(DType.UINT32)}, ["_idx"]),                 # the reserved name
    ({"_idx": key(U8), "b": col(U8)}, ["_idx"]),
], ids=["no-key", "nullable-key", "float32-key", "float64-key", "bool-key", "idx-column", "idx-key"])
def test_bad_schemas_are_invalid_requests(db, tables, columns, names):
    with pytest.raises(InvalidRequestError) as ei:
        db.create_table("bad", TableSchema(columns=columns))
    assert ei.value.status_code == 400, ei.value.message
    for n in names:
        assert n in ei.value.message, ei.value.message
    with pytest.raises(TableNotFoundError):  # a refused schema does not take the name
        db.get_schema("bad")


@pytest.mark.parametrize("table,keys,columns,names", [
    ("docs", {"id": ["d1"]}, ["score", "nope"], ["nope"]),      # unknown column
    ("docs", {"id": ["d1"]}, ["_idx"], ["_idx"]),               # the answer's own column
    ("docs", {"id": ["d1"]}, ["id"], ["id"]),                   # a key column
    ("ratings", {"user": ["u1"], "item": [12]}, ["item"], ["item"]),
    # the reference does not name the key columns
    pytest.param("ratings", {"user": ["u1"]}, ["score"], ["item"], marks=ours_only),  # a key column missing
    pytest.param("docs", {"id": ["d1"], "zz": ["x"]}, ["score"], ["zz"], marks=ours_only),  # an extra one
    ("docs", {"id": [1]}, ["score"], ["id"]),                   # int64 for a utf8 key
], ids=["unknown", "idx", "key", "compound-key", "missing-key", "extra-key", "wrong-type"])
def test_bad_reads_are_invalid_requests(db, tables, table, keys, columns, names):
    with pytest.raises(InvalidRequestError) as ei:
        db.read(table, keys, columns)
    assert 400 <= ei.value.status_code < 500
    for n in names:
        assert n in ei.value.message, ei.value.message


@ours_only  # the reference answers a write without a key column with a 500 ("Arrow error")
def test_bad_writes_are_invalid_requests_and_atomic(db, tables):
    m = tables["ratings"]
    cases = [
        (pa.table({"user": ["w1"], "score": [1.0], "label": ["x"]}), "item"),                  # key column missing
        (pa.table({"user": ["w1"], "item": [1], "label": ["x"]}), "score"),                   # value column missing
        (pa.table({"user": pa.array(["w1", None]), "item": [1, 2], "score": [1.0, 2.0], "label": ["x", "y"]}),
         "user"),                                                                            # null key
        (pa.table({"user": ["w1"], "item": ["1"], "score": [1.0], "label": ["x"]}), "item"),  # utf8 for int64
    ]
    for t, name in cases:
        with pytest.raises(InvalidRequestError) as ei:
            db.write("ratings", t)
        assert ei.value.status_code == 400 and name in ei.value.message, ei.value.message
    got = db.read("ratings", {"user": ["w1", "u1"], "item": [1, 12]}, ["score"])
    assert scatter(got, 2, ["score"]) == [None, (9.75,)] == m.expect({"user": ["w1", "u1"], "item": [1, 12]},
                                                                     ["score"])


class _ManifestInTheWay:
    """Makes the data directory's manifest.json unreplaceable (a non-empty directory where
    the file was): every catalog change fails with an I/O error until it is restored. As root
    a chmod would not stop the server, and this is a real fault: rename(2) fails."""

    def __init__(self, data_dir):
        self.path = data_dir / "manifest.json"
        self.saved = data_dir / "manifest.json.saved-by-test"

    def __enter__(self):
        assert self.path.is_file(), f"no manifest at {self.path}"
        os.rename(self.path, self.saved)
        self.path.mkdir()
        (self.path / "in-the-way").write_text("x")
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.path)
        os.rename(self.saved, self.path)


def test_server_error_when_the_manifest_cannot_be_written(db, tables, murr_module):
    s = TableSchema(columns={"k": key(U8), "v": col(I64)})
    with _ManifestInTheWay(murr_module.data_dir):
        with pytest.raises(ServerError) as ei:
            db.create_table("unlucky", s)
        assert ei.value.status_code == 500
        # the message says which file (the reference: "IO error: Is a directory (os error 21)")
        assert REFERENCE_BIN or "manifest" in ei.value.message, ei.value.message
        # reads and writes do not touch the manifest
        db.write("docs", pa.table({"id": ["late"], "score": pa.array([0.5], pa.float32()), "category": ["x"],
                                   "n": [1]}))
        assert scatter(db.read("docs", {"id": ["d1", "late"]}, ["n"]), 2, ["n"]) == [(10**12,), (1,)]
    tables["docs"].write({"id": ["late"], "score": [0.5], "category": ["x"], "n": [1]})
    if REFERENCE_BIN:  # it half-keeps the table it could not record (exists on create, not on get)
        return
    # the failed create left no table behind, and the name works once the fault is gone
    with pytest.raises(TableNotFoundError):
        db.get_schema("unlucky")
    db.create_table("unlucky", s)
    assert db.get_schema("unlucky") == s
    db.drop_table("unlucky")
    assert db.list_tables() == SCHEMAS


@ours_only  # the reference answers 500 and drops the table all the same
def test_failed_drop_keeps_the_table(db, tables, murr_module):
    with _ManifestInTheWay(murr_module.data_dir):
        with pytest.raises(ServerError) as ei:
            db.drop_table("docs")
        assert ei.value.status_code == 500 and "manifest" in ei.value.message, ei.value.message
    assert db.get_schema("docs") == SCHEMAS["docs"]
    m = tables["docs"]
    keys = {"id": ["d1", "d5", "d199", "late", "x"]}
    assert scatter(db.read("docs", keys, ["score", "n"]), 5, ["score", "n"]) == m.expect(keys, ["score", "n"])
    assert db.list_tables() == SCHEMAS


@ours_only
def test_server_error_on_a_full_disk(tmpfs, murr_factory):  # noqa: F811
    """A write that finds the disk full is a ServerError (507) to the client, lands no row, and
    the table keeps answering; with space again the same write works."""
    server = murr_factory(data_dir=tmpfs / "data", extra_env={"MURR_STORAGE_SEGMENT_MAX_BYTES": "1048576"})
    db = Murr031(server)
    db.create_table("full", SCHEMAS["ratings"])
    db.write("full", pa.table({"user": ["a"], "item": [1], "score": [0.5], "label": ["x"]}))
    fill(tmpfs / "filler")
    n = 5000
    big = pa.table({"user": [f"u{i}" for i in range(n)], "item": list(range(n)), "score": [1.0] * n,
                    "label": ["v" * 200] * n})
    with pytest.raises(ServerError) as ei:
        db.write("full", big)
    assert ei.value.status_code == 507 and "space" in ei.value.message, ei.value.message
    keys = {"user": ["a", "u0", f"u{n - 1}"], "item": [1, 0, n - 1]}
    assert scatter(db.read("full", keys, ["label"]), 3, ["label"]) == [("x",), None, None]
    (tmpfs / "filler").unlink()
    db.write("full", big)
    assert scatter(db.read("full", keys, ["label"]), 3, ["label"]) == [("x",), ("v" * 200,), ("v" * 200,)]
