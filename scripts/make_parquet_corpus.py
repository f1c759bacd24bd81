"""Writes the Parquet seed corpus for fuzz/fuzz_parquet.c with pyarrow (small files: every
codec, both page versions, dictionary on/off, the DELTA and BYTE_STREAM_SPLIT encodings).
Usage: build/venv/bin/python scripts/make_parquet_corpus.py fuzz/corpus/parquet"""
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
t = pa.table({"s": ["a", None, "bb", "a"], "i": pa.array([1, None, -3, 4], pa.int32()),
              "l": pa.array([1, 2, None, 2**40], pa.int64()), "f": pa.array([0.5, None, 2.0, -1.0], pa.float32()),
              "b": [True, None, False, True], "u": pa.array([1, 2, 3, None], pa.uint16())})
n = 0
for codec in ("NONE", "SNAPPY", "GZIP", "ZSTD", "LZ4", "BROTLI"):
    for version in ("1.0", "2.0"):
        for dic in (True, False):
            pq.write_table(t, out / f"{codec}-{version}-{int(dic)}.parquet", compression=codec,
                           data_page_version=version, use_dictionary=dic, row_group_size=2)
            n += 1
for cols, enc in ((["i", "l"], "DELTA_BINARY_PACKED"), (["s"], "DELTA_LENGTH_BYTE_ARRAY"), (["s"], "DELTA_BYTE_ARRAY"),
                  (["f"], "BYTE_STREAM_SPLIT")):
    pq.write_table(t.select(cols), out / f"{enc}.parquet", use_dictionary=False, column_encoding={c: enc for c in cols},
                   compression="NONE")
print(n + 4, "files")

# LIST columns (issue 16): pyarrow 3-level lists of FLOAT and INT32 (INT_8), nulls and empty
# lists, v1/v2 pages, dictionary on/off; then repetition levels rewritten in place (a list
# that never closes, a continuation before any row).
lt = pa.table({"f": pa.array([[0.5, 1.5], None, [], [2.5]], pa.list_(pa.float32())),
               "i": pa.array([[1, -2], [], None, [127]], pa.list_(pa.int8())),
               "x": pa.FixedSizeListArray.from_arrays(pa.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], pa.float32()), 2)})
for version in ("1.0", "2.0"):
    for dic in (True, False):
        pq.write_table(lt, out / f"lists-{version}-{int(dic)}.parquet", data_page_version=version, use_dictionary=dic,
                       row_group_size=2, compression="SNAPPY")
plain = out / "lists-plain.parquet"
pq.write_table(pa.table({"v": pa.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]], pa.list_(pa.float32()))}),
               plain, compression="NONE", use_dictionary=False, data_page_version="1.0", write_statistics=False)
data = plain.read_bytes()
run = bytes([2, 0, 0, 0, 0x03, 0xaa])  # the rep levels 0,1,0,1,... as one bit-packed run
(out / "lists-never-closes.parquet").write_bytes(data.replace(run, run[:5] + b"\xfe"))
(out / "lists-continuation-first.parquet").write_bytes(data.replace(run, run[:5] + b"\xab"))
