"""Synchronous client over Arrow Flight (``pymurr.connect("grpc://host:port")``).

Reads are DoGet with the 0.3 ticket ``{"table", "keys": {column: [...]}, "columns"}`` (a
sparse answer, ``_idx`` first, as over HTTP); writes are DoPut (a replace: the CMD
descriptor ``{"table", "mode": "replace"}``). Flight has no calls for creating, dropping,
compacting or versions (murr answers DoAction with UNIMPLEMENTED), so those go over HTTP
to ``http_endpoint`` (``pymurr.serve()`` passes it); without one they raise
``InvalidRequestError`` naming the call.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Optional, Sequence, TypeVar

import pyarrow as pa
import pyarrow.flight as fl

from . import _arrow
from ._api import ClientBase
from .errors import InvalidRequestError, MurrError, ServerError, TableAlreadyExistsError, TableNotFoundError
from .http import HttpClient
from .schema import SchemaLike, TableSchema

T = TypeVar("T")

# gRPC status (as pyarrow raises it) -> the error murr's HTTP API answers for the same code
_ERRORS = [
    (fl.FlightUnavailableError, lambda m: ServerError(503, m)),
    (fl.FlightTimedOutError, lambda m: ServerError(504, m)),
    (fl.FlightInternalError, lambda m: ServerError(500, m)),
    (fl.FlightServerError, lambda m: ServerError(500, m)),
    (pa.ArrowKeyError, lambda m: TableNotFoundError(404, m)),
    (pa.ArrowAlreadyExistsError if hasattr(pa, "ArrowAlreadyExistsError") else (), lambda m: TableAlreadyExistsError(409, m)),
    (pa.ArrowCapacityError, lambda m: InvalidRequestError(413, m)),
    (pa.ArrowInvalid, lambda m: InvalidRequestError(400, m)),
    (pa.ArrowNotImplementedError, lambda m: InvalidRequestError(400, m)),
]


def _call(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except MurrError:
        raise
    except pa.ArrowException as e:
        msg = str(e)
        for cls, make in _ERRORS:
            if cls and isinstance(e, cls):
                raise make(msg) from e
        raise ServerError(500, msg) from e


class FlightClient(ClientBase):
    """A murr server over Arrow Flight, with the API of ``pymurr.Database``."""

    def __init__(self, endpoint: str, *, http_endpoint: Optional[str] = None) -> None:
        self.endpoint = endpoint
        self._client = fl.FlightClient(endpoint)  # one HTTP/2 connection, shared by threads
        self._http = HttpClient(http_endpoint) if http_endpoint else None
        self._keys: Dict[str, List[str]] = {}

    def _admin(self, call: str) -> HttpClient:
        if self._http is None:
            raise InvalidRequestError(400, "%s is not a Flight call: pass http_endpoint= to connect() for it" % call)
        return self._http

    def close(self) -> None:
        self._client.close()
        if self._http:
            self._http.close()

    # tables: over HTTP
    def create_table(self, name: str, schema: SchemaLike) -> None:
        self._admin("create_table").create_table(name, schema)
        self._keys.pop(name, None)

    def drop_table(self, name: str) -> None:
        self._admin("drop_table").drop_table(name)
        self._keys.pop(name, None)

    def list_tables(self) -> Dict[str, TableSchema]:
        return self._admin("list_tables").list_tables()

    def get_schema(self, name: str) -> TableSchema:
        return self._admin("get_schema").get_schema(name)

    def get_schema_json(self, name: str) -> str:
        return self._admin("get_schema_json").get_schema_json(name)

    def compact(self, table: str) -> None:
        self._admin("compact").compact(table)

    def versions(self, table: str) -> List[Dict[str, Any]]:
        return self._admin("versions").versions(table)

    def rollback(self, table: str, version: Optional[int] = None) -> int:
        return self._admin("rollback").rollback(table, version)

    # data: over Flight
    def write(self, table: str, data: _arrow.DataLike) -> None:
        self._put(fl.FlightDescriptor.for_path(table), data)

    def replace(self, table: str, data: _arrow.DataLike) -> None:
        cmd = json.dumps({"table": table, "mode": "replace"}).encode()
        self._put(fl.FlightDescriptor.for_command(cmd), data)

    def _put(self, desc: fl.FlightDescriptor, data: _arrow.DataLike) -> None:
        t = _arrow.narrow_types(_arrow.to_table(data))

        def put() -> None:
            writer, reader = self._client.do_put(desc, t.schema)
            writer.write_table(t)
            writer.done_writing()
            reader.read()
            writer.close()

        _call(put)

    def read(self, table: str, keys: _arrow.KeysLike, columns: Sequence[str]) -> pa.Table:
        kt = _arrow.keys_table(keys, lambda: self._key_columns(table))
        ticket = fl.Ticket(json.dumps({"table": table, "keys": _arrow.keys_json(kt), "columns": list(columns)}))
        return _call(lambda: self._client.do_get(ticket).read_all())

    def table_names(self) -> List[str]:
        """Names of the tables (ListFlights), without HTTP."""
        return _call(lambda: [i.descriptor.path[0].decode() for i in self._client.list_flights()])


__all__ = ["FlightClient"]
