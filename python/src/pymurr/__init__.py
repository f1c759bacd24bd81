"""pymurr: murr in Python.

* ``pymurr.open(path, http_port=None)`` - the engine in this process (``Database``);
  results are zero-copy Arrow; ``http_port`` also serves it over HTTP in-process.
* ``pymurr.connect(endpoint, token=None, ca_file=None)`` - a sync client: ``http://`` or
  ``https://`` (``HttpClient``), ``grpc://`` or ``grpc+tls://`` (Arrow Flight,
  ``FlightClient``); ``token`` is the bearer token, ``ca_file`` the PEM roots for TLS.
* ``pymurr.serve(config=None, ca_file=None)`` - runs the bundled server binary (``Server``,
  a context manager with ``.endpoint``; ``https://`` / ``grpc+tls://`` with
  ``server.tls.cert_file``).

Every mode has the method names, schema model and errors of the PyPI ``murr`` 0.3.1 client
(``create_table``, ``write``, ``read``, ``list_tables``, ``get_schema``, ``drop_table``,
``compact``), synchronous, plus ``replace``, ``versions``, ``rollback`` and ``read_numpy``,
and ``AuthenticationError`` / ``PermissionDeniedError`` (401 / 403, subclasses of
``InvalidRequestError``).
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Union

from ._arrow import IDX_COLUMN, to_numpy, to_torch
from .embedded import Database
from .errors import (AuthenticationError, InvalidRequestError, MurrError, PermissionDeniedError, ServerError,
                     TableAlreadyExistsError, TableNotFoundError)
from .flight import FlightClient
from .http import HttpClient
from .launcher import Server
from .schema import ColumnSchema, DType, TableSchema

__version__ = "0.3.0"

_builtin_open = open


def open(path: str, http_port: Optional[int] = None, **options: Any) -> Database:  # noqa: A001
    """Opens (creating if needed) the data directory ``path`` in this process. ``http_port``
    (0: any free port) starts murr's HTTP server on the same engine (``db.endpoint``).
    ``options``: ``sync_writes``, ``keep_versions``, ``background_compaction``,
    ``grpc_port`` (also serve Flight), ``host``."""
    return Database(path, http_port, **options)


def connect(endpoint: str, *, token: Optional[str] = None, ca_file: Optional[str] = None,
            **options: Any) -> Union[HttpClient, FlightClient]:
    """A synchronous client: ``http://`` / ``https://host:port`` over HTTP, ``grpc://`` /
    ``grpc+tls://host:port`` over Arrow Flight (``http_endpoint=`` for the calls Flight has
    not: create, drop, compact, versions, rollback). ``token``: the bearer token of a server
    with ``server.auth.tokens_file``; ``ca_file``: the PEM file of the roots a TLS server is
    verified against (default: the system's)."""
    if endpoint.startswith(("http://", "https://")):
        return HttpClient(endpoint, token=token, ca_file=ca_file, **options)
    if endpoint.startswith(("grpc://", "grpc+tcp://", "grpc+tls://")):
        return FlightClient(endpoint, token=token, ca_file=ca_file, **options)
    raise ValueError("endpoint %r: expected http://, https://, grpc:// or grpc+tls://host:port" % endpoint)


def serve(config: Optional[Mapping[str, Any]] = None, **options: Any) -> Server:
    """Starts the bundled murr server on free ports with ``config`` (nested or dotted keys of
    murr's configuration, e.g. ``{"storage.sync_writes": False}``) and waits until it
    answers ``/health``. Use as a context manager; ``.endpoint`` is its HTTP address
    (``https://`` when ``server.tls.cert_file`` is set; ``.flight_endpoint`` then
    ``grpc+tls://``). ``ca_file=``: the roots its certificate is verified against by
    ``.connect()``."""
    return Server(config, **options)


__all__ = ["open", "connect", "serve", "Database", "HttpClient", "FlightClient", "Server", "TableSchema",
           "ColumnSchema", "DType", "MurrError", "TableNotFoundError", "TableAlreadyExistsError",
           "InvalidRequestError", "ServerError", "AuthenticationError", "PermissionDeniedError", "IDX_COLUMN", "to_numpy", "to_torch"]
