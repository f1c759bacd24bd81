"""Parquet reader against files written by pyarrow and duckdb: every codec x page version x
dictionary on/off, the encodings pyarrow can produce, all supported types with nulls, several
row groups and pages, empty files; murr's decoding (tests/prog/pq_dump) compared exactly
with pyarrow's reading of the same file; refusals of unsupported types; hostile files; and
the HTTP PUT path end to end, including a file written by another Parquet writer
(tests/data/murr-example.parquet)."""
import io
import json
import random
import struct
import subprocess
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from conftest import BUILD, DATA

DUMP = BUILD / "pq_dump"
PARQUET = "application/vnd.apache.parquet"


def dump(path):
    r = subprocess.run([str(DUMP), str(path)], capture_output=True, text=True, timeout=120)
    return r.returncode, [json.loads(l) for l in r.stdout.splitlines()], r.stderr


def elem_bits(v, t):
    """pq_dump's text of one list element: its bits in hex at the element's width."""
    if pa.types.is_float32(t):
        return "0x%08x" % struct.unpack("<I", struct.pack("<f", v))[0]
    if pa.types.is_float16(t):
        return "0x%04x" % struct.unpack("<H", struct.pack("<e", v))[0]
    return "0x%02x" % (v & 0xff)


def canon(arr: pa.ChunkedArray):
    t = arr.type
    out = []
    for v in arr.to_pylist():
        if v is None:
            out.append(None)
        elif pa.types.is_list(t) or pa.types.is_fixed_size_list(t):
            out.append([elem_bits(x, t.value_type) for x in v])
        elif pa.types.is_float32(t):
            out.append("0x%08x" % struct.unpack("<I", struct.pack("<f", v))[0])
        elif pa.types.is_float64(t):
            out.append("0x%016x" % struct.unpack("<Q", struct.pack("<d", v))[0])
        else:
            out.append(v)
    return out


def assert_same(path):
    rc, groups, err = dump(path)
    assert rc == 0, err
    want = pq.read_table(path)
    got = {}
    for g in groups:
        for name, col in g["columns"].items():
            got.setdefault(name, []).extend(col["values"])
    assert sum(g["rows"] for g in groups) == want.num_rows
    for name in want.column_names:
        assert got.get(name, []) == canon(want[name]), name
    return groups


def table(n=300, seed=1):
    rnd = random.Random(seed)
    def maybe(v):
        return None if rnd.random() < 0.2 else v
    return pa.table({
        "s": pa.array([maybe("v%d-%s" % (rnd.randrange(50), "x" * rnd.randrange(20))) for _ in range(n)]),
        "b": pa.array([maybe(rnd.random() < 0.5) for _ in range(n)]),
        "i8": pa.array([maybe(rnd.randrange(-128, 128)) for _ in range(n)], pa.int8()),
        "i16": pa.array([maybe(rnd.randrange(-2**15, 2**15)) for _ in range(n)], pa.int16()),
        "i32": pa.array([maybe(rnd.randrange(-2**31, 2**31)) for _ in range(n)], pa.int32()),
        "i64": pa.array([maybe(rnd.randrange(-2**63, 2**63)) for _ in range(n)], pa.int64()),
        "u8": pa.array([maybe(rnd.randrange(0, 256)) for _ in range(n)], pa.uint8()),
        "u16": pa.array([maybe(rnd.randrange(0, 2**16)) for _ in range(n)], pa.uint16()),
        "u32": pa.array([maybe(rnd.randrange(0, 2**32)) for _ in range(n)], pa.uint32()),
        "u64": pa.array([maybe(rnd.randrange(0, 2**64)) for _ in range(n)], pa.uint64()),
        "f32": pa.array([maybe(rnd.uniform(-1e6, 1e6)) for _ in range(n)], pa.float32()),
        "f64": pa.array([maybe(rnd.uniform(-1e300, 1e300)) for _ in range(n)], pa.float64()),
        "req": pa.array(list(range(n)), pa.int64()),
    })


@pytest.mark.parametrize("codec", ["NONE", "SNAPPY", "GZIP", "ZSTD", "LZ4", "BROTLI"])
@pytest.mark.parametrize("version", ["1.0", "2.0"])
@pytest.mark.parametrize("dictionary", [True, False])
def test_pyarrow_codecs_pages_dictionary(tmp_path, codec, version, dictionary):
    path = tmp_path / "t.parquet"
    pq.write_table(table(), path, compression=codec, data_page_version=version, use_dictionary=dictionary,
                   row_group_size=120, data_page_size=256)
    assert_same(path)


@pytest.mark.parametrize("cols,enc", [
    (["i32", "i64", "req"], "DELTA_BINARY_PACKED"),
    (["s"], "DELTA_LENGTH_BYTE_ARRAY"),
    (["s"], "DELTA_BYTE_ARRAY"),
    (["f32", "f64"], "BYTE_STREAM_SPLIT"),
])
@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_pyarrow_encodings(tmp_path, cols, enc, version):
    t = table(1000, seed=5).select(cols)
    path = tmp_path / "e.parquet"
    pq.write_table(t, path, use_dictionary=False, column_encoding={c: enc for c in cols}, data_page_version=version,
                   data_page_size=512, compression="NONE")
    meta = pq.ParquetFile(path).metadata.row_group(0).column(0)
    assert enc in meta.encodings
    assert_same(path)


def test_empty_and_zero_row_groups(tmp_path):
    path = tmp_path / "empty.parquet"
    pq.write_table(table(10).slice(0, 0), path)
    rc, groups, err = dump(path)
    assert rc == 0, err
    assert sum(g["rows"] for g in groups) == 0


def test_duckdb_defaults_and_v2(tmp_path):
    con = duckdb.connect()
    q = ("SELECT 'k' || i AS key, i::BIGINT AS v, (i * 1.5)::FLOAT AS f, i::DOUBLE / 3 AS d, "
         "CASE WHEN i % 7 = 0 THEN NULL ELSE i::INTEGER END AS maybe, i % 2 = 0 AS even, "
         "i::UTINYINT AS u8, i::SMALLINT AS i16 FROM range(0, 250) t(i)")
    for i, opts in enumerate(["(FORMAT PARQUET)", "(FORMAT PARQUET, COMPRESSION ZSTD, ROW_GROUP_SIZE 100)"]):
        path = tmp_path / f"d{i}.parquet"
        con.execute(f"COPY ({q}) TO '{path}' {opts}")
        assert_same(path)
    try:
        path = tmp_path / "v2.parquet"
        con.execute(f"COPY ({q}) TO '{path}' (FORMAT PARQUET, PARQUET_VERSION V2)")
    except duckdb.Error as e:
        pytest.skip(f"this duckdb cannot write PARQUET_VERSION V2: {e}")
    assert_same(path)


def test_fixture_file():
    assert_same(DATA / "murr-example.parquet")


@pytest.mark.parametrize("arr,name", [
    (pa.array([1], pa.timestamp("us")), "TIMESTAMP"),
    (pa.array([1], pa.decimal128(5, 2)), "DECIMAL"),
    (pa.array([[1, 2]], pa.list_(pa.int32())), "list elements of Parquet type INT32"),  # lists: issue 16
    (pa.array([{"a": 1}]), "nested"),
    (pa.array([1], pa.date32()), "DATE"),
    (pa.array([b"\x00\x01"], pa.binary(2)), "FIXED_LEN_BYTE_ARRAY"),
])
def test_unsupported_types_refused(tmp_path, arr, name):
    path = tmp_path / "u.parquet"
    pq.write_table(pa.table({"ok": [1], "bad": arr}), path)
    rc, _, err = dump(path)
    assert rc == 1 and "EUNSUPPORTED" in err and "'bad'" in err and name in err, err


def test_int96_refused(tmp_path):
    path = tmp_path / "i96.parquet"
    pq.write_table(pa.table({"ts": pa.array([1], pa.timestamp("ns"))}), path, use_deprecated_int96_timestamps=True)
    rc, _, err = dump(path)
    assert rc == 1 and "INT96" in err and "'ts'" in err, err


def dump_status(paths):
    """Decodes every file in one pq_dump process: {path: (ok, message)}."""
    r = subprocess.run([str(DUMP), "--status", *map(str, paths)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = {}
    for line in r.stdout.splitlines():
        path, status, *msg = line.split("\t", 2)
        out[path] = (status == "ok", msg[0] if msg else "")
    assert len(out) == len(paths), (len(out), len(paths), r.stderr[-2000:])
    return out


def test_truncations_and_bit_flips_never_crash(tmp_path):
    src = tmp_path / "small.parquet"
    pq.write_table(table(40), src, compression="SNAPPY", row_group_size=20)
    data = src.read_bytes()
    cuts, flips = tmp_path / "cuts", tmp_path / "flips"
    cuts.mkdir()
    flips.mkdir()
    cut_files = []
    for cut in range(0, len(data), 3):
        p = cuts / f"{cut}.parquet"
        p.write_bytes(data[:cut])
        cut_files.append(p)
    flip_files = []
    rnd = random.Random(9)
    for pos in range(0, len(data), 2):
        b = bytearray(data)
        b[pos] ^= 1 << rnd.randrange(8)
        p = flips / f"{pos}.parquet"
        p.write_bytes(bytes(b))
        flip_files.append(p)
    # every truncation is refused with a message; a bit flip decodes or is refused, never
    # crashes (one process decodes them all: an ASan report aborts it and fails the test)
    for path, (ok, msg) in dump_status(cut_files).items():
        assert not ok and msg, (path, msg)
    results = dump_status(flip_files)
    assert len(results) == len(flip_files)
    assert all(ok or msg for ok, msg in results.values())
    # the untouched file still decodes in the same mode
    assert dump_status([src]) == {str(src): (True, "")}


def test_http_put_parquet(murr, tmp_path):
    schema = {"key": "key", "columns": {"key": {"dtype": "utf8", "nullable": False}, "value": {"dtype": "int64"}}}
    assert requests.put(murr.url + "/api/v1/table/example", json=schema).status_code == 201
    body = (DATA / "murr-example.parquet").read_bytes()
    r = requests.put(murr.url + "/api/v1/table/example/write", data=body, headers={"Content-Type": PARQUET})
    assert r.status_code == 200, r.text
    got = requests.post(murr.url + "/api/v1/table/example/fetch",
                        json={"keys": ["key1", "key9999", "key5000", "nope"], "columns": ["value"]}).json()
    assert got == {"columns": {"value": [1, 9999, 5000, None]}}
    # several row groups, widening (int32 -> int64), extra columns ignored, atomic
    path = tmp_path / "rg.parquet"
    pq.write_table(pa.table({"key": [f"r{i}" for i in range(1000)], "value": pa.array(range(1000), pa.int32()),
                             "extra": [1.0] * 1000}), path, row_group_size=100)
    r = requests.put(murr.url + "/api/v1/table/example/write", data=path.read_bytes(), headers={"Content-Type": PARQUET})
    assert r.status_code == 200, r.text
    got = requests.post(murr.url + "/api/v1/table/example/fetch", json={"keys": ["r0", "r999"], "columns": ["value"]})
    assert got.json()["columns"]["value"] == [0, 999]
    # zero rows: a successful no-op
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"key": pa.array([], pa.string()), "value": pa.array([], pa.int64())}), empty)
    assert requests.put(murr.url + "/api/v1/table/example/write", data=empty.read_bytes(),
                        headers={"Content-Type": PARQUET}).status_code == 200
    # unsupported column type: 400 naming it; corrupt file: 400 naming the offset
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"key": ["a"], "value": pa.array([1], pa.timestamp("us"))}), bad)
    r = requests.put(murr.url + "/api/v1/table/example/write", data=bad.read_bytes(), headers={"Content-Type": PARQUET})
    assert r.status_code == 400 and "column 'value'" in r.json()["error"] and "TIMESTAMP" in r.json()["error"]
    r = requests.put(murr.url + "/api/v1/table/example/write", data=body[:-100] + body[-8:],
                     headers={"Content-Type": PARQUET})
    assert r.status_code == 400 and "invalid Parquet" in r.json()["error"]
    # a missing schema column refuses the whole file
    miss = tmp_path / "miss.parquet"
    pq.write_table(pa.table({"key": ["zz"]}), miss)
    r = requests.put(murr.url + "/api/v1/table/example/write", data=miss.read_bytes(), headers={"Content-Type": PARQUET})
    assert r.status_code == 400 and "missing column 'value'" in r.json()["error"]


def test_http_put_parquet_row_groups_decoded_ahead(murr, tmp_path):
    """Row groups are decoded one ahead on a thread of their own while the previous one is
    appended (parquet_ahead.c): rows land in file order (the last duplicate wins, across row
    groups), and a file that fails in its third row group, in decoding (a page checksum) or
    in the append (a null in a non-nullable column), applies nothing and answers 400."""
    schema = {"key": "key", "columns": {"key": {"dtype": "utf8", "nullable": False},
                                        "value": {"dtype": "int64", "nullable": False}}}
    assert requests.put(murr.url + "/api/v1/table/ahead", json=schema).status_code == 201
    url = murr.url + "/api/v1/table/ahead"

    def fetch(keys):
        r = requests.post(url + "/fetch", json={"keys": keys, "columns": ["value"]})
        assert r.status_code == 200, r.text
        return r.json()["columns"]["value"]

    n, nkeys = 1000, 300
    path = tmp_path / "dups.parquet"
    pq.write_table(pa.table({"key": [f"k{i % nkeys}" for i in range(n)], "value": pa.array(range(n), pa.int64())}),
                   path, row_group_size=200)
    assert pq.ParquetFile(path).metadata.num_row_groups == 5
    r = requests.put(url + "/write", data=path.read_bytes(), headers={"Content-Type": PARQUET})
    assert r.status_code == 200, r.text
    want = {}
    for i in range(n):
        want[f"k{i % nkeys}"] = i
    keys = sorted(want)
    assert fetch(keys) == [want[k] for k in keys]

    # decoding fails in row group 2 (of 4): a flipped byte under pyarrow's page CRC
    t = pa.table({"key": [f"z{i}" for i in range(800)] , "value": pa.array(range(800), pa.int64())})
    good = tmp_path / "crc.parquet"
    pq.write_table(t, good, row_group_size=200, compression="NONE", use_dictionary=False, write_page_checksum=True)
    col = pq.ParquetFile(good).metadata.row_group(2).column(1)
    data = bytearray(good.read_bytes())
    data[col.data_page_offset + col.total_compressed_size - 1] ^= 0x01
    r = requests.put(url + "/write", data=bytes(data), headers={"Content-Type": PARQUET})
    assert r.status_code == 400, r.text
    assert "invalid Parquet" in r.json()["error"] and "row group 2" in r.json()["error"], r.text
    assert fetch(["z0", "z199", "z399", "z799"]) == [None] * 4
    assert fetch(keys) == [want[k] for k in keys]

    # the append fails in row group 2: a null in the non-nullable 'value'
    vals = list(range(800))
    vals[450] = None
    bad = tmp_path / "null.parquet"
    pq.write_table(pa.table({"key": [f"y{i}" for i in range(800)], "value": pa.array(vals, pa.int64())}), bad,
                   row_group_size=200)
    r = requests.put(url + "/write", data=bad.read_bytes(), headers={"Content-Type": PARQUET})
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith("row group 2: "), r.text
    assert "non-nullable" in r.json()["error"], r.text
    assert fetch(["y0", "y199", "y449", "y799"]) == [None] * 4
    assert fetch(keys) == [want[k] for k in keys]
    # the pipeline's thread is gone with its write: a good file still lands
    assert requests.put(url + "/write", data=good.read_bytes(), headers={"Content-Type": PARQUET}).status_code == 200
    assert fetch(["z0", "z799"]) == [0, 799]


def test_page_checksums_are_verified(tmp_path):
    """pyarrow's page CRCs (write_page_checksum=True) are checked: a flipped value byte under
    a CRC is refused naming the column and the page; the same flip without CRCs decodes to a
    different value (so the check, not the format, is what catches it)."""
    t = pa.table({"v": pa.array(range(1000), pa.int64())})
    results = {}
    for crc in (True, False):
        path = tmp_path / f"crc_{crc}.parquet"
        pq.write_table(t, path, compression="NONE", use_dictionary=False, write_page_checksum=crc)
        rc, groups, err = dump(path)
        assert rc == 0, err
        assert [int(x) for x in groups[0]["columns"]["v"]["values"]] == list(range(1000))
        col = pq.ParquetFile(path).metadata.row_group(0).column(0)
        last = col.data_page_offset + col.total_compressed_size - 1  # last byte of the last value
        data = bytearray(path.read_bytes())
        data[last] ^= 0x01
        bad = tmp_path / f"crc_{crc}_flipped.parquet"
        bad.write_bytes(bytes(data))
        results[crc] = dump(bad)
    rc, _, err = results[True]
    assert rc == 1 and "column 'v' row group 0: page checksum mismatch: the header says 0x" in err, err
    rc, groups, err = results[False]
    assert rc == 0, err
    vals = [int(x) for x in groups[0]["columns"]["v"]["values"]]
    assert vals[-1] != 999 and vals[:-1] == list(range(999))


@pytest.mark.parametrize("codec", ["NONE", "SNAPPY", "GZIP", "ZSTD"])
@pytest.mark.parametrize("page_version", ["1.0", "2.0"])
def test_page_checksums_pass_on_every_page_kind(tmp_path, codec, page_version):
    """Dictionary pages, v1 and v2 data pages, every codec: pyarrow's CRCs verify (the CRC
    covers the page as stored, compressed, v2 levels included)."""
    t = pa.table({"s": [f"v{i % 37}" for i in range(5000)], "i": pa.array(range(5000), pa.int32())})
    path = tmp_path / "crc.parquet"
    pq.write_table(t, path, compression=codec, write_page_checksum=True, data_page_version=page_version,
                   row_group_size=1500)
    rc, groups, err = dump(path)
    assert rc == 0, err
    assert [g["rows"] for g in groups] == [1500, 1500, 1500, 500]
    assert [v for g in groups for v in g["columns"]["s"]["values"]] == [f"v{i % 37}" for i in range(5000)]
    assert [int(v) for g in groups for v in g["columns"]["i"]["values"]] == list(range(5000))
