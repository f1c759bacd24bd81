"""A table's schema from what murr's Flight service answers (GetSchema, GetFlightInfo,
ListFlights): the Arrow schema of the table's columns in declaration order, with the
metadata ``key = <column>`` for a table created in schema form 2 and none for form 3.

What the Arrow schema carries: names, order, dtypes (a list column's element type, and its
``dim`` as a FixedSizeList), nullability, and for form 2 the key. What it does not: the key
columns of a form-3 table (found by ``key_candidates`` and a probe, see flight.py) and the
``strict`` flags (reported as the default ``True``; decision 0011).
"""
from __future__ import annotations

import json
from itertools import combinations
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import pyarrow as pa

from .schema import ColumnSchema, DType, TableSchema

_SCALARS = {pa.string(): DType.UTF8, pa.bool_(): DType.BOOL, pa.int8(): DType.INT8, pa.int16(): DType.INT16,
            pa.int32(): DType.INT32, pa.int64(): DType.INT64, pa.uint8(): DType.UINT8, pa.uint16(): DType.UINT16,
            pa.uint32(): DType.UINT32, pa.uint64(): DType.UINT64, pa.float32(): DType.FLOAT32,
            pa.float64(): DType.FLOAT64}
_ELEMENTS = {pa.float32(): DType.LIST_FLOAT32, pa.float16(): DType.LIST_FLOAT16, pa.int8(): DType.LIST_INT8}
# a form-3 key: non-nullable, utf8 or an integer dtype (murr.h)
_KEY_DTYPES = {DType.UTF8, DType.INT8, DType.INT16, DType.INT32, DType.INT64, DType.UINT8, DType.UINT16,
               DType.UINT32, DType.UINT64}


def column_of_field(table: str, f: pa.Field) -> ColumnSchema:
    """The ColumnSchema of one field (key and strict left at their defaults)."""
    t = f.type
    if t in _SCALARS:
        return ColumnSchema(dtype=_SCALARS[t], nullable=f.nullable)
    if (pa.types.is_fixed_size_list(t) or pa.types.is_list(t)) and t.value_type in _ELEMENTS:
        dim = t.list_size if pa.types.is_fixed_size_list(t) else None
        return ColumnSchema(dtype=_ELEMENTS[t.value_type], nullable=f.nullable, dim=dim)
    raise ValueError("table %r, column %r: Arrow type %s is not a murr dtype" % (table, f.name, t))


def form2_key(schema: pa.Schema) -> Optional[str]:
    """The key column a form-2 table names in the schema metadata, else None."""
    key = (schema.metadata or {}).get(b"key")
    return None if key is None else key.decode()


def table_schema(table: str, schema: pa.Schema, keys: Sequence[str]) -> TableSchema:
    cols = {f.name: column_of_field(table, f) for f in schema}
    for k in keys:
        cols[k].key = True
    return TableSchema(cols)


def key_candidates(table: str, schema: pa.Schema) -> Iterator[Tuple[str, ...]]:
    """Sets of columns that could be a form-3 table's key, smallest first, in declaration
    order: every non-empty combination of the non-nullable utf8/integer columns."""
    names = [f.name for f in schema if not f.nullable and f.type in _SCALARS and _SCALARS[f.type] in _KEY_DTYPES]
    for size in range(1, len(names) + 1):
        yield from combinations(names, size)


def schema_json(table: str, schema: pa.Schema, keys: List[str]) -> str:
    """The schema's JSON text in the form the table was created in, as the HTTP API answers
    it (murr_schema_to_json: form 2 writes ``strict`` only when false, which Flight cannot
    say, so never)."""
    ts = table_schema(table, schema, keys)
    key = form2_key(schema)
    if key is None:
        return ts.model_dump_json()
    cols: Dict[str, Dict[str, object]] = {}
    for n, c in ts.columns.items():
        cols[n] = {"dtype": c.dtype.value}
        if c.dim is not None:
            cols[n]["dim"] = c.dim
        cols[n]["nullable"] = c.nullable
    return json.dumps({"key": key, "columns": cols}, separators=(",", ":"))
