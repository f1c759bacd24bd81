"""Launcher of the bundled murr server binary (``pymurr.serve``).

The server runs as a child process on free ports (port 0: the kernel picks them; the
ports are read back from the server's "Listening for ..." log lines), configured with a
YAML file written from the config dict. ``stop()`` sends SIGTERM (the server finishes the
requests in flight) and waits; a context manager stops it on exit. With
``server.tls.cert_file`` in the config the endpoints are ``https://`` and ``grpc+tls://``;
the readiness probe (``/health``, which needs no token and sends none) does not verify the
certificate of the child it started on loopback, ``connect()`` verifies it against
``ca_file``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from typing import Any, Dict, Mapping, Optional, Union

from .errors import ServerError
from .flight import FlightClient
from .http import HttpClient

_LISTEN = re.compile(r"Listening for (HTTP|Flight) requests on (\S+):(\d+)")


def server_binary() -> str:
    """The murr binary installed with the package (``PYMURR_SERVER_BIN`` overrides it)."""
    return os.environ.get("PYMURR_SERVER_BIN") or os.path.join(os.path.dirname(__file__), "bin", "murr")


def _nest(config: Mapping[str, Any]) -> Dict[str, Any]:
    """Dotted keys (``"server.http.port"``) and nested dicts, merged into nested dicts."""
    out: Dict[str, Any] = {}
    for key, value in config.items():
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        if isinstance(value, Mapping) and parts[-1] != "tables":
            node.setdefault(parts[-1], {}).update(_nest(value))
        else:
            node[parts[-1]] = value
    return out


class Server:
    """A running murr server; ``endpoint`` is its HTTP address, ``flight_endpoint`` Flight's
    (``https://`` and ``grpc+tls://`` when ``tls``: the config sets ``server.tls.cert_file``);
    ``ca_file`` the roots ``connect()`` verifies them against, ``cert_file``/``key_file`` the
    client certificate it and the readiness probe present (``server.tls.client_ca_file``)."""

    def __init__(self, config: Optional[Mapping[str, Any]] = None, *, binary: Optional[str] = None,
                 timeout: float = 30.0, ca_file: Optional[str] = None, cert_file: Optional[str] = None,
                 key_file: Optional[str] = None) -> None:
        self.ca_file, self.cert_file, self.key_file = ca_file, cert_file, key_file
        self._dir = tempfile.mkdtemp(prefix="pymurr-serve-")
        cfg = _nest({"server.http.host": "127.0.0.1", "server.http.port": 0, "server.grpc.host": "127.0.0.1",
                     "server.grpc.port": 0})
        cfg = _merge(cfg, _nest(config or {}))
        self._own_data = "path" not in cfg.get("storage", {})
        if self._own_data:
            cfg.setdefault("storage", {})["path"] = os.path.join(self._dir, "data")
        self.data_path: str = cfg["storage"]["path"]
        self.config = cfg
        tls = cfg.get("server", {}).get("tls", {})
        self.tls: bool = bool(tls.get("cert_file"))
        if tls.get("client_ca_file") and not cert_file:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise ValueError("server.tls.client_ca_file is set: pass cert_file= and key_file= (a client certificate "
                             "it accepts) to serve(), for the readiness probe and connect()")
        path = os.path.join(self._dir, "config.yaml")
        with open(path, "w") as f:
            json.dump(cfg, f)  # JSON is YAML (a flow mapping)
        self.log_path = os.path.join(self._dir, "murr.log")
        self._log = open(self.log_path, "wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MURR_")}
        self._proc: Optional[subprocess.Popen] = subprocess.Popen(
            [binary or server_binary(), "-c", path], stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.endpoint = ""
        self.flight_endpoint: Optional[str] = None
        try:
            self._wait_ready(timeout, cfg.get("server", {}).get("grpc", {}).get("enabled", True))
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float, flight: bool) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServerError(500, "murr exited with status %d before serving: %s"
                                  % (self._proc.returncode, self.log_tail()))
            found = {m.group(1): (m.group(2), int(m.group(3))) for m in _LISTEN.finditer(self.log_tail(1 << 20))}
            if "HTTP" in found and (not flight or "Flight" in found):
                self.endpoint = ("https://%s:%d" if self.tls else "http://%s:%d") % found["HTTP"]
                if flight:
                    self.flight_endpoint = ("grpc+tls://%s:%d" if self.tls else "grpc://%s:%d") % found["Flight"]
                probe = None
                if self.tls:
                    probe = ssl._create_unverified_context()  # noqa: S323 - see the module doc
                    if self.cert_file:
                        probe.load_cert_chain(self.cert_file, self.key_file)
                with HttpClient(self.endpoint, timeout=2.0, ssl_context=probe) as c:
                    if c.health():
                        return
            time.sleep(0.02)
        raise ServerError(504, "murr did not answer /health within %.1f s: %s" % (timeout, self.log_tail()))

    def log_tail(self, size: int = 2000) -> str:
        """The last ``size`` bytes of the server's log."""
        with open(self.log_path, "rb") as f:
            f.seek(max(0, os.path.getsize(self.log_path) - size))
            return f.read().decode("utf-8", "replace")

    def connect(self, protocol: str = "http", *, token: Optional[str] = None) -> Union[HttpClient, FlightClient]:
        """A client of this server: ``"http"`` or ``"flight"`` (which gets the HTTP endpoint
        too, for the calls Flight has not), sending ``token`` and verifying TLS against the
        ``ca_file`` (and presenting ``cert_file``/``key_file``) given to ``serve()``."""
        ca, cert, key = (self.ca_file, self.cert_file, self.key_file) if self.tls else (None, None, None)
        if protocol == "flight":
            if self.flight_endpoint is None:
                raise ValueError("this server runs without Flight (server.grpc.enabled is false)")
            return FlightClient(self.flight_endpoint, http_endpoint=self.endpoint, token=token, ca_file=ca,
                                cert_file=cert, key_file=key)
        if protocol != "http":
            raise ValueError("protocol %r: expected \"http\" or \"flight\"" % protocol)
        return HttpClient(self.endpoint, token=token, ca_file=ca, cert_file=cert, key_file=key)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait up to ``timeout`` s (SIGKILL after it); removes the temporary
        data directory when the launcher made it. Returns the exit status."""
        proc, self._proc = self._proc, None
        rc = 0
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            rc = proc.returncode
            self._log.close()
            self.returncode = rc
            shutil.rmtree(self._dir if self._own_data else os.path.join(self._dir, "none"), ignore_errors=True)
        return rc

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *args: object) -> None:
        self.stop()


def _merge(a: Dict[str, Any], b: Mapping[str, Any]) -> Dict[str, Any]:
    for k, v in b.items():
        if isinstance(v, Mapping) and isinstance(a.get(k), dict):
            _merge(a[k], v)
        else:
            a[k] = v
    return a
