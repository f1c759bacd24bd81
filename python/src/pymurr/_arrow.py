"""Arrow helpers shared by every mode: input normalisation and the numpy / torch views."""
from __future__ import annotations

import json
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np
import pyarrow as pa

ARROW_IPC_MIME = "application/vnd.apache.arrow.stream"
COLUMNS_METADATA = b"columns"
IDX_COLUMN = "_idx"

DataLike = Union[pa.Table, pa.RecordBatch, Any]  # Any: a pandas DataFrame or a {name: values} mapping
KeysLike = Union[pa.Table, pa.RecordBatch, Mapping[str, Any], Sequence[Any], pa.Array]

# Arrow types murr stores directly; others are cast to these before they leave the process
_WIDE = {pa.large_string(): pa.string()}
if hasattr(pa, "string_view"):
    _WIDE[pa.string_view()] = pa.string()


def to_table(data: DataLike) -> pa.Table:
    """A pyarrow Table from a Table, RecordBatch, pandas DataFrame or ``{name: values}``."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if type(data).__name__ == "DataFrame" and hasattr(data, "columns"):
        return pa.Table.from_pandas(data, preserve_index=False)
    return pa.table(dict(data))


def narrow_types(table: pa.Table) -> pa.Table:
    """Large strings and string views become utf8 (int32 offsets), murr's layout."""
    fields = [pa.field(f.name, _WIDE.get(f.type, f.type), f.nullable) for f in table.schema]
    target = pa.schema(fields)
    return table if target.equals(table.schema) else table.cast(target)


def keys_table(keys: KeysLike, key_columns: Callable[[], List[str]]) -> pa.Table:
    """Keys as a table of the key columns. A plain sequence or Array is the values of a
    single-column key (``key_columns()`` names the table's key columns)."""
    if isinstance(keys, (pa.Table, pa.RecordBatch)) or isinstance(keys, Mapping):
        return narrow_types(to_table(keys))
    names = key_columns()
    if len(names) != 1:
        raise TypeError("keys as a sequence need a table with a single key column, not %s; pass {column: values}"
                        % names)
    return narrow_types(pa.table({names[0]: keys}))


def keys_batch(keys: KeysLike, key_columns: Callable[[], List[str]]) -> pa.RecordBatch:
    """``keys_table`` as one RecordBatch; a plain list of values skips the Table (the hot
    path of embedded reads)."""
    if isinstance(keys, (list, tuple, pa.Array)):
        names = key_columns()
        if len(names) == 1:
            arr = keys if isinstance(keys, pa.Array) else pa.array(keys)
            if arr.type in _WIDE:
                arr = arr.cast(_WIDE[arr.type])
            return pa.RecordBatch.from_arrays([arr], names=names)
    kt = keys_table(keys, key_columns)
    return kt.combine_chunks().to_batches()[0] if kt.num_rows else pa.RecordBatch.from_pylist([], schema=kt.schema)


def keys_json(keys: pa.Table) -> Dict[str, list]:
    return {name: keys.column(name).to_pylist() for name in keys.column_names}


def fetch_request(keys: pa.Table, columns: Sequence[str]) -> pa.Table:
    metadata = dict(keys.schema.metadata or {})
    metadata[COLUMNS_METADATA] = json.dumps(list(columns)).encode()
    return keys.replace_schema_metadata(metadata)


def table_to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def ipc_to_table(data: Any) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()


def to_numpy(table: Union[pa.Table, pa.RecordBatch], columns: Optional[Iterable[str]] = None) -> Dict[str, np.ndarray]:
    """``{column: numpy array}``. A column of one chunk without nulls of a numeric dtype is a
    view of the Arrow buffer (no copy; read-only), a fixed-size list (embedding) column
    without nulls a 2-D ``rows x dim`` view. With nulls (copies): a numeric column becomes
    float with NaN at the nulls (integers float64, so integers above 2**53 round; floats keep
    their width); bool with nulls an object array of True/False/None (bool without nulls a
    bool array); utf8 always an object array of str (None at nulls); variable-length lists,
    and fixed-size lists with a null row, object arrays of 1-D arrays (None at null rows)."""
    if columns is None and isinstance(table, pa.RecordBatch):
        return {name: _column_numpy(col) for name, col in zip(table.schema.names, table.columns)}
    names = list(columns) if columns is not None else list(table.column_names)
    return {name: _column_numpy(table.column(name)) for name in names}


def _column_numpy(col: Union[pa.Array, pa.ChunkedArray]) -> np.ndarray:
    col = _single_chunk(col)
    if col.null_count == 0 and _numeric(col.type):
        return np.asarray(col)  # a view of the Arrow buffer
    if pa.types.is_fixed_size_list(col.type) and col.null_count == 0:
        # rows x dim, a view of the elements (murr's child arrays start at the slice's first row)
        dim = col.type.list_size
        return np.asarray(col.flatten()).reshape(len(col), dim)
    return col.to_numpy(zero_copy_only=False)


def _single_chunk(col: Union[pa.Array, pa.ChunkedArray]) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    return col


def _numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def dlpack_columns(table: Union[pa.Table, pa.RecordBatch], columns: Optional[Iterable[str]], from_dlpack: Callable[[Any], Any],
                   from_numpy: Callable[[np.ndarray], Any]) -> Dict[str, Any]:
    """``{column: tensor}`` made by a DLPack consumer (``torch.from_dlpack``,
    ``numpy.from_dlpack``): a numeric column without nulls is pyarrow's own DLPack export of
    the Arrow buffer (no copy; the tensor keeps the Arrow array, hence the result, alive), a
    fixed-size list of numbers without nulls the export of its elements reshaped to
    ``rows x dim`` (no copy). Other columns go through ``to_numpy`` and ``from_numpy`` (a
    copy): nulls as NaN (integers float64), bool as bool. utf8, variable-length lists and
    lists with a null row have no tensor form: TypeError naming the column."""
    out: Dict[str, Any] = {}
    names = list(columns) if columns is not None else list(table.schema.names)
    for name in names:
        col = _single_chunk(table.column(name))
        t = col.type
        if col.null_count == 0 and _numeric(t):
            out[name] = from_dlpack(col)
        elif col.null_count == 0 and pa.types.is_fixed_size_list(t) and _numeric(t.value_type):
            out[name] = from_dlpack(col.flatten()).reshape(len(col), t.list_size)
        else:
            arr = _column_numpy(col)
            if arr.dtype == object:
                raise TypeError("column %r (%s%s) has no tensor form: only numbers, bools and fixed-size lists "
                                "without null rows do" % (name, t, ", %d nulls" % col.null_count if col.null_count else ""))
            out[name] = from_numpy(np.ascontiguousarray(arr))
    return out


def to_torch(table: Union[pa.Table, pa.RecordBatch], columns: Optional[Iterable[str]] = None) -> Dict[str, Any]:
    """``{column: torch.Tensor}`` through DLPack (``dlpack_columns``: no copy for numeric and
    fixed-size list columns without nulls: those tensors view the result; writing into them
    writes into the Arrow buffers).
    Needs torch installed; it is not a dependency of pymurr."""
    import torch  # noqa: PLC0415 - optional

    return dlpack_columns(table, columns, torch.from_dlpack, torch.from_numpy)
