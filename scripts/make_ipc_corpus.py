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
