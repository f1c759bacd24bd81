"""Helpers for the murr 0.3 tests: a blocking face over the async PyPI client murr 0.3.1, the
join of a sparse answer on `_idx`, and a model of the writes to compare answers with."""
import asyncio
import io
import json

import numpy as np
import pyarrow as pa

from murr.client import IDX_COLUMN, Client

ARROW = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"


class Murr031:
    """Each method of murr.client.Client, unmodified, called in its own event loop:
    `Murr031(server).read(...)` is `await Client(server.url).read(...)` (server.url is read
    at each call, so a restarted server is followed)."""

    def __init__(self, server):
        self.server = server

    def __getattr__(self, name):
        def call(*args, **kw):
            async def go():
                async with Client(self.server.url) as c:
                    return await getattr(c, name)(*args, **kw)
            return asyncio.run(go())
        return call


def scatter(answer, n, columns, types=None):
    """Joins a sparse answer (pa.Table or the `columns` object of a JSON answer) on `_idx`:
    a list of n entries, a tuple of the requested columns' values for a key that was found,
    None for a miss. Checks the answer's shape: `_idx` (uint32, no nulls) first, then the
    requested columns in request order (with `types`, if given), every position at most once
    and inside the request."""
    if isinstance(answer, pa.Table):
        assert answer.column_names == [IDX_COLUMN, *columns]
        assert answer.schema.field(IDX_COLUMN).type == pa.uint32()
        assert answer.column(IDX_COLUMN).null_count == 0
        if types is not None:
            assert [answer.schema.field(c).type for c in columns] == list(types)
        cols = {c: answer.column(c).to_pylist() for c in answer.column_names}
    else:  # (the reference's JSON objects are sorted by name: their order is checked apart)
        assert sorted(answer) == sorted([IDX_COLUMN, *columns]), list(answer)
        cols = answer
    idx = cols[IDX_COLUMN]
    assert all(len(cols[c]) == len(idx) for c in columns), {c: len(v) for c, v in cols.items()}
    assert len(set(idx)) == len(idx), f"a request position answered twice: {idx}"
    assert all(isinstance(i, int) and 0 <= i < n for i in idx), idx
    out = [None] * n
    for row, i in enumerate(idx):
        out[i] = tuple(cols[c][row] for c in columns)
    return out


def f32(v):
    """The value a float32 column stores for v (as the Python float pyarrow returns)."""
    if v is None:
        return None
    with np.errstate(over="ignore"):  # out of range: infinity, as on the server
        return float(np.float32(v))


class Model:
    """What a table should answer: whole-row upserts, last write wins."""

    def __init__(self, keys, columns):
        self.keys = list(keys)        # key column names, schema order
        self.columns = list(columns)  # value column names
        self.rows = {}

    def write(self, data):
        """data: {column: list of values} (already as the table stores them)."""
        n = len(data[self.keys[0]])
        for i in range(n):
            k = tuple(data[c][i] for c in self.keys)
            self.rows[k] = {c: data[c][i] for c in self.columns}

    def expect(self, keys, columns):
        """keys: {key column: list}; the scattered answer that `scatter` should return."""
        n = len(keys[self.keys[0]])
        out = []
        for i in range(n):
            row = self.rows.get(tuple(keys[c][i] for c in self.keys))
            out.append(None if row is None else tuple(row[c] for c in columns))
        return out

    def expect_dense(self, keys, columns):
        """The dense (0.2) answer: {column: values}, nulls for a miss."""
        got = self.expect(keys, columns)
        return {c: [None if r is None else r[j] for r in got] for j, c in enumerate(columns)}


def ipc(table_or_batches, schema=None, metadata=None):
    """An Arrow IPC stream of a table (one message per chunk) or of a list of batches."""
    if isinstance(table_or_batches, pa.Table):
        schema, batches = table_or_batches.schema, table_or_batches.to_batches()
    else:
        batches = table_or_batches
        schema = schema or batches[0].schema
    if metadata is not None:
        schema = schema.with_metadata(metadata)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, schema) as w:
        for b in batches:
            w.write_batch(b)
    return sink.getvalue()


def fetch_ipc(keys: pa.Table, columns):
    """An Arrow IPC fetch request: the key columns as batches, `columns` as a JSON list in the
    schema metadata (what murr 0.3.1's client sends)."""
    return ipc(keys, metadata={b"columns": json.dumps(list(columns)).encode()})


def read_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()
