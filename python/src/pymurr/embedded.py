"""Embedded mode: the engine in this process (``pymurr.open``).

Results cross from the engine into pyarrow through the Arrow C Data Interface: the
engine's result batch becomes the buffers of the returned Table (no copy), freed when the
last Arrow object using it is. Writes go the same way in the other direction: the engine
reads the pyarrow buffers in place. ctypes releases the GIL during every engine call.
"""
from __future__ import annotations

import atexit
import ctypes
import threading
import weakref
from ctypes import byref, c_char_p, c_int64, c_size_t, c_uint64, c_void_p
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pyarrow as pa

from . import _arrow
from ._api import ClientBase
from ._lib import PY_COL_FIELDS, PY_ESPLIT, READ_SPARSE, ArrowArray, ArrowSchema, Error, Options, ServerOptions, VersionInfo, check, lib, take_string
from .errors import InvalidRequestError
from .schema import SchemaLike, TableSchema, schema_json

_open_dbs: "weakref.WeakSet[Database]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for db in list(_open_dbs):
        db.close()


class Database(ClientBase):
    """A murr data directory opened in this process. Thread-safe: any number of threads may
    call it at once; ``close()`` waits for calls in progress. The method names, schema model
    and errors are those of the PyPI ``murr`` 0.3.1 ``Client`` (synchronous here)."""

    def __init__(self, path: str, http_port: Optional[int] = None, *, sync_writes: bool = True,
                 keep_versions: int = 1, background_compaction: bool = True, grpc_port: Optional[int] = None,
                 host: str = "127.0.0.1") -> None:
        opts = Options()
        lib.murr_options_default(byref(opts))
        opts.sync_writes = sync_writes
        opts.keep_versions = keep_versions
        opts.background_compaction = background_compaction
        err = Error()
        handle = c_void_p()
        check(lib.murr_open(str(path).encode(), byref(opts), byref(handle), byref(err)), err)
        self.path = str(path)
        self._db: Optional[int] = handle.value
        self._server: Optional[int] = None
        self._cond = threading.Condition()
        self._active = 0
        self._keys: Dict[str, List[str]] = {}
        self._utf8: Dict[str, bool] = {}
        self._columns: Dict[Sequence[str], Any] = {}
        self.http_port: Optional[int] = None
        self.grpc_port: Optional[int] = None
        _open_dbs.add(self)
        if http_port is not None or grpc_port is not None:
            try:
                self._start_server(host, http_port or 0, grpc_port)
            except BaseException:
                self.close()
                raise

    # ---- lifetime ----

    def _start_server(self, host: str, http_port: int, grpc_port: Optional[int]) -> None:
        so = ServerOptions()
        lib.murr_server_options_default(byref(so))
        so.host = host.encode()
        so.http_port = http_port
        so.grpc_port = -1 if grpc_port is None else grpc_port
        err = Error()
        srv = c_void_p()
        check(lib.murr_server_start(self._db, byref(so), byref(srv), byref(err)), err)
        self._server = srv.value
        self.http_port = lib.murr_server_http_port(self._server)
        self.host = host
        if grpc_port is not None:
            self.grpc_port = lib.murr_server_grpc_port(self._server)

    @property
    def endpoint(self) -> Optional[str]:
        """``http://host:port`` of the in-process HTTP server, if one was started."""
        return None if self.http_port is None else "http://%s:%d" % (self.host, self.http_port)

    @property
    def flight_endpoint(self) -> Optional[str]:
        return None if self.grpc_port is None else "grpc://%s:%d" % (self.host, self.grpc_port)

    def close(self) -> None:
        """Stops the in-process server, waits for calls in progress, makes everything durable
        and closes the engine. Idempotent; also runs at interpreter exit."""
        with self._cond:
            db, self._db = self._db, None
            while self._active:
                self._cond.wait()
        if db is None:
            return
        if self._server is not None:
            lib.murr_server_stop(self._server)
            self._server = None
        lib.murr_close(db)
        _open_dbs.discard(self)

    def __del__(self) -> None:
        # a Database dropped without close() (no thread can be using it any more)
        if getattr(self, "_db", None) is not None:
            self.close()

    def _enter(self) -> int:
        with self._cond:
            if self._db is None:
                raise InvalidRequestError(400, "database %s is closed" % self.path, "EINVAL")
            self._active += 1
            return self._db

    def _leave(self) -> None:
        with self._cond:
            self._active -= 1
            if self._active == 0:
                self._cond.notify_all()

    # ---- tables ----

    def create_table(self, name: str, schema: SchemaLike) -> None:
        """Creates a table; ``schema`` a TableSchema (ours or the PyPI client's) or a dict in
        either JSON form (a form-2 dict makes a form-2 table)."""
        text = schema_json(schema).encode()
        err = Error()
        sch = c_void_p()
        check(lib.murr_schema_from_json(text, len(text), byref(sch), byref(err)), err)
        db = self._enter()
        try:
            check(lib.murr_create_table(db, name.encode(), sch, byref(err)), err)
        finally:
            self._leave()
            lib.murr_schema_free(sch)
        self._keys.pop(name, None)
        self._utf8.pop(name, None)

    def drop_table(self, name: str) -> None:
        err = Error()
        db = self._enter()
        try:
            check(lib.murr_drop_table(db, name.encode(), byref(err)), err)
        finally:
            self._leave()
        self._keys.pop(name, None)
        self._utf8.pop(name, None)

    def list_tables(self) -> Dict[str, TableSchema]:
        """``{name: schema}`` of every table."""
        err = Error()
        names = ctypes.POINTER(c_char_p)()
        count = c_size_t()
        db = self._enter()
        try:
            check(lib.murr_list_tables(db, byref(names), byref(count), byref(err)), err)
            listed = [names[i].decode() for i in range(count.value)]
            lib.murr_names_free(names, count)
        finally:
            self._leave()
        out = {}
        for n in listed:
            try:
                out[n] = self.get_schema(n)
            except Exception:  # dropped meanwhile
                continue
        return out

    def get_schema(self, name: str) -> TableSchema:
        return TableSchema.model_validate_json(self.get_schema_json(name))

    def get_schema_json(self, name: str) -> str:
        """The schema's JSON text in the form the table was created in."""
        err = Error()
        sch = c_void_p()
        db = self._enter()
        try:
            check(lib.murr_describe_table(db, name.encode(), byref(sch), byref(err)), err)
        finally:
            self._leave()
        try:
            return take_string(lib.murr_schema_to_json(sch))
        finally:
            lib.murr_schema_free(sch)

    # ---- writes ----

    def write(self, table: str, data: _arrow.DataLike) -> None:
        """Upserts rows (a pyarrow Table or RecordBatch, a pandas DataFrame or a mapping);
        every batch lands atomically. Columns are matched by name; extra ones are ignored."""
        self._write(table, data, None)

    def replace(self, table: str, data: _arrow.DataLike, source: str = "python") -> None:
        """Makes ``data`` the whole table: a new version, swapped in atomically; the previous
        one is kept for ``rollback``."""
        self._write(table, data, source)

    def _write(self, table: str, data: _arrow.DataLike, source: Optional[str]) -> None:
        t = _arrow.narrow_types(_arrow.to_table(data))
        batches = t.to_batches() or [pa.RecordBatch.from_pylist([], schema=t.schema)]
        handles = (c_void_p * len(batches))()
        err = Error()
        made = 0
        try:
            for i, rb in enumerate(batches):
                handles[i] = _import_batch(rb, err)
                made += 1
            db = self._enter()
            try:
                if source is None:
                    check(lib.murr_write_many(db, table.encode(), handles, len(batches), byref(err)), err)
                else:
                    check(lib.murr_replace(db, table.encode(), handles, len(batches), source.encode(), byref(err)),
                          err)
            finally:
                self._leave()
        finally:
            for i in range(made):
                lib.murr_batch_free(handles[i])

    # ---- reads ----

    def read(self, table: str, keys: _arrow.KeysLike, columns: Sequence[str]) -> pa.Table:
        """Reads ``columns`` for ``keys``: one column per key column (a Table, RecordBatch or
        ``{name: values}``), or for a single-column key a sequence of values. The answer is
        sparse as in the PyPI client: one row per key found, first column ``_idx`` (uint32,
        the key's position in ``keys``), then ``columns``; no copy of the engine's result."""
        return pa.Table.from_batches([_export_batch(self._read_result(table, keys, columns), Error())])

    def read_numpy(self, table: str, keys: _arrow.KeysLike, columns: Sequence[str]) -> Dict[str, Any]:
        """``read`` then ``to_numpy``: ``{"_idx": ..., column: array}``, views of the engine's
        result, which lives as long as the arrays do. When every column is numeric (or a
        fixed-size list: a ``rows x dim`` array) without nulls, the arrays are built over the
        result's buffers directly, without pyarrow (the hot path); otherwise as ``to_numpy``
        of ``read``."""
        return _numpy_result(self._read_result(table, keys, columns), columns)

    def _read_result(self, table: str, keys: _arrow.KeysLike, columns: Sequence[str]) -> int:
        """The engine's result batch (a murr_batch pointer the caller owns)."""
        cols = self._columns.get(tuple(columns))
        if cols is None:
            cols = (c_char_p * len(columns))(*[c.encode() for c in columns])
            if len(self._columns) > 256:
                self._columns.clear()
            self._columns[tuple(columns)] = cols
        err = Error()
        out = c_void_p()
        if type(keys) is list and keys and self._utf8_key(table):
            try:
                data = "\0".join(keys).encode()
            except TypeError:  # not all str: the general path says which
                data = None
            if data is not None:
                db = self._enter()
                try:
                    rc = lib.murr_py_read_joined(db, table.encode(), data, len(data), len(keys), cols, len(columns),
                                                 READ_SPARSE, byref(out), byref(err))
                finally:
                    self._leave()
                if rc != PY_ESPLIT:  # else a key holds NUL: the join is ambiguous, read the general way
                    check(rc, err)
                    return out.value
        kb = _import_batch(_arrow.keys_batch(keys, lambda: self._key_columns(table)), err)
        try:
            db = self._enter()
            try:
                check(lib.murr_read_keys(db, table.encode(), kb, cols, len(columns), READ_SPARSE, byref(out),
                                         byref(err)), err)
            finally:
                self._leave()
        finally:
            lib.murr_batch_free(kb)
        return out.value

    def _utf8_key(self, table: str) -> bool:
        """True when the table's key is one utf8 column (its keys are the strings themselves)."""
        u = self._utf8.get(table)
        if u is None:
            schema = self.get_schema(table)
            keys = schema.key_columns
            u = len(keys) == 1 and schema.columns[keys[0]].dtype.value == "utf8"
            self._utf8[table] = u
        return u

    # ---- maintenance, versions ----

    def compact(self, table: str) -> None:
        """Compacts a table, returning when the compaction is done."""
        err = Error()
        db = self._enter()
        try:
            check(lib.murr_compact(db, table.encode(), byref(err)), err)
        finally:
            self._leave()

    def versions(self, table: str) -> List[Dict[str, Any]]:
        """The table's versions, newest first: ``id, rows, bytes, created, serving, source``."""
        err = Error()
        arr = ctypes.POINTER(VersionInfo)()
        count = c_size_t()
        db = self._enter()
        try:
            check(lib.murr_list_versions(db, table.encode(), byref(arr), byref(count), byref(err)), err)
        finally:
            self._leave()
        try:
            return [{"id": v.id, "rows": v.rows, "bytes": v.bytes, "created": v.created, "serving": bool(v.serving),
                     "source": v.source.decode()} for v in (arr[i] for i in range(count.value))]
        finally:
            lib.murr_free(arr)

    def rollback(self, table: str, version: Optional[int] = None) -> int:
        """Makes kept version ``version`` (default: the newest older than the serving one)
        serve again; returns the id now serving."""
        err = Error()
        serving = c_uint64()
        db = self._enter()
        try:
            check(lib.murr_rollback(db, table.encode(), version or 0, byref(serving), byref(err)), err)
        finally:
            self._leave()
        return serving.value


def _import_batch(rb: pa.RecordBatch, err: Error) -> int:
    """A murr batch viewing the buffers of ``rb`` (the Arrow array moves into it)."""
    arr, sch = ArrowArray(), ArrowSchema()
    rb._export_to_c(ctypes.addressof(arr), ctypes.addressof(sch))
    out = c_void_p()
    try:
        rc = lib.murr_batch_import_arrow(byref(arr), byref(sch), byref(out), byref(err))
        if rc != 0:
            arr.release(byref(arr))
            check(rc, err)
    finally:
        sch.release(byref(sch))
    return out.value


def _export_batch(batch: int, err: Error) -> pa.RecordBatch:
    """The engine's result as a pyarrow RecordBatch over its buffers (freed with it)."""
    arr, sch = ArrowArray(), ArrowSchema()
    rc = lib.murr_batch_export_arrow(batch, byref(arr), byref(sch), byref(err))
    if rc != 0:
        lib.murr_batch_free(batch)
        check(rc, err)
    return pa.RecordBatch._import_from_c(ctypes.addressof(arr), ctypes.addressof(sch))


# numpy dtypes of murr's dtypes (murr_dtype order; None: utf8 and bool, read through pyarrow);
# a list dtype's entry is its element's
_NUMPY_DTYPES = [None, None, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
                 np.float32, np.float64, np.float32, np.float16, np.int8]
_LIST_DTYPES = 12
_CHAR = ctypes.c_char


class _Result:
    """Owns an engine result batch for the numpy arrays over its buffers: freed when the last
    of them is collected."""

    __slots__ = ("batch",)

    def __init__(self, batch: int) -> None:
        self.batch = batch

    def __del__(self, _free: Any = lib.murr_batch_free) -> None:
        _free(self.batch)


def _numpy_result(batch: int, columns: Sequence[str]) -> Dict[str, Any]:
    """``{"_idx": ..., column: array}`` of an engine result (which this takes over)."""
    n = len(columns) + 1
    desc = (c_int64 * (PY_COL_FIELDS * n))()
    rows = lib.murr_py_batch_columns(batch, desc, PY_COL_FIELDS * n)
    fields = desc[:]
    sizes, dtypes = fields[1::PY_COL_FIELDS], fields[2::PY_COL_FIELDS]
    if rows < 0 or any(fields[4::PY_COL_FIELDS]) or (rows and not all(sizes)):
        # strings, bools, nulls or variable lists: the general conversion
        return _arrow.to_numpy(_export_batch(batch, Error()))
    owner = _Result(batch)
    if rows == 0:
        arrays = [np.empty(0, _NUMPY_DTYPES[d]) for d in dtypes]
    else:
        arrays = []
        for addr, size, d in zip(fields[0::PY_COL_FIELDS], sizes, dtypes):
            mem = (_CHAR * size).from_address(addr)
            mem._owner = owner  # the arrays keep the batch alive through their base
            arrays.append(np.frombuffer(mem, _NUMPY_DTYPES[d]))
    if max(dtypes) >= _LIST_DTYPES:  # fixed-size lists: rows x dim
        for i, (d, dim) in enumerate(zip(dtypes, fields[3::PY_COL_FIELDS])):
            if d >= _LIST_DTYPES:
                arrays[i] = arrays[i].reshape(rows, dim)
    return dict(zip([_arrow.IDX_COLUMN, *columns], arrays))
