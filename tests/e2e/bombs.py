"""Hostile bodies that are small on the wire and huge once decoded (issue 17), built with
pyarrow so the bytes are what a real Arrow/Parquet implementation writes, plus the peak-RSS
probe of a server process. Shared by tests/e2e/test_bombs.py and bench/bench_bombs.py."""
import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ARROW = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
MiB = 1 << 20


def reset_peak(pid):
    """Resets the peak RSS of pid to its current RSS (writing 5 to /proc/<pid>/clear_refs,
    Linux >= 4.0) and returns that RSS in bytes: VmHWM read later minus this is the growth
    caused by what ran in between, whatever peaks came before."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")
    return vm_hwm(pid)


def vm_hwm(pid):
    """Peak resident set size of process pid, bytes (VmHWM of /proc/<pid>/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def string_table_schema(ncols=8):
    """The table the string bombs target: key `c0` and c1..c{n-1}, all utf8."""
    cols = {f"c{i}": {"dtype": "utf8", "nullable": i != 0} for i in range(ncols)}
    return {"key": "c0", "columns": cols}


INT_SCHEMA = {"columns": {"id": {"dtype": "int64", "nullable": False, "key": True},
                          "v": {"dtype": "int64", "nullable": True}}}


def parquet_dictionary_bomb(ncols=8, rows=8192, value_len=64 * 1024):
    """ncols dictionary columns of `rows` rows that all hold one value_len-byte string:
    ~2.4 KB of Parquet (dictionary page of one value, RLE indices) that decodes into
    ncols * rows * value_len bytes (4 GiB at the defaults)."""
    s = "x" * value_len
    arr = pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), pa.array([s]))
    t = pa.table({f"c{i}": arr for i in range(ncols)})
    buf = io.BytesIO()
    pq.write_table(t, buf, use_dictionary=True, compression="zstd", row_group_size=rows)
    return buf.getvalue()


def ipc_stream(table_or_batches, schema=None, compression=None):
    sink = io.BytesIO()
    opts = pa.ipc.IpcWriteOptions(compression=compression)
    batches = table_or_batches if isinstance(table_or_batches, list) else table_or_batches.to_batches()
    with pa.ipc.new_stream(sink, schema or batches[0].schema, options=opts) as w:
        for b in batches:
            w.write_batch(b)
    return sink.getvalue()


def ipc_dictionary_bomb(rows=12000, value_len=64 * 1024, names=("c0",)):
    """A ~1 KB zstd Arrow IPC stream: one dictionary of one value_len-byte string and a batch
    of `rows` indices to it (12000 x 64 KiB = 750 MiB of strings once materialised)."""
    d = pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int8()), pa.array(["y" * value_len]))
    b = pa.record_batch([d] * len(names), names=list(names))
    return ipc_stream([b], compression="zstd")


def ipc_zstd_bomb(batches=8, rows_per_batch=4 * MiB):
    """A zstd Arrow IPC stream of `batches` batches of int64 zeros (id, v): each batch
    decodes to rows_per_batch * 16 bytes (64 MiB at the defaults: 512 MiB for the stream)
    from a few KB on the wire; the batches of one stream add up."""
    col = pa.array(np.zeros(rows_per_batch, dtype=np.int64))
    b = pa.record_batch([col, col], names=["id", "v"])
    return ipc_stream([b] * batches, compression="zstd")


def json_fetch_bomb(payload, strings=False):
    """The largest fetch body under `payload` bytes with the most keys: murr 0.3's
    {"keys": {"id": [0,0,...]}} (2 bytes a key), or with strings=True murr 0.2's
    {"keys": ["","",...]} (3 bytes a key). Every key costs a parse-tree node, and a typed key
    or a key slice and pointer: 16-40x the body once parsed."""
    if strings:
        head, tail, key = '{"keys":[', '],"columns":["c1"]}', '""'
    else:
        head, tail, key = '{"keys":{"id":[', ']},"columns":["v"]}', "0"
    n = (payload - len(head) - len(tail)) // (len(key) + 1)
    return head + ",".join([key] * n) + tail


def ipc_fetch_keys(batches, rows_per_batch, compression="zstd"):
    """An Arrow IPC fetch request (murr 0.3): `batches` record batches of `rows_per_batch` int64
    key zeros (`id`), asking for column v. Several batches of one stream are joined into one
    key batch before the read (a copy of all of them)."""
    col = pa.array(np.zeros(rows_per_batch, dtype=np.int64))
    schema = pa.schema([("id", pa.int64())], metadata={"columns": '["v"]'})
    b = pa.record_batch([col], schema=schema)
    return ipc_stream([b] * batches, schema=schema, compression=compression)
