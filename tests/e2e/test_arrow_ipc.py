"""Arrow IPC reader and writer against pyarrow (the reference Arrow implementation):
every dtype with and without nulls, several batches, zero-row batches, sliced arrays,
LZ4/ZSTD bodies, schema metadata, large_string / string_view / dictionary (with deltas),
incremental feeding, refusals of unsupported types, truncations and bit flips."""
import io
import math
import os
import random
import struct
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

from conftest import BUILD

TOOL = BUILD / "ipc_tool"

ALL = {
    "b": pa.array([True, False, None, True, False, True, True, False, None, True], pa.bool_()),
    "i8": pa.array([-128, 127, None, 0, 1, -1, 5, 6, 7, 8], pa.int8()),
    "i16": pa.array([-32768, 32767, None, 0, 1, -1, 5, 6, 7, 8], pa.int16()),
    "i32": pa.array([-2**31, 2**31 - 1, None, 0, 1, -1, 5, 6, 7, 8], pa.int32()),
    "i64": pa.array([-2**63, 2**63 - 1, None, 0, 1, -1, 5, 6, 7, 8], pa.int64()),
    "u8": pa.array([0, 255, None, 0, 1, 2, 5, 6, 7, 8], pa.uint8()),
    "u16": pa.array([0, 65535, None, 0, 1, 2, 5, 6, 7, 8], pa.uint16()),
    "u32": pa.array([0, 2**32 - 1, None, 0, 1, 2, 5, 6, 7, 8], pa.uint32()),
    "u64": pa.array([0, 2**64 - 1, None, 2**53 + 1, 1, 2, 5, 6, 7, 8], pa.uint64()),
    "f32": pa.array([float("nan"), -0.0, None, 1.5, 3.4028234663852886e38, 1e-45, float("inf"), -1.0, 0.95, 2.0],
                    pa.float32()),
    "f64": pa.array([float("-inf"), -0.0, None, 5e-324, 1.7976931348623157e308, float("nan"), 3.15, 0.1, 0.2, 1.0],
                    pa.float64()),
    "s": pa.array(["x", "", None, "δ-unicode", "a" * 100, "b", "c", "d", "e", "f"], pa.string()),
}


def stream(batches, schema=None, **opts):
    schema = schema or batches[0].schema
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, schema, options=pa.ipc.IpcWriteOptions(**opts) if opts else None) as w:
        for b in batches:
            w.write_batch(b)
    return sink.getvalue()


def recode(data, *args):
    r = subprocess.run([str(TOOL), *(args or ("recode",))], input=data, capture_output=True, timeout=60)
    return r.returncode, r.stdout, r.stderr.decode()


def same(a, b):
    """Bit-exact equality for floats (NaN, -0.0), plain equality otherwise."""
    if isinstance(a, float) and isinstance(b, float):
        return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    return a == b


def assert_table_equal(got: pa.Table, want: pa.Table):
    assert got.num_rows == want.num_rows
    assert got.column_names == want.column_names
    for name in want.column_names:
        g, w = got[name].to_pylist(), want[name].to_pylist()
        assert all(same(x, y) for x, y in zip(g, w)), (name, g[:20], w[:20])


def test_every_dtype_round_trip_bit_exact():
    t = pa.table(ALL)
    rc, out, err = recode(stream(t.to_batches()))
    assert rc == 0, err
    got = pa.ipc.open_stream(out).read_all()
    assert got.schema.metadata == {b"origin": b"murr ipc_tool"}
    for name, arr in ALL.items():
        assert got.schema.field(name).type == arr.type
    assert_table_equal(got, t)
    # float bits exactly (NaN payload and -0.0 survive)
    assert got["f32"].chunk(0).buffers()[1].to_pybytes()[:40] == t["f32"].chunk(0).buffers()[1].to_pybytes()[:40]


def test_no_nulls_several_batches_and_zero_rows():
    rnd = random.Random(1)
    schema = pa.schema([("x", pa.float32()), ("s", pa.string())])
    batches = [pa.record_batch([pa.array([rnd.random() for _ in range(n)], pa.float32()),
                                pa.array([str(rnd.random()) for _ in range(n)], pa.string())], schema=schema)
               for n in (5, 0, 1000, 3)]
    rc, out, err = recode(stream(batches))
    assert rc == 0, err
    reader = pa.ipc.open_stream(out)
    got = [b for b in reader]
    assert [b.num_rows for b in got] == [5, 0, 1000, 3]
    assert_table_equal(pa.Table.from_batches(got), pa.Table.from_batches(batches))


@pytest.mark.parametrize("codec", ["lz4", "zstd"])
def test_compressed_bodies(codec):
    t = pa.table({k: v for k, v in ALL.items()})
    rc, out, err = recode(stream(t.to_batches(), compression=codec))
    assert rc == 0, err
    assert_table_equal(pa.ipc.open_stream(out).read_all(), t)


def test_sliced_arrays_from_pyarrow():
    t = pa.table(ALL)
    for off, n in [(1, 5), (3, 7), (9, 1), (2, 0)]:
        sliced = t.slice(off, n)
        batch = sliced.to_batches()[0] if sliced.to_batches() else pa.record_batch({k: v[:0] for k, v in ALL.items()})
        rc, out, err = recode(stream([batch]))
        assert rc == 0, err
        assert_table_equal(pa.ipc.open_stream(out).read_all(), sliced)


def test_writer_slices_at_any_row_offset():
    t = pa.table(ALL)
    data = stream(t.to_batches())
    for off in range(0, 10):
        for n in sorted({0, 1, 3, 10 - off}):
            if off + n > 10:
                continue
            rc, out, err = recode(data, "slice", str(off), str(n))
            assert rc == 0, err
            assert_table_equal(pa.ipc.open_stream(out).read_all(), t.slice(off, n))


def test_odd_string_encodings_decode_to_utf8():
    vals = ["short", None, "a string longer than twelve bytes", "", "δδδδδδδδδδδδδδ"] * 3
    large = pa.record_batch({"s": pa.array(vals, pa.large_string())})
    view = pa.record_batch({"s": pa.array(vals, pa.string_view())})
    dic = pa.record_batch({"s": pa.array(vals).dictionary_encode()})
    for b in (large, view, dic):
        rc, out, err = recode(stream([b]))
        assert rc == 0, (b.schema, err)
        got = pa.ipc.open_stream(out).read_all()
        assert got.schema.field("s").type == pa.string()
        assert got["s"].to_pylist() == vals


def test_dictionary_deltas():
    d1 = pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 0], pa.int8()), pa.array(["a", "b"]))
    d2 = pa.DictionaryArray.from_arrays(pa.array([2, 0, 3], pa.int8()), pa.array(["a", "b", "c", "dd"]))
    schema = pa.schema([("s", d1.type)])
    data = stream([pa.record_batch([d1], schema=schema), pa.record_batch([d2], schema=schema)], schema=schema,
                  emit_dictionary_deltas=True)
    rc, out, err = recode(data)
    assert rc == 0, err
    assert pa.ipc.open_stream(out).read_all()["s"].to_pylist() == ["a", "b", None, "a", "c", "a", "dd"]


def test_incremental_feeding_every_split():
    data = stream(pa.table(ALL).to_batches())
    for split in (1, 2, 3, 7, 8, 13, 64, 100):
        rc, out, err = recode(data, "recode", str(split))
        assert rc == 0, (split, err)
        assert_table_equal(pa.ipc.open_stream(out).read_all(), pa.table(ALL))


def test_legacy_length_prefix():
    data = stream(pa.table({"x": pa.array([1, 2], pa.int32())}).to_batches(), use_legacy_format=True)
    rc, out, err = recode(data)
    assert rc == 0, err
    assert pa.ipc.open_stream(out).read_all()["x"].to_pylist() == [1, 2]


@pytest.mark.parametrize("arr,tname", [
    (pa.array([1], pa.timestamp("us")), "Timestamp"),
    (pa.array([[1]], pa.list_(pa.int32())), "List"),
    (pa.array([{"a": 1}]), "Struct"),
    (pa.array([b"x"], pa.binary()), "Binary"),
    (pa.array([1], pa.decimal128(5, 2)), "Decimal"),
    (pa.array([1], pa.date32()), "Date"),
])
def test_unsupported_types_refused_naming_field(arr, tname):
    try:
        b = pa.record_batch({"bad": arr})
    except Exception:
        pytest.skip("pyarrow cannot build this array")
    rc, out, err = recode(stream([b]))
    assert rc == 1
    assert "EUNSUPPORTED" in err and "field 'bad'" in err
    if tname:
        assert tname in err


def test_truncated_at_every_byte_and_bit_flips_never_crash():
    data = stream(pa.table({"x": pa.array([1.5, None], pa.float32()), "s": pa.array(["ab", None])}).to_batches())
    eos = len(data) - 8
    for cut in range(len(data)):
        rc, out, err = recode(data[:cut])
        if cut == eos:  # a stream that just ends after its last batch is valid
            assert rc == 0, err
            continue
        assert rc in (1, 3), (cut, rc, err)  # an error (or no batch yet), never a crash
        assert err  # a message names what is wrong
    rnd = random.Random(3)
    for pos in range(0, len(data)):
        flipped = bytearray(data)
        flipped[pos] ^= 1 << rnd.randrange(8)
        rc, out, err = recode(bytes(flipped))
        assert rc in (0, 1, 3), (pos, rc, err)
        if rc == 0:  # a harmless flip must still produce a stream pyarrow can read
            pa.ipc.open_stream(out).read_all()


def test_absurd_lengths():
    for blob in (b"\xff\xff\xff\xff\xff\xff\xff\x7f" + b"\x00" * 16,
                 b"\xff\xff\xff\xff\x10\x00\x00\x00" + b"\xff" * 16,
                 b"\x00\x00\x00\x80", b""):
        rc, out, err = recode(blob)
        assert rc in (1, 3), (blob, rc, err)
