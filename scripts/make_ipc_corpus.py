"""Writes the Arrow IPC seed corpus for fuzz/fuzz_arrow_ipc.c with pyarrow.
Usage: build/venv/bin/python scripts/make_ipc_corpus.py fuzz/corpus/arrow_ipc
Each file starts with one byte (the driver's feed split) followed by an IPC stream."""
import io
import sys
from pathlib import Path

import pyarrow as pa

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
vals = ["a", None, "a string longer than twelve", ""]
cases = {
    "ints": pa.table({"i8": pa.array([1, None, -1, 2], pa.int8()), "u64": pa.array([0, 2**64 - 1, None, 3], pa.uint64())}),
    "floats": pa.table({"f": pa.array([0.5, None, float("nan"), -0.0], pa.float32()), "d": [1.0, 2.0, None, 3.0]}),
    "strings": pa.table({"s": pa.array(vals), "b": [True, False, None, True]}),
    "large": pa.table({"s": pa.array(vals, pa.large_string())}),
    "view": pa.table({"s": pa.array(vals, pa.string_view())}),
    "dict": pa.table({"s": pa.array(vals).dictionary_encode()}),
}
for name, t in cases.items():
    for comp in (None, "lz4", "zstd"):
        sink = io.BytesIO()
        opts = pa.ipc.IpcWriteOptions(compression=comp) if comp else None
        with pa.ipc.new_stream(sink, t.schema, options=opts) as w:
            for b in t.to_batches(max_chunksize=2):
                w.write_batch(b)
        (out / f"{name}-{comp or 'plain'}.bin").write_bytes(b"\x07" + sink.getvalue())

# List (embedding) columns, issue 16: valid lists of every element type, then hostile ones
# made by rewriting bytes pyarrow refuses to write (offsets out of order, a child length
# that lies, a FixedSizeList size past the limit).
import numpy as np  # noqa: E402

lists = pa.table({
    "fx": pa.FixedSizeListArray.from_arrays(pa.array(np.arange(12, dtype=np.float32)), 3),
    "h": pa.array([[np.float16(1.5)], None, [], [np.float16(-2)]], pa.list_(pa.float16())),
    "i8": pa.array([[1, -128], [127], None, []], pa.large_list(pa.int8())),
})


def one_stream(t, comp=None):
    sink = io.BytesIO()
    opts = pa.ipc.IpcWriteOptions(compression=comp) if comp else None
    with pa.ipc.new_stream(sink, t.schema, options=opts) as w:
        for b in t.to_batches(max_chunksize=2):
            w.write_batch(b)
    return sink.getvalue()


for comp in (None, "lz4", "zstd"):
    (out / f"lists-{comp or 'plain'}.bin").write_bytes(b"\x07" + one_stream(lists, comp))
mark = np.array([0, 3, 5, 8], np.int32)
raw = pa.Array.from_buffers(pa.list_(pa.float32()), 3, [None, pa.py_buffer(mark.tobytes())],
                            children=[pa.array(np.arange(8, dtype=np.float32))])
good = one_stream(pa.table({"v": raw}))
hostile = {
    "offsets-out-of-order": good.replace(mark.tobytes(), np.array([0, 5, 3, 8], np.int32).tobytes()),
    "offsets-past-child": good.replace(mark.tobytes(), np.array([0, 3, 5, 99], np.int32).tobytes()),
    "child-length-lies": good.replace(np.array([8, 0], np.int64).tobytes(), np.array([6, 0], np.int64).tobytes()),
}
fx = one_stream(pa.table({"v": pa.FixedSizeListArray.from_arrays(pa.array(np.arange(91, dtype=np.float32)), 13)}))
hostile["fixed-child-length-lies"] = fx.replace(np.array([91, 0], np.int64).tobytes(), np.array([90, 0], np.int64).tobytes())
for name, data in hostile.items():
    (out / f"lists-{name}.bin").write_bytes(b"\x07" + data)
