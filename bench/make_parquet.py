"""Writes the Parquet benchmark inputs (not committed: generated on demand).
Usage: build/venv/bin/python bench/make_parquet.py OUT_DIR [ROWS]
  ingest.parquet: ROWS (default 10M) rows, key = decimal row number, col_0..col_9 float32, snappy
  enc-*.parquet: 1M rows per encoding / codec for decode speed."""
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
rows = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000_000
keys = pa.array(np.arange(rows).astype(str))
cols = {f"col_{c}": pa.array((np.arange(rows, dtype=np.float32) + np.float32(c / 10))) for c in range(10)}
pq.write_table(pa.table({"key": keys, **cols}), out / "ingest.parquet", compression="snappy", row_group_size=1_000_000)
n = 1_000_000
rng = np.random.default_rng(1)
f = pa.array(rng.random(n, dtype=np.float32))
i = pa.array(np.cumsum(rng.integers(0, 100, n)).astype(np.int64))
s = pa.array(np.char.add("user-", (np.arange(n) % 5000).astype(str)))
for name, t, kw in [
    ("plain-float32", pa.table({"v": f}), dict(use_dictionary=False, compression="NONE")),
    ("byte_stream_split-float32", pa.table({"v": f}), dict(use_dictionary=False, compression="NONE",
                                                           column_encoding={"v": "BYTE_STREAM_SPLIT"})),
    ("plain-int64", pa.table({"v": i}), dict(use_dictionary=False, compression="NONE")),
    ("delta_binary_packed-int64", pa.table({"v": i}), dict(use_dictionary=False, compression="NONE",
                                                           column_encoding={"v": "DELTA_BINARY_PACKED"})),
    ("dictionary-utf8", pa.table({"v": s}), dict(use_dictionary=True, compression="NONE")),
    ("plain-utf8", pa.table({"v": s}), dict(use_dictionary=False, compression="NONE")),
    ("delta_length_byte_array-utf8", pa.table({"v": s}), dict(use_dictionary=False, compression="NONE",
                                                              column_encoding={"v": "DELTA_LENGTH_BYTE_ARRAY"})),
    ("delta_byte_array-utf8", pa.table({"v": s}), dict(use_dictionary=False, compression="NONE",
                                                       column_encoding={"v": "DELTA_BYTE_ARRAY"})),
    ("snappy-float32", pa.table({"v": f}), dict(use_dictionary=False, compression="SNAPPY")),
    ("zstd-float32", pa.table({"v": f}), dict(use_dictionary=False, compression="ZSTD")),
]:
    pq.write_table(t, out / f"enc-{name}.parquet", **kw)
