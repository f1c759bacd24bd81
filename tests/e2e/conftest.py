"""Shared fixtures for the end-to-end tests: the real `murr` binary on an ephemeral port."""
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("MURR_BUILD_DIR", ROOT / "build" / "debug"))
MURR_BIN = Path(os.environ.get("MURR_BIN", BUILD / "murr"))
# files the tests read (tests/data/README.md says where each comes from)
DATA = ROOT / "tests" / "data"

# Every (method, path, status) a requests-based test of this session received: the OpenAPI
# coverage test (test_zz_openapi_coverage.py, run last) checks each one is documented.
EXERCISED = []
_orig_send = requests.Session.send


def _recording_send(self, request, **kw):
    r = _orig_send(self, request, **kw)
    EXERCISED.append((request.method, urlsplit(request.url).path, r.status_code))
    return r


requests.Session.send = _recording_send


class MurrServer:
    """A running murr process with its data dir; restartable on the same dir."""

    def __init__(self, data_dir: Path, extra_env=None, args=()):
        self.data_dir = data_dir
        self.extra_env = dict(extra_env or {})
        self.args = list(args)
        self.proc = None
        self.port = None
        self.grpc_port = None
        self.log_path = data_dir.parent / f"murr-{data_dir.name}.log"

    def start(self, timeout=15.0):
        env = dict(os.environ)
        env.update({"MURR_STORAGE_PATH": str(self.data_dir), "MURR_SERVER_HTTP_PORT": "0",
                    "MURR_SERVER_HTTP_HOST": "127.0.0.1", "MURR_SERVER_HTTP_THREADS": "2",
                    # Flight on an ephemeral port too, or parallel servers collide on 8081
                    "MURR_SERVER_GRPC_HOST": "127.0.0.1", "MURR_SERVER_GRPC_PORT": "0"})
        env.update(self.extra_env)
        self.log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(MURR_BIN), *self.args], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.log_path.read_bytes()[self.log_start:].decode(errors="replace")
            m = re.search(r"Listening for HTTP requests on [^\s:]+:(\d+)", text)
            g = re.search(r"Listening for Flight requests on [^\s:]+:(\d+)", text)
            grpc_on = env.get("MURR_SERVER_GRPC_ENABLED", "true").lower() not in ("false", "0", "no", "off")
            if m and (g or not grpc_on):
                self.port = int(m.group(1))
                self.grpc_port = int(g.group(1)) if g else None
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"murr exited with {self.proc.returncode}:\n{text}")
            time.sleep(0.02)
        if m:  # HTTP is up but no Flight line: Flight disabled in a config file
            self.port = int(m.group(1))
            return self
        raise RuntimeError("murr did not start:\n" + self.log_path.read_text(errors="replace"))

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig=signal.SIGTERM, timeout=20.0):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        rc = self.proc.returncode if self.proc else None
        if getattr(self, "log", None):
            self.log.close()
        return rc

    def logs(self):
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def murr_factory(tmp_path):
    servers = []

    def make(data_dir=None, **kw):
        s = MurrServer(data_dir or (tmp_path / "data"), **kw)
        servers.append(s)
        return s.start()

    yield make
    for s in servers:
        s.stop()
    for s in servers:  # under the asan preset, a sanitizer report fails the test
        text = s.logs()
        for marker in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
            assert marker not in text, f"sanitizer report in {s.log_path}:\n{text[-4000:]}"


@pytest.fixture
def murr(murr_factory):
    return murr_factory()


@pytest.fixture
def session():
    with requests.Session() as s:
        yield s
