"""Parquet LIST columns (issue 16) as pyarrow and duckdb write them: 3-level lists of FLOAT
and INT32 (INT_8), nullable or not, nulls and empty lists, several row groups, dictionary
and plain pages, data page v1 and v2, every codec the reader takes; fixed-size lists as
pyarrow writes them (plain LISTs) into a fixed-dimension table; hostile levels. Values are
compared with pyarrow's reading of the same file (pq_dump prints element bits)."""
import io

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from test_parquet import PARQUET, assert_same, dump


def lists(rng, n, elem, dim=None, null_every=7, empty_every=5):
    out = []
    for i in range(n):
        if null_every and i % null_every == 3:
            out.append(None)
            continue
        k = dim if dim else (0 if empty_every and i % empty_every == 1 else int(rng.integers(1, 12)))
        if elem == "int8":
            out.append(rng.integers(-128, 128, k).tolist())
        else:
            out.append(rng.standard_normal(k).astype(np.float32).tolist())
    return out


@pytest.mark.parametrize("version", ["1.0", "2.6"])
@pytest.mark.parametrize("dpv", ["1.0", "2.0"])
@pytest.mark.parametrize("codec", ["NONE", "SNAPPY", "GZIP", "ZSTD", "LZ4", "BROTLI"])
def test_pyarrow_lists_every_codec_and_page_version(tmp_path, version, dpv, codec):
    rng = np.random.default_rng(3)
    n = 700
    t = pa.table({"id": [f"k{i}" for i in range(n)],
                  "f": pa.array(lists(rng, n, "f32"), pa.list_(pa.float32())),
                  "i": pa.array(lists(rng, n, "int8", null_every=0), pa.list_(pa.int8())),
                  "fx": pa.array(lists(rng, n, "f32", dim=4, null_every=0), pa.list_(pa.float32(), 4)),
                  "x": pa.array(np.arange(n, dtype=np.float32))})
    path = tmp_path / "l.parquet"
    pq.write_table(t, path, row_group_size=250, compression=codec, version=version, data_page_version=dpv,
                   data_page_size=2048, use_dictionary=["i"])
    groups = assert_same(path)
    assert len(groups) == 3
    assert groups[0]["columns"]["f"]["dtype"] == "list<float32>"
    assert groups[0]["columns"]["i"]["dtype"] == "list<int8>"


@pytest.mark.parametrize("dpv", ["1.0", "2.0"])
@pytest.mark.parametrize("dictionary", [True, False])
def test_pyarrow_float16_lists(tmp_path, dpv, dictionary):
    """pa.list_(pa.float16()) is written as FIXED_LEN_BYTE_ARRAY(2) annotated FLOAT16."""
    rng = np.random.default_rng(4)
    rows = [None if i % 9 == 4 else rng.standard_normal(i % 6).astype(np.float16) for i in range(500)]
    t = pa.table({"h": pa.array([None if r is None else list(r) for r in rows], pa.list_(pa.float16()))})
    path = tmp_path / "h.parquet"
    pq.write_table(t, path, data_page_version=dpv, use_dictionary=dictionary, row_group_size=200)
    groups = assert_same(path)
    assert len(groups) == 3 and groups[0]["columns"]["h"]["dtype"] == "list<float16>"


def test_pyarrow_not_null_lists_and_elements(tmp_path):
    sch = pa.schema([pa.field("v", pa.list_(pa.field("element", pa.float32(), nullable=False)), nullable=False)])
    t = pa.table({"v": [[1.0, 2.0], [], [3.5]]}, schema=sch)
    path = tmp_path / "nn.parquet"
    pq.write_table(t, path)
    assert_same(path)


def test_duckdb_lists(tmp_path):
    path = tmp_path / "d.parquet"
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT 'k' || i AS id,
                          CASE WHEN i % 6 = 2 THEN NULL ELSE
                               list_transform(range(i % 5), x -> (x * 0.5 + i)::FLOAT) END AS f,
                          list_transform(range(3), x -> ((x + i) % 100 - 50)::TINYINT) AS i8
                   FROM range(6000) t(i)) TO '{path}' (FORMAT PARQUET, ROW_GROUP_SIZE 2048)""")
    groups = assert_same(path)
    assert len(groups) >= 2


def test_refused_lists(tmp_path):
    cases = {
        "nested": pa.array([[[1.0]]], pa.list_(pa.list_(pa.float32()))),
        "f64": pa.array([[1.0]], pa.list_(pa.float64())),
        "i32": pa.array([[1]], pa.list_(pa.int32())),
        "struct": pa.array([{"a": 1}]),
    }
    for name, arr in cases.items():
        path = tmp_path / f"{name}.parquet"
        pq.write_table(pa.table({"v": arr}), path)
        rc, _, err = dump(path)
        assert rc != 0 and "EUNSUPPORTED" in err and "column 'v'" in err, (name, err)
    path = tmp_path / "nullelem.parquet"
    pq.write_table(pa.table({"v": pa.array([[1.0, None]], pa.list_(pa.float32()))}), path)
    rc, _, err = dump(path)
    assert rc != 0 and "EINVAL" in err and "row 0" in err and "element 1" in err, err


def write_parquet(url, table, name="t", **kw):
    sink = io.BytesIO()
    pq.write_table(table, sink, **kw)
    return requests.put(f"{url}/api/v1/table/{name}/write", data=sink.getvalue(), headers={"Content-Type": PARQUET})


def test_parquet_into_fixed_dimension_table(murr):
    """pyarrow writes FixedSizeList as a plain LIST: the table's dim checks every row."""
    r = requests.put(f"{murr.url}/api/v1/table/t", json={"columns": {
        "id": {"dtype": "utf8", "nullable": False, "key": True},
        "v": {"dtype": "list<float32>", "dim": 8}, "q": {"dtype": "list<float16>"}}})
    assert r.status_code == 201, r.text
    rng = np.random.default_rng(9)
    m = rng.standard_normal((600, 8)).astype(np.float32)
    q = [rng.integers(-128, 128, i % 4).tolist() for i in range(600)]  # int8 widens into float16
    t = pa.table({"id": [f"k{i}" for i in range(600)],
                  "v": pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), 8),
                  "q": pa.array(q, pa.list_(pa.int8()))})
    r = write_parquet(murr.url, t, row_group_size=200)
    assert r.status_code == 200, r.text
    r = requests.post(f"{murr.url}/api/v1/table/t/fetch", json={"keys": {"id": ["k599", "k0", "k301"]},
                                                                  "columns": ["v", "q"]},
                      headers={"Accept": "application/vnd.apache.arrow.stream"})
    got = pa.ipc.open_stream(r.content).read_all()
    assert np.array(got.column("v").to_pylist(), np.float32).tobytes() == m[[599, 0, 301]].tobytes()
    assert got.column("q").to_pylist() == [[float(x) for x in q[i]] for i in (599, 0, 301)]
    bad = pa.table({"id": ["z"], "v": pa.array([[1.0] * 7], pa.list_(pa.float32())), "q": pa.array([[]], pa.list_(pa.int8()))})
    r = write_parquet(murr.url, bad)
    assert r.status_code == 400 and "'v'" in r.text and "row 0" in r.text and "7 elements" in r.text and "8" in r.text


def levels_file(tmp_path, rows):
    """A one-column LIST<FLOAT> file with v1 pages, uncompressed, dictionary off."""
    path = tmp_path / "lv.parquet"
    pq.write_table(pa.table({"v": pa.array(rows, pa.list_(pa.float32()))}), path, compression="NONE",
                   use_dictionary=False, data_page_version="1.0", write_statistics=False)
    return bytearray(path.read_bytes()), path


def test_hostile_repetition_levels(tmp_path):
    """Repetition levels rewritten in place: a list that never closes (every level continues
    the first row: fewer rows than the row group), and a continuation before any row."""
    data, path = levels_file(tmp_path, [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    # v1 page: [u32 len][RLE rep levels][u32 len][RLE def levels][values]; pyarrow writes the
    # 8 rep levels 0,1,0,1,... as one bit-packed run: header 0x03 (1 group of 8), byte 0xaa
    i = data.index(bytes([2, 0, 0, 0, 0x03, 0xaa]))
    never_closes = bytearray(data)
    never_closes[i + 5] = 0xfe  # 0,1,1,1,1,1,1,1: one row where four were promised
    p = tmp_path / "nc.parquet"
    p.write_bytes(never_closes)
    rc, _, err = dump(p)
    assert rc != 0 and "ECORRUPT" in err and "column 'v'" in err and "1 values" in err and "4 rows" in err, err
    no_start = bytearray(data)
    no_start[i + 5] = 0xab  # first level is a continuation
    p.write_bytes(no_start)
    rc, _, err = dump(p)
    assert rc != 0 and "ECORRUPT" in err and "before any row started" in err, err
    too_many = bytearray(data)
    too_many[i + 5] = 0x00  # 8 rows where the row group has 4
    p.write_bytes(too_many)
    rc, _, err = dump(p)
    assert rc != 0 and "ECORRUPT" in err and "more rows than the row group" in err, err


@pytest.mark.parametrize("dpv", ["1.0", "2.0"])
def test_pyarrow_lists_byte_stream_split_and_delta(tmp_path, dpv):
    """List elements in the non-dictionary encodings pyarrow offers per column: BYTE_STREAM_SPLIT
    for FLOAT elements (variable and fixed-size lists) and DELTA_BINARY_PACKED for INT32 (INT_8)
    elements, with nulls, empty lists and several row groups and pages."""
    rng = np.random.default_rng(11)
    n = 900
    t = pa.table({"id": [f"k{i}" for i in range(n)],
                  "f": pa.array(lists(rng, n, "f32"), pa.list_(pa.float32())),
                  "fx": pa.array(lists(rng, n, "f32", dim=6, null_every=0), pa.list_(pa.float32(), 6)),
                  "i": pa.array(lists(rng, n, "int8"), pa.list_(pa.int8()))})
    path = tmp_path / "enc.parquet"
    pq.write_table(t, path, row_group_size=300, data_page_version=dpv, data_page_size=1024, use_dictionary=False,
                   column_encoding={"f.list.element": "BYTE_STREAM_SPLIT", "fx.list.element": "BYTE_STREAM_SPLIT",
                                    "i.list.element": "DELTA_BINARY_PACKED"})
    encodings = {pq.ParquetFile(path).metadata.row_group(0).column(c).path_in_schema:
                 pq.ParquetFile(path).metadata.row_group(0).column(c).encodings for c in range(1, 4)}
    assert "BYTE_STREAM_SPLIT" in encodings["f.list.element"], encodings
    assert "DELTA_BINARY_PACKED" in encodings["i.list.element"], encodings
    groups = assert_same(path)
    assert len(groups) == 3 and groups[0]["columns"]["i"]["dtype"] == "list<int8>"


def test_duckdb_fixed_size_arrays(tmp_path, murr):
    """duckdb's fixed-size ARRAY type (FLOAT[4], TINYINT[3]) as it writes it to Parquet: a plain
    LIST whose repeated group is named `array`, read into list tables of dim 4 and 3, every fetched
    row checked against duckdb's own reading of the file. (pyarrow applies the format's
    backward-compatibility rule for a repeated group named `array` and reads these columns as
    lists of one-field structs; murr reads them as duckdb means them: lists of the element.)"""
    path = tmp_path / "arr.parquet"
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT 'k' || i AS id, [i * 1.0, i + 0.5, -i, i * 0.25]::FLOAT[4] AS v,
                                 [i % 100 - 50, 1, -1]::TINYINT[3] AS q FROM range(5000) t(i))
                   TO '{path}' (FORMAT PARQUET, ROW_GROUP_SIZE 2048)""")
    want = {r[0]: (r[1], r[2]) for r in con.execute(f"SELECT id, v, q FROM '{path}'").fetchall()}
    rc, groups, err = dump(path)
    assert rc == 0 and len(groups) >= 2, err
    assert groups[0]["columns"]["v"]["dtype"] == "list<float32>" and groups[0]["columns"]["q"]["dtype"] == "list<int8>"
    r = requests.put(f"{murr.url}/api/v1/table/arr", json={"columns": {
        "id": {"dtype": "utf8", "nullable": False, "key": True},
        "v": {"dtype": "list<float32>", "dim": 4}, "q": {"dtype": "list<int8>", "dim": 3}}})
    assert r.status_code == 201, r.text
    r = requests.put(f"{murr.url}/api/v1/table/arr/write", data=path.read_bytes(), headers={"Content-Type": PARQUET})
    assert r.status_code == 200, r.text
    keys = [f"k{i}" for i in (0, 3, 4999, 2048, 10)]
    r = requests.post(f"{murr.url}/api/v1/table/arr/fetch", json={"keys": {"id": keys}, "columns": ["v", "q"]},
                      headers={"Accept": "application/vnd.apache.arrow.stream"})
    got = pa.ipc.open_stream(r.content).read_all()
    assert got.schema.field("v").type == pa.list_(pa.float32(), 4), got.schema
    for row, k in enumerate(keys):
        v, q = want[k]
        assert got.column("v")[row].as_py() == [float(np.float32(x)) for x in v], k
        assert got.column("q")[row].as_py() == list(q), k


def test_duckdb_null_fixed_size_array_is_refused_like_pyarrow_does(tmp_path):
    """duckdb 1.1 writes a NULL TINYINT[3] as a null list followed by two more repeated entries
    (levels that contradict each other); pyarrow refuses the file ("Length spanned by list
    offsets ... larger than values array"), and so do we, naming the column, row group and row."""
    path = tmp_path / "nullarr.parquet"
    duckdb.connect().execute(f"""COPY (SELECT * FROM (SELECT 0 AS i, [1, 2, 3]::TINYINT[3] AS q
                                        UNION ALL SELECT 1, NULL::TINYINT[3]
                                        UNION ALL SELECT 2, [4, 5, 6]::TINYINT[3]) ORDER BY i)
                                TO '{path}' (FORMAT PARQUET)""")
    with pytest.raises(pa.ArrowInvalid):
        pq.read_table(path)
    rc, _, err = dump(path)
    assert rc != 0 and "ECORRUPT" in err and "column 'q'" in err and "row 1" in err, err
