"""Hostile Arrow IPC list encodings (issue 16) through the reader (ipc_tool, the driver the
IPC tests use): offsets out of order, negative or past the child, child lengths that lie,
null elements under valid lists, nested lists, oversized fixed dimensions. Each is refused
with the right status naming the field; valid ones recode to what pyarrow wrote."""
import io

import numpy as np
import pyarrow as pa
import pytest

from test_arrow_ipc import recode, stream


def batch(arr):
    return pa.RecordBatch.from_arrays([arr], ["v"])


def raw_list(offsets, child, validity=None, large=False):
    typ = pa.large_list(child.type) if large else pa.list_(child.type)
    ob = pa.py_buffer(np.array(offsets, np.int64 if large else np.int32).tobytes())
    return pa.Array.from_buffers(typ, len(offsets) - 1, [validity, ob], children=[child])


def raw_fixed(n, dim, child):
    return pa.Array.from_buffers(pa.list_(child.type, dim), n, [None], children=[child])


def test_valid_lists_recode_bit_exact():
    rng = np.random.default_rng(2)
    m = rng.standard_normal((5, 7)).astype(np.float32)
    cols = {"f": pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), 7),
            "h": pa.array([[np.float16(1.5)], None, [], [np.float16(-0.0), np.float16(65504)], None], pa.list_(pa.float16())),
            "i": pa.array([[1, -128], [127], None, [], [0]], pa.large_list(pa.int8())),
            "s": pa.array([[0.5, 1.5], None, [2.5, 3.5], [4.5, 5.5], [6.5, 7.5]], pa.list_(pa.float32(), 2))}
    t = pa.table(cols)
    for comp in (None, "lz4", "zstd"):
        rc, out, err = recode(stream(t.to_batches(max_chunksize=2), **({"compression": comp} if comp else {})))
        assert rc == 0, err
        got = pa.ipc.open_stream(out).read_all()
        assert got.schema.field("f").type == pa.list_(pa.float32(), 7)
        assert got.schema.field("h").type == pa.list_(pa.float16())
        assert got.schema.field("i").type == pa.list_(pa.int8())  # LargeList answers as List
        for name in cols:
            assert got[name].to_pylist() == t[name].to_pylist(), name


def test_sliced_lists_recode():
    arr = pa.array([[1.0], [2.0, 3.0], None, [4.0, 5.0, 6.0], []], pa.list_(pa.float32()))
    rc, out, err = recode(stream([batch(arr.slice(1, 3))]))
    assert rc == 0, err
    assert pa.ipc.open_stream(out).read_all()["v"].to_pylist() == [[2.0, 3.0], None, [4.0, 5.0, 6.0]]


def patched(data, old, new):
    """The stream with the one occurrence of `old` replaced (pyarrow refuses to write these)."""
    assert data.count(old) == 1, (old, data.count(old))
    return data.replace(old, new)


MARK = [0, 3, 5, 8]  # valid offsets of a 3-row list over 8 elements, rewritten below


@pytest.mark.parametrize("offsets,large,why", [
    ([0, 5, 3, 8], False, "less than the previous"),
    ([0, 3, 5, 20], False, "at least 20"),
    ([-4, 3, 5, 8], False, "negative"),
    ([0, 5, 3, 8], True, "less than the previous"),
    ([0, 2**40, 2**40, 2**40 + 8], True, "more than 2147483647"),
])
def test_bad_offsets_refused(offsets, large, why):
    child = pa.array(np.arange(8, dtype=np.float32))
    dt = np.int64 if large else np.int32
    data = stream([batch(raw_list(MARK, child, large=large))])
    data = patched(data, np.array(MARK, dt).tobytes(), np.array(offsets, dt).tobytes())
    rc, out, err = recode(data)
    assert rc == 1, err
    assert "ECORRUPT" in err or "ETOOBIG" in err
    assert "field 'v'" in err and why in err, err


@pytest.mark.parametrize("child_len", [90, 92, 0, 2**40])
def test_fixed_child_length_that_lies(child_len):
    """7 rows of dimension 13: the child's FieldNode {91, 0} is rewritten to another length."""
    arr = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(91, dtype=np.float32)), 13)
    data = patched(stream([batch(arr)]), np.array([91, 0], np.int64).tobytes(), np.array([child_len, 0], np.int64).tobytes())
    rc, out, err = recode(data)
    assert rc == 1 and "ECORRUPT" in err, err
    assert "field 'v'" in err and f"length {child_len}" in err and "91" in err, err


def test_list_child_shorter_than_offsets():
    arr = raw_list(MARK, pa.array(np.arange(8, dtype=np.float32)))
    data = patched(stream([batch(arr)]), np.array([8, 0], np.int64).tobytes(), np.array([6, 0], np.int64).tobytes())
    rc, out, err = recode(data)
    assert rc == 1 and "ECORRUPT" in err and "at least 8" in err, err


def test_values_buffer_shorter_than_child():
    """The child claims 91 float32 (364 bytes); its buffer's length is rewritten to 360."""
    arr = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(91, dtype=np.float32)), 13)
    data = stream([batch(arr)])
    i = data.index(np.array([364], np.int64).tobytes())
    data = data[:i] + np.array([360], np.int64).tobytes() + data[i + 8:]
    rc, out, err = recode(data)
    assert rc == 1 and "ECORRUPT" in err and "360 bytes" in err, err


def test_null_element_under_valid_list_refused_under_null_list_accepted():
    bad = pa.array([[1.0, None], [2.0, 3.0]], pa.list_(pa.float32(), 2))
    rc, out, err = recode(stream([batch(bad)]))
    assert rc == 1 and "EINVAL" in err and "row 0" in err and "element 1" in err, err
    ok = pa.array([None, [2.0, 3.0]], pa.list_(pa.float32(), 2))  # pyarrow writes null slots under the null row
    rc, out, err = recode(stream([batch(ok)]))
    assert rc == 0, err
    assert pa.ipc.open_stream(out).read_all()["v"].to_pylist() == [None, [2.0, 3.0]]


@pytest.mark.parametrize("arr,words", [
    (pa.array([[[1.0]]], pa.list_(pa.list_(pa.float32()))), "deeper than one level"),
    (pa.array([[[1.0]]], pa.list_(pa.list_(pa.float32(), 1), 1)), "deeper than one level"),
    (pa.array([[1.0]], pa.list_(pa.float64())), "List<Float64>"),
    (pa.array([[1]], pa.list_(pa.int16())), "List<Int16>"),
    (pa.array([[1]], pa.list_(pa.uint8(), 1)), "FixedSizeList<UInt8>"),
    (pa.array([["a"]], pa.list_(pa.string())), "not supported"),
])
def test_unsupported_lists_refused_naming_field(arr, words):
    rc, out, err = recode(stream([batch(arr)]))
    assert rc == 1 and "EUNSUPPORTED" in err, err
    assert "field 'v'" in err and words in err, err


def test_fixed_dimension_limit():
    child = pa.array(np.zeros(70000, np.float32))
    rc, out, err = recode(stream([batch(pa.FixedSizeListArray.from_arrays(child, 70000))]))
    assert rc == 1 and "70000" in err and "65536" in err, err


def test_hostile_lists_truncated_and_flipped_never_crash():
    import random
    t = pa.table({"f": pa.FixedSizeListArray.from_arrays(pa.array(np.arange(6, dtype=np.float32)), 3),
                  "v": pa.array([[1], None], pa.list_(pa.int8()))})
    data = stream(t.to_batches())
    for cut in range(0, len(data), 3):
        rc, out, err = recode(data[:cut])
        assert rc in (0, 1, 3), (cut, rc, err)
    rnd = random.Random(16)
    for pos in range(len(data)):
        flipped = bytearray(data)
        flipped[pos] ^= 1 << rnd.randrange(8)
        rc, out, err = recode(bytes(flipped))
        assert rc in (0, 1, 3), (pos, rc, err)
        if rc == 0:
            pa.ipc.open_stream(out).read_all()
