"""Synchronous client over Arrow Flight (``pymurr.connect("grpc://host:port")``, or
``"grpc+tls://host:port"``).

Reads are DoGet with the 0.3 ticket ``{"table", "keys": {column: [...]}, "columns"}`` (a
sparse answer, ``_idx`` first, as over HTTP); writes are DoPut (a replace: the CMD
descriptor ``{"table", "mode": "replace"}``). ``list_tables``, ``get_schema`` and
``get_schema_json`` are ListFlights and GetFlightInfo, whose FlightInfo carries the table's
schema JSON (_flight_schema.py), unless an ``http_endpoint`` is given. Flight has no calls for
creating, dropping, compacting or versions (murr answers DoAction with UNIMPLEMENTED), so
those go over HTTP to ``http_endpoint`` (``pymurr.serve()`` passes it); without one they
raise ``InvalidRequestError`` naming the call. ``token=`` is sent as the ``authorization:
Bearer <token>`` header of every call (and to ``http_endpoint``); ``ca_file`` (a PEM path)
is the root a ``grpc+tls://`` server is verified against.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Optional, Sequence, TypeVar

import pyarrow as pa
import pyarrow.flight as fl

from . import _arrow, _flight_schema
from ._api import ClientBase
from .errors import (AuthenticationError, InvalidRequestError, MurrError, PermissionDeniedError, ServerError,
                     TableAlreadyExistsError, TableNotFoundError)
from .http import HttpClient
from .schema import SchemaLike, TableSchema

T = TypeVar("T")

# gRPC status (as pyarrow raises it) -> the error murr's HTTP API answers for the same code
_ERRORS = [
    (fl.FlightUnauthenticatedError, lambda m: AuthenticationError(401, m)),
    (fl.FlightUnauthorizedError, lambda m: PermissionDeniedError(403, m)),
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


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _flight_client(endpoint: str, ca_file: Optional[str], cert_file: Optional[str],
                   key_file: Optional[str]) -> fl.FlightClient:
    tls = endpoint.startswith("grpc+tls://")
    if not tls and not endpoint.startswith(("grpc://", "grpc+tcp://")):
        raise ValueError("expected grpc://host:port or grpc+tls://host:port, got %r" % endpoint)
    if (ca_file or cert_file) and not tls:
        raise ValueError("ca_file/cert_file are for a grpc+tls:// endpoint, not %r" % endpoint)
    kwargs = {}
    if ca_file:
        kwargs["tls_root_certs"] = _read(ca_file)
    if cert_file:
        kwargs["cert_chain"] = _read(cert_file)
        kwargs["private_key"] = _read(key_file or cert_file)
    return fl.FlightClient(endpoint, **kwargs)


class FlightClient(ClientBase):
    """A murr server over Arrow Flight, with the API of ``pymurr.Database``."""

    def __init__(self, endpoint: str, *, http_endpoint: Optional[str] = None, token: Optional[str] = None,
                 ca_file: Optional[str] = None, cert_file: Optional[str] = None, key_file: Optional[str] = None) -> None:
        """``token``: the bearer token; ``ca_file``: the PEM roots a ``grpc+tls://`` server is
        verified against; ``cert_file``/``key_file``: this client's certificate and key for a
        server with ``server.tls.client_ca_file`` (all also used for ``http_endpoint``)."""
        self.endpoint = endpoint
        self._client = _flight_client(endpoint, ca_file, cert_file, key_file)  # one HTTP/2 connection, shared by threads
        headers = [(b"authorization", b"Bearer " + token.encode())] if token else []
        self._options = fl.FlightCallOptions(headers=headers)
        self._http = None
        if http_endpoint:
            https = http_endpoint.startswith("https://")
            self._http = HttpClient(http_endpoint, token=token, ca_file=ca_file if https else None,
                                    cert_file=cert_file if https else None, key_file=key_file if https else None)
        self._keys: Dict[str, List[str]] = {}  # key columns per table (ClientBase._key_columns)

    def _admin(self, call: str) -> HttpClient:
        if self._http is None:
            raise InvalidRequestError(400, "%s is not a Flight call: pass http_endpoint= to connect() for it" % call)
        return self._http

    def close(self) -> None:
        self._client.close()
        if self._http:
            self._http.close()

    # tables: schemas over Flight unless http_endpoint (exact) is given, the rest over HTTP
    def create_table(self, name: str, schema: SchemaLike) -> None:
        self._admin("create_table").create_table(name, schema)
        self._keys.pop(name, None)

    def drop_table(self, name: str) -> None:
        self._admin("drop_table").drop_table(name)
        self._keys.pop(name, None)

    def list_tables(self) -> Dict[str, TableSchema]:
        """``{name: schema}``; without ``http_endpoint`` from ListFlights."""
        if self._http:
            return self._http.list_tables()
        infos = _call(lambda: list(self._client.list_flights(options=self._options)))
        return {info.descriptor.path[0].decode(): TableSchema.model_validate_json(self._info_json(info))
                for info in infos}

    def get_schema(self, name: str) -> TableSchema:
        """The table's schema; without ``http_endpoint`` from GetFlightInfo."""
        return TableSchema.model_validate_json(self.get_schema_json(name))

    def get_schema_json(self, name: str) -> str:
        """The schema's JSON in the form the table was created in, as the HTTP API answers it."""
        if self._http:
            return self._http.get_schema_json(name)
        # GetFlightInfo, not GetSchema: pyarrow's get_schema raises a plain OSError for
        # UNAUTHENTICATED/PERMISSION_DENIED (the Flight status detail is lost), get_flight_info
        # the Flight exception _call maps; and only a FlightInfo carries the schema JSON
        desc = fl.FlightDescriptor.for_path(name)
        return self._info_json(_call(lambda: self._client.get_flight_info(desc, options=self._options)))

    @staticmethod
    def _info_json(info: fl.FlightInfo) -> str:
        text = _flight_schema.schema_json(info)
        if text is None:
            name = info.descriptor.path[0].decode() if info.descriptor.path else "?"
            raise InvalidRequestError(400, "table %r: this server's FlightInfo carries no schema JSON (app_metadata "
                                      "is empty: not a murr server of this generation): pass http_endpoint= to "
                                      "connect() for schemas" % name)
        return text

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
            writer, reader = self._client.do_put(desc, t.schema, options=self._options)
            writer.write_table(t)
            writer.done_writing()
            reader.read()
            writer.close()

        _call(put)

    def read(self, table: str, keys: _arrow.KeysLike, columns: Sequence[str]) -> pa.Table:
        kt = _arrow.keys_table(keys, lambda: self._key_columns(table))
        ticket = fl.Ticket(json.dumps({"table": table, "keys": _arrow.keys_json(kt), "columns": list(columns)}))
        return _call(lambda: self._client.do_get(ticket, options=self._options).read_all())

    def table_names(self) -> List[str]:
        """Names of the tables (ListFlights), without HTTP."""
        return _call(lambda: [i.descriptor.path[0].decode() for i in self._client.list_flights(options=self._options)])


__all__ = ["FlightClient"]
