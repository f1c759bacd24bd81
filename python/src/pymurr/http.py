"""Synchronous client over HTTP (``pymurr.connect("http://host:port")`` or ``"https://..."``).

The requests and answers are those of the PyPI ``murr`` 0.3.1 client: Arrow IPC fetches
(sparse, ``_idx`` first), Arrow IPC writes, JSON schemas. One keep-alive connection per
thread (``http.client``, no dependency beyond the standard library). ``token=`` sends
``Authorization: Bearer <token>`` on every call (``/health`` aside); ``https://`` verifies the
server against ``ca_file`` (a PEM path) or, without one, the system's trusted roots.
"""
from __future__ import annotations

import http.client
import json
import ssl
import threading
from typing import Any, Dict, List, Optional, Sequence
from urllib.parse import quote, urlsplit

import pyarrow as pa

from . import _arrow
from ._api import ClientBase
from .errors import MurrError, ServerError, error_for_status
from .schema import SchemaLike, TableSchema, schema_json

_JSON = "application/json"


class HttpClient(ClientBase):
    """A murr server over HTTP, with the API of ``pymurr.Database``."""

    def __init__(self, endpoint: str, *, timeout: float = 30.0, token: Optional[str] = None,
                 ca_file: Optional[str] = None, cert_file: Optional[str] = None, key_file: Optional[str] = None,
                 ssl_context: Optional[ssl.SSLContext] = None) -> None:
        """``token``: sent as ``Authorization: Bearer``; ``ca_file``: the PEM file of the
        roots an ``https://`` server is verified against (default: the system's);
        ``cert_file``/``key_file``: this client's certificate and key (PEM) for a server with
        ``server.tls.client_ca_file``; ``ssl_context``: a ready ``ssl.SSLContext`` instead."""
        u = urlsplit(endpoint)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("expected http://host:port or https://host:port, got %r" % endpoint)
        if (ca_file or cert_file or ssl_context) and u.scheme != "https":
            raise ValueError("ca_file/cert_file/ssl_context are for an https:// endpoint, not %r" % endpoint)
        self.endpoint = endpoint.rstrip("/")
        self._host, self._timeout = u.hostname, timeout
        self._port = u.port or (443 if u.scheme == "https" else 80)
        self._tls = ssl_context
        if u.scheme == "https" and ssl_context is None:
            self._tls = ssl.create_default_context(cafile=ca_file)
            if cert_file:
                self._tls.load_cert_chain(cert_file, key_file)
        self._auth = {"Authorization": "Bearer " + token} if token else {}
        self._local = threading.local()
        self._keys: Dict[str, List[str]] = {}
        self._all: List[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _conn(self) -> http.client.HTTPConnection:
        c = getattr(self._local, "conn", None)
        if c is None:
            if self._tls is not None:
                c = http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout, context=self._tls)
            else:
                c = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            self._local.conn = c
            with self._lock:
                self._all.append(c)
        return c

    def _request(self, method: str, path: str, body: Any = None, headers: Optional[Dict[str, str]] = None,
                 ok: Sequence[int] = (200, 201, 204)) -> bytes:
        for attempt in (0, 1):
            c = self._conn()
            try:
                c.request(method, "/api/v1" + path, body=body, headers={**self._auth, **(headers or {})})
                r = c.getresponse()
                data = r.read()
                break
            except ssl.SSLError as e:  # a certificate refused (theirs or ours): retrying cannot help
                c.close()
                raise ServerError(503, "%s %s: TLS with %s:%d failed: %s" % (method, path, self._host, self._port, e)) from e
            except (http.client.HTTPException, ConnectionError) as e:
                c.close()  # a keep-alive connection the server closed: one retry on a new one
                if attempt:
                    raise ServerError(503, "%s %s: %s" % (method, path, e)) from e
        if r.status in ok:
            return data
        try:
            message = json.loads(data)["error"]
        except (ValueError, KeyError, TypeError):
            message = data.decode("utf-8", "replace") or r.reason
        raise error_for_status(r.status, message)

    def close(self) -> None:
        with self._lock:
            for c in self._all:
                c.close()
            self._all.clear()

    def create_table(self, name: str, schema: SchemaLike) -> None:
        self._request("PUT", "/table/" + quote(name), schema_json(schema).encode(), {"Content-Type": _JSON})
        self._keys.pop(name, None)

    def drop_table(self, name: str) -> None:
        self._request("DELETE", "/table/" + quote(name))
        self._keys.pop(name, None)

    def list_tables(self) -> Dict[str, TableSchema]:
        return {n: TableSchema.model_validate(s) for n, s in json.loads(self._request("GET", "/table")).items()}

    def get_schema(self, name: str) -> TableSchema:
        return TableSchema.model_validate_json(self.get_schema_json(name))

    def get_schema_json(self, name: str) -> str:
        return self._request("GET", "/table/%s/schema" % quote(name)).decode()

    def write(self, table: str, data: _arrow.DataLike) -> None:
        self._write(table, data, "upsert")

    def replace(self, table: str, data: _arrow.DataLike) -> None:
        self._write(table, data, "replace")

    def _write(self, table: str, data: _arrow.DataLike, mode: str) -> None:
        body = _arrow.table_to_ipc(_arrow.narrow_types(_arrow.to_table(data)))
        self._request("PUT", "/table/%s/write?mode=%s" % (quote(table), mode), memoryview(body),
                      {"Content-Type": _arrow.ARROW_IPC_MIME})

    def read(self, table: str, keys: _arrow.KeysLike, columns: Sequence[str]) -> pa.Table:
        kt = _arrow.keys_table(keys, lambda: self._key_columns(table))
        body = _arrow.table_to_ipc(_arrow.fetch_request(kt, columns))
        data = self._request("POST", "/table/%s/fetch" % quote(table), memoryview(body),
                             {"Content-Type": _arrow.ARROW_IPC_MIME, "Accept": _arrow.ARROW_IPC_MIME})
        return _arrow.ipc_to_table(pa.py_buffer(data))

    def compact(self, table: str) -> None:
        self._request("POST", "/table/%s/compact" % quote(table))

    def versions(self, table: str) -> List[Dict[str, Any]]:
        out = json.loads(self._request("GET", "/table/%s/versions" % quote(table)))
        return [{k: v[k] for k in ("id", "rows", "bytes", "created", "serving", "source")} for v in out["versions"]]

    def rollback(self, table: str, version: Optional[int] = None) -> int:
        q = "" if version is None else "?version=%d" % version
        return int(json.loads(self._request("POST", "/table/%s/rollback%s" % (quote(table), q)))["serving"])

    def health(self) -> bool:
        """True when the server answers ``/health`` with 200."""
        c = self._conn()
        try:
            c.request("GET", "/health")
            r = c.getresponse()
            r.read()
            return r.status == 200
        except (OSError, http.client.HTTPException):
            c.close()
            return False


__all__ = ["HttpClient", "MurrError"]
