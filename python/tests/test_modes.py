"""The same cases in embedded, HTTP and Flight mode (conftest.py `db`)."""
from __future__ import annotations

import gc
import threading

import numpy as np
import pyarrow as pa
import pytest

import pymurr
from pymurr import _arrow
from pymurr import ColumnSchema, DType, TableSchema

ALL_DTYPES = {
    "u8": (DType.UINT8, pa.uint8(), [0, 255, 7]),
    "u16": (DType.UINT16, pa.uint16(), [0, 65535, 7]),
    "u32": (DType.UINT32, pa.uint32(), [0, 4294967295, 7]),
    "u64": (DType.UINT64, pa.uint64(), [0, 18446744073709551615, 7]),
    "i8": (DType.INT8, pa.int8(), [-128, 127, 0]),
    "i16": (DType.INT16, pa.int16(), [-32768, 32767, 0]),
    "i32": (DType.INT32, pa.int32(), [-2147483648, 2147483647, 0]),
    "i64": (DType.INT64, pa.int64(), [-9223372036854775808, 9223372036854775807, 0]),
    "f32": (DType.FLOAT32, pa.float32(), [1.5, -0.25, 2.0 ** 127]),
    "f64": (DType.FLOAT64, pa.float64(), [1e-300, -2.5, 1.0e308]),
    "b": (DType.BOOL, pa.bool_(), [True, False, True]),
    "s": (DType.UTF8, pa.string(), ["", "naïve ☃", "x" * 300]),
}


def key_schema(**cols):
    return TableSchema(columns={"id": ColumnSchema(dtype=DType.UTF8, nullable=False, key=True), **cols})


def by_idx(t: pa.Table) -> pa.Table:
    return t.sort_by("_idx")


def test_every_dtype_round_trips(db, name):
    db.create_table(name, key_schema(**{c: ColumnSchema(dtype=d) for c, (d, _, _) in ALL_DTYPES.items()}))
    data = {"id": pa.array(["k0", "k1", "k2"])}
    data.update({c: pa.array(v, t) for c, (_, t, v) in ALL_DTYPES.items()})
    db.write(name, pa.table(data))
    cols = list(ALL_DTYPES)
    got = by_idx(db.read(name, {"id": ["k2", "k0", "k1"]}, cols))
    assert got.column_names == ["_idx"] + cols
    assert got.column("_idx").to_pylist() == [0, 1, 2]
    assert got.schema.field("_idx").type == pa.uint32()
    for c, (_, t, v) in ALL_DTYPES.items():
        assert got.schema.field(c).type == t, c
        assert got.column(c).to_pylist() == [v[2], v[0], v[1]], c


def test_schema_and_list_tables(db, name):
    schema = key_schema(score=ColumnSchema(dtype=DType.FLOAT32, strict=False), n=ColumnSchema(dtype="int64", nullable=False))
    db.create_table(name, schema)
    got = db.get_schema(name)
    assert got == schema
    assert got.key_columns == ["id"]
    assert db.list_tables()[name] == schema


def test_form2_dict_schema(db, name):
    db.create_table(name, {"key": "id", "columns": {"id": {"dtype": "utf8", "nullable": False},
                                                     "v": {"dtype": "float64"}}})
    assert '"key":"id"' in db.get_schema_json(name).replace(" ", "")
    assert db.get_schema(name).key_columns == ["id"]
    db.write(name, pa.table({"id": ["a"], "v": [2.5]}))
    assert db.read(name, ["a"], ["v"]).column("v").to_pylist() == [2.5]


def test_pypi_client_schema_model_is_accepted(db, name):
    from murr.client import ColumnSchema as C, DType as D, TableSchema as T  # PyPI murr 0.3.1

    db.create_table(name, T(columns={"id": C(dtype=D.INT64, nullable=False, key=True), "x": C(dtype=D.INT8)}))
    assert db.get_schema(name).model_dump() == T.model_validate(db.get_schema(name).model_dump()).model_dump()
    assert db.get_schema(name).columns["x"].dtype == DType.INT8


def test_nulls_missing_and_duplicate_keys(db, name):
    db.create_table(name, key_schema(score=ColumnSchema(dtype=DType.FLOAT32), tag=ColumnSchema(dtype=DType.UTF8)))
    db.write(name, pa.table({"id": ["a", "b"], "score": pa.array([None, 2.0], pa.float32()), "tag": ["x", None]}))
    got = by_idx(db.read(name, {"id": ["b", "zz", "a", "b"]}, ["score", "tag"]))
    assert got.column("_idx").to_pylist() == [0, 2, 3]
    assert got.column("score").to_pylist() == [2.0, None, 2.0]
    assert got.column("tag").to_pylist() == [None, "x", None]
    arrays = pymurr.to_numpy(got)
    assert np.isnan(arrays["score"][1]) and arrays["score"][0] == 2.0
    empty = db.read(name, ["nope"], ["score"])
    assert empty.num_rows == 0 and empty.column_names == ["_idx", "score"]


def test_compound_key_and_pandas_write(db, name):
    pd = pytest.importorskip("pandas")
    db.create_table(name, {"columns": {"user": {"dtype": "int64", "nullable": False, "key": True},
                                       "item": {"dtype": "utf8", "nullable": False, "key": True},
                                       "score": {"dtype": "float64"}}})
    db.write(name, pd.DataFrame({"user": [1, 1, 2], "item": ["a", "b", "a"], "score": [0.5, 1.5, 2.5]}))
    got = by_idx(db.read(name, {"user": [2, 1, 9], "item": ["a", "b", "a"]}, ["score"]))
    assert got.column("_idx").to_pylist() == [0, 1]
    assert got.column("score").to_pylist() == [2.5, 1.5]


def test_upsert_last_duplicate_wins_and_record_batch(db, name):
    db.create_table(name, key_schema(v=ColumnSchema(dtype=DType.INT32)))
    db.write(name, pa.RecordBatch.from_pydict({"id": ["a", "a", "b"], "v": pa.array([1, 2, 3], pa.int32())}))
    db.write(name, pa.table({"id": ["b"], "v": pa.array([30], pa.int32())}))
    got = by_idx(db.read(name, ["a", "b"], ["v"]))
    assert got.column("v").to_pylist() == [2, 30]


def test_errors_are_the_pypi_client_classes(db, name):
    with pytest.raises(pymurr.TableNotFoundError) as e:
        db.read(name, {"id": ["a"]}, ["v"])
    assert e.value.status_code == 404 and name in e.value.message
    db.create_table(name, key_schema(v=ColumnSchema(dtype=DType.FLOAT32)))
    with pytest.raises(pymurr.TableAlreadyExistsError) as e:
        db.create_table(name, key_schema())
    assert e.value.status_code == 409
    with pytest.raises(pymurr.InvalidRequestError) as e:
        db.read(name, {"id": ["a"]}, ["nope"])
    assert "nope" in e.value.message and e.value.status_code == 400
    with pytest.raises(pymurr.InvalidRequestError) as e:  # float64 into a strict float32 column
        db.write(name, pa.table({"id": ["a"], "v": pa.array([0.1], pa.float64())}))
    assert "v" in e.value.message
    with pytest.raises(pymurr.InvalidRequestError):
        db.create_table(name + "x", {"columns": {"id": {"dtype": "float32", "nullable": False, "key": True}}})
    assert isinstance(e.value, pymurr.MurrError)
    db.drop_table(name)
    with pytest.raises(pymurr.TableNotFoundError):
        db.drop_table(name)


def test_concurrent_readers(db, name):
    n = 2000
    db.create_table(name, key_schema(v=ColumnSchema(dtype=DType.INT64)))
    db.write(name, pa.table({"id": ["k%d" % i for i in range(n)], "v": pa.array(range(n), pa.int64())}))
    failures = []

    def reader(seed):
        rng = np.random.default_rng(seed)
        for _ in range(30):
            ks = rng.integers(0, n, 100)
            t = by_idx(db.read(name, ["k%d" % k for k in ks], ["v"]))
            if t.column("v").to_pylist() != ks.tolist():
                failures.append(seed)

    threads = [threading.Thread(target=reader, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_replace_versions_rollback(db, name):
    db.create_table(name, key_schema(v=ColumnSchema(dtype=DType.INT64)))
    db.write(name, pa.table({"id": ["a", "b"], "v": [1, 2]}))
    db.replace(name, pa.table({"id": ["c"], "v": [3]}))
    assert by_idx(db.read(name, ["a", "c"], ["v"])).column("_idx").to_pylist() == [1]
    vs = db.versions(name)
    assert [v["id"] for v in vs] == [2, 1]
    assert vs[0]["serving"] and vs[0]["rows"] == 1 and not vs[1]["serving"]
    assert db.rollback(name) == 1  # version 1 serves again (ids are never reused)
    assert by_idx(db.read(name, ["a", "b", "c"], ["v"])).column("v").to_pylist() == [1, 2]
    with pytest.raises(pymurr.TableNotFoundError):
        db.rollback(name, 99)


def test_compact_keeps_rows(db, name):
    db.create_table(name, key_schema(v=ColumnSchema(dtype=DType.INT64)))
    for i in range(3):
        db.write(name, pa.table({"id": ["a", "b"], "v": [i, i + 10]}))
    db.compact(name)
    assert by_idx(db.read(name, ["a", "b"], ["v"])).column("v").to_pylist() == [2, 12]


def test_read_numpy(db, name):
    db.create_table(name, key_schema(f=ColumnSchema(dtype=DType.FLOAT32)))
    db.write(name, pa.table({"id": ["a", "b"], "f": pa.array([1.5, 2.5], pa.float32())}))
    arrays = db.read_numpy(name, ["b", "a"], ["f"])
    order = np.argsort(arrays["_idx"])
    assert arrays["f"].dtype == np.float32 and arrays["f"][order].tolist() == [2.5, 1.5]


def dlpack_table(db, name):
    db.create_table(name, key_schema(f=ColumnSchema(dtype=DType.FLOAT32), i=ColumnSchema(dtype=DType.INT64),
                                     v=ColumnSchema(dtype=DType.LIST_FLOAT32, dim=3),
                                     q=ColumnSchema(dtype=DType.LIST_INT8, dim=2), b=ColumnSchema(dtype=DType.BOOL),
                                     n=ColumnSchema(dtype=DType.INT32), s=ColumnSchema(dtype=DType.UTF8)))
    db.write(name, pa.table({"id": ["a", "b", "c"], "f": pa.array([1.5, 2.5, -3.0], pa.float32()),
                             "i": pa.array([2 ** 62, -1, 0], pa.int64()),
                             "v": pa.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], pa.list_(pa.float32(), 3)),
                             "q": pa.array([[-1, 1], [-2, 2], [-3, 3]], pa.list_(pa.int8(), 2)),
                             "b": [True, False, True], "n": pa.array([None, 5, 6], pa.int32()), "s": ["x", "y", "z"]}))
    return by_idx(db.read(name, ["c", "a", "b"], ["f", "i", "v", "q", "b", "n", "s"]))


def test_dlpack_export_through_numpy(db, name):
    """The path to_torch takes (dlpack_columns), driven by numpy.from_dlpack, which consumes
    the same __dlpack__ export torch.from_dlpack does (torch is not in the test venv)."""
    t = dlpack_table(db, name)
    got = _arrow.dlpack_columns(t, ["f", "i", "v", "q", "b", "n"], np.from_dlpack, np.asarray)
    assert got["f"].dtype == np.float32 and got["f"].tolist() == [-3.0, 1.5, 2.5]
    assert got["i"].dtype == np.int64 and got["i"].tolist() == [0, 2 ** 62, -1]
    assert got["v"].dtype == np.float32 and got["v"].shape == (3, 3)
    assert got["v"].tolist() == [[7, 8, 9], [1, 2, 3], [4, 5, 6]]
    assert got["q"].dtype == np.int8 and got["q"].shape == (3, 2) and got["q"].tolist() == [[-3, 3], [-1, 1], [-2, 2]]
    assert got["b"].dtype == np.bool_ and got["b"].tolist() == [True, True, False]
    assert got["n"].dtype == np.float64 and got["n"][0] == 6 and np.isnan(got["n"][1]) and got["n"][2] == 5
    with pytest.raises(TypeError, match="'s'"):
        _arrow.dlpack_columns(t, ["s"], np.from_dlpack, np.asarray)


def test_dlpack_views_the_answer_and_outlives_it(db, name):
    dlpack_table(db, name)
    raw = db.read(name, ["c", "a", "b"], ["f", "v"])  # as answered (by_idx would copy)
    assert raw.column("f").num_chunks == 1
    f, v = raw.column("f").chunk(0), raw.column("v").chunk(0)
    got = _arrow.dlpack_columns(raw, None, np.from_dlpack, np.asarray)
    assert got["f"].ctypes.data == f.buffers()[1].address + f.offset * 4, "the float32 column was copied"
    assert got["v"].ctypes.data == v.values.buffers()[1].address + (v.offset * 3 + v.values.offset) * 4
    assert not got["f"].flags.writeable  # a view of the answer, read-only as pyarrow exports it
    order = np.argsort(got["_idx"])
    del raw, f, v
    gc.collect()
    assert got["f"][order].tolist() == [-3.0, 1.5, 2.5]  # keys c, a, b
    assert got["v"][order].tolist() == [[7, 8, 9], [1, 2, 3], [4, 5, 6]]


def test_to_torch_when_installed(db, name):
    torch = pytest.importorskip("torch")
    t = dlpack_table(db, name)
    got = pymurr.to_torch(t, ["f", "v", "n"])
    assert got["f"].dtype == torch.float32 and got["f"].tolist() == [-3.0, 1.5, 2.5]
    assert tuple(got["v"].shape) == (3, 3) and got["v"].tolist() == [[7, 8, 9], [1, 2, 3], [4, 5, 6]]
    assert got["n"].dtype == torch.float64 and torch.isnan(got["n"][1])


def test_list_columns_round_trip(db, name):
    """Embedding columns: a fixed pa.list_(pa.float32(), 4) and a variable pa.list_(pa.float16())
    (and int8), written and read back with the Arrow types pyarrow gave them."""
    db.create_table(name, key_schema(v=ColumnSchema(dtype=DType.LIST_FLOAT32, dim=4),
                                     h=ColumnSchema(dtype=DType.LIST_FLOAT16),
                                     q=ColumnSchema(dtype="list<int8>", dim=2)))
    assert db.get_schema(name).columns["v"] == ColumnSchema(dtype=DType.LIST_FLOAT32, dim=4)
    assert db.get_schema(name).columns["h"].dim is None
    v = pa.array([[1.0, 2.0, 3.0, 4.0], None, [0.5, -0.5, 1e30, -7.25]], pa.list_(pa.float32(), 4))
    h = pa.array([[1.5, -2.0], [], [65504.0, 0.0009765625, -0.0]], pa.list_(pa.float16()))
    q = pa.array([[-128, 127], [0, 1], None], pa.list_(pa.int8(), 2))
    # a slice: the rows start inside the child arrays (offsets and elements not at 0)
    full = pa.table({"id": ["skip", "k0", "k1", "k2"],
                     "v": pa.concat_arrays([pa.array([[9.0] * 4], v.type), v]),
                     "h": pa.concat_arrays([pa.array([[9.0]], h.type), h]),
                     "q": pa.concat_arrays([pa.array([[9, 9]], q.type), q])})
    db.write(name, full.slice(1))
    got = by_idx(db.read(name, ["k2", "k0", "k1", "nope"], ["v", "h", "q"]))
    assert got.column("_idx").to_pylist() == [0, 1, 2]
    assert got.schema.field("v").type == pa.list_(pa.float32(), 4)
    assert got.schema.field("h").type == pa.list_(pa.float16())
    assert got.schema.field("q").type == pa.list_(pa.int8(), 2)
    assert got.column("v").to_pylist() == [[0.5, -0.5, np.float32(1e30).item(), -7.25], [1.0, 2.0, 3.0, 4.0], None]
    assert got.column("h").to_pylist() == [[65504.0, 0.0009765625, -0.0], [1.5, -2.0], []]
    assert got.column("q").to_pylist() == [None, [-128, 127], [0, 1]]
    arrays = db.read_numpy(name, ["k2", "k0"], ["v"])
    order = np.argsort(arrays["_idx"])
    assert arrays["v"].shape == (2, 4) and arrays["v"].dtype == np.float32
    assert arrays["v"][order].tolist() == [[0.5, -0.5, np.float32(1e30).item(), -7.25], [1.0, 2.0, 3.0, 4.0]]


def test_list_column_errors(db, name):
    db.create_table(name, key_schema(v=ColumnSchema(dtype=DType.LIST_FLOAT32, dim=4)))
    with pytest.raises(pymurr.InvalidRequestError) as e:
        db.write(name, pa.table({"id": ["a"], "v": pa.array([[1.0, 2.0, 3.0]], pa.list_(pa.float32(), 3))}))
    assert "'v'" in str(e.value)
    with pytest.raises(pymurr.InvalidRequestError) as e:
        db.write(name, pa.table({"id": ["a"], "v": pa.array([[1.0, None, 3.0, 4.0]], pa.list_(pa.float32(), 4))}))
    assert "'v'" in str(e.value) and "null" in str(e.value)
    db.write(name, pa.table({"id": ["a"], "v": pa.array([[1.0, 2.0, 3.0, 4.0]], pa.list_(pa.float32()))}))
    assert db.read(name, ["a"], ["v"]).column("v").to_pylist() == [[1.0, 2.0, 3.0, 4.0]]


LIST_DTYPES = {
    "lf32": (ColumnSchema(dtype=DType.LIST_FLOAT32, dim=2), pa.list_(pa.float32(), 2), [[1.5, -2.0], [0.0, 3.0]]),
    "lf16": (ColumnSchema(dtype=DType.LIST_FLOAT16), pa.list_(pa.float16()), [[0.5], []]),
    "li8": (ColumnSchema(dtype=DType.LIST_INT8, dim=3), pa.list_(pa.int8(), 3), [[-128, 0, 127], [1, 2, 3]]),
}


def null_table():
    """k0 and k2 hold values, k1 a null in every column (scalars and lists)."""
    data = {"id": pa.array(["k0", "k1", "k2"])}
    for c, (_, t, v) in ALL_DTYPES.items():
        data[c] = pa.array([v[0], None, v[1]], t)
    for c, (_, t, v) in LIST_DTYPES.items():
        data[c] = pa.array([v[0], None, v[1]], t)
    return pa.table(data)


def nullable_schema():
    return key_schema(**{c: ColumnSchema(dtype=d) for c, (d, _, _) in ALL_DTYPES.items()},
                      **{c: s for c, (s, _, _) in LIST_DTYPES.items()})


def test_nulls_of_every_dtype_round_trip(db, name):
    db.create_table(name, nullable_schema())
    db.write(name, null_table())
    cols = list(ALL_DTYPES) + list(LIST_DTYPES)
    got = by_idx(db.read(name, ["k1", "k0", "k2", "zz"], cols))
    assert got.column("_idx").to_pylist() == [0, 1, 2]
    for c, (_, t, v) in {**ALL_DTYPES, **LIST_DTYPES}.items():
        assert got.schema.field(c).type == t, c
        assert got.column(c).null_count == 1, c
        assert got.column(c).to_pylist() == [None, v[0], v[1]], c


def test_to_numpy_with_nulls_as_documented(db, name):
    """pymurr.to_numpy (and read_numpy, in every mode): a numeric column with nulls becomes
    float (integers float64, floats their own width) with NaN at the nulls; bool and utf8
    with nulls object arrays with None; list columns with a null row object arrays of 1-D
    arrays with None. A column without nulls keeps its dtype (bool stays bool)."""
    db.create_table(name, nullable_schema())
    db.write(name, null_table())
    cols = list(ALL_DTYPES) + list(LIST_DTYPES)
    for arrays in (pymurr.to_numpy(db.read(name, ["k1", "k0", "k2"], cols)),
                   db.read_numpy(name, ["k1", "k0", "k2"], cols)):
        order = np.argsort(arrays["_idx"])
        assert arrays["_idx"][order].tolist() == [0, 1, 2]
        for c, (_, t, v) in ALL_DTYPES.items():
            a = arrays[c][order]
            if pa.types.is_integer(t):
                assert a.dtype == np.float64, c
                assert np.isnan(a[0]) and a[1:].tolist() == [float(v[0]), float(v[1])], c
            elif pa.types.is_floating(t):
                assert a.dtype == t.to_pandas_dtype(), c
                assert np.isnan(a[0]) and a[1:].tolist() == [v[0], v[1]], c
            else:
                assert a.dtype == object and a.tolist() == [None, v[0], v[1]], c
        for c, (_, t, v) in LIST_DTYPES.items():
            a = arrays[c][order]
            assert a.dtype == object and a[0] is None, c
            for row, want in zip(a[1:], v):
                assert row.dtype == t.value_type.to_pandas_dtype() and row.tolist() == want, c
    # without nulls: bool keeps numpy bool, a fixed-size list is rows x dim, utf8 object
    arrays = db.read_numpy(name, ["k2", "k0"], ["b", "lf32", "s", "u64"])
    order = np.argsort(arrays["_idx"])
    assert arrays["b"].dtype == np.bool_ and arrays["b"][order].tolist() == [False, True]
    assert arrays["lf32"].shape == (2, 2) and arrays["lf32"][order].tolist() == [[0.0, 3.0], [1.5, -2.0]]
    assert arrays["s"].dtype == object and arrays["s"][order].tolist() == [ALL_DTYPES["s"][2][1], ""]
    assert arrays["u64"].dtype == np.uint64 and arrays["u64"][order].tolist() == [2 ** 64 - 1, 0]
