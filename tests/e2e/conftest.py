"""Shared fixtures for the end-to-end tests: the real `murr` binary on an ephemeral port."""
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("MURR_BUILD_DIR", ROOT / "build" / "debug"))
MURR_BIN = Path(os.environ.get("MURR_BIN", BUILD / "murr"))
# MURR_REFERENCE_BIN: run the tests that say so against the Rust reference server instead
# (e.g. the prebuilt murr 0.3.1), to check that they test the reference's behaviour; tests
# of what only this server has are marked ours_only and skipped then.
REFERENCE_BIN = os.environ.get("MURR_REFERENCE_BIN")
ours_only = pytest.mark.skipif(bool(REFERENCE_BIN), reason="not in the Rust reference (MURR_REFERENCE_BIN is set)")
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
        if REFERENCE_BIN:
            return self._start_reference(timeout)
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

    def _start_reference(self, timeout):
        """The Rust reference: configured by a file (fixed ports picked here), logs differ."""
        ports = []
        for _ in range(2):
            with socket.socket() as sk:
                sk.bind(("127.0.0.1", 0))
                ports.append(sk.getsockname()[1])
        conf = self.data_dir.parent / f"murr-{self.data_dir.name}.yaml"
        conf.write_text(f"server:\n  http: {{host: 127.0.0.1, port: {ports[0]}}}\n"
                        f"  grpc: {{host: 127.0.0.1, port: {ports[1]}}}\n"
                        f"storage:\n  path: {self.data_dir}\n  mmap: {{}}\n")
        self.log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.log = open(self.log_path, "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MURR_")}  # its overlay refuses them
        self.proc = subprocess.Popen([REFERENCE_BIN, "-c", str(conf)], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.log_path.read_bytes()[self.log_start:].decode(errors="replace")
            if "Listening for HTTP" in text and "Listening for Flight" in text:
                self.port, self.grpc_port = ports
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"reference murr exited with {self.proc.returncode}:\n{text}")
            time.sleep(0.02)
        raise RuntimeError("reference murr did not start:\n" + self.logs())

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


def assert_no_sanitizer_report(server):
    """Under the asan and tsan presets, a sanitizer report in the server's log fails the test."""
    text = server.logs()
    for marker in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer"):
        assert marker not in text, f"sanitizer report in {server.log_path}:\n{text[-4000:]}"


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
    for s in servers:
        assert_no_sanitizer_report(s)


@pytest.fixture(scope="module")
def murr_module(tmp_path_factory):
    """One server for a whole test module (restartable on its data dir: stop(), start())."""
    s = MurrServer(tmp_path_factory.mktemp("murr") / "data").start()
    yield s
    s.stop()
    assert_no_sanitizer_report(s)


@pytest.fixture
def murr(murr_factory):
    return murr_factory()


@pytest.fixture
def session():
    with requests.Session() as s:
        yield s


# ---- S3: moto's server mode, a real S3-compatible HTTP server --------------------------------
# build/venv/bin/moto_server (tests/requirements.txt pins moto[server]); started once per test
# session on a free loopback port, polled until it answers, stopped at the end. Polled with
# http.client, not requests: requests calls are recorded for the OpenAPI coverage test.
MOTO_BIN = Path(os.environ.get("MURR_MOTO_SERVER", ROOT / "build" / "venv" / "bin" / "moto_server"))


class MotoServer:
    def __init__(self, log_path: Path, extra_env=None):
        self.log_path = log_path
        self.extra_env = dict(extra_env or {})
        self.proc = None
        self.port = None

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=30.0):
        import http.client
        if not MOTO_BIN.exists():
            raise RuntimeError(f"{MOTO_BIN} is missing: run scripts/setup.sh (tests/requirements.txt has moto[server])")
        for _ in range(3):  # the free port may be taken between the probe and moto's bind
            with socket.socket() as sk:
                sk.bind(("127.0.0.1", 0))
                self.port = sk.getsockname()[1]
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            env.update(self.extra_env)
            self.log = open(self.log_path, "ab")
            self.proc = subprocess.Popen([str(MOTO_BIN), "-H", "127.0.0.1", "-p", str(self.port)], env=env,
                                         stdout=self.log, stderr=subprocess.STDOUT)
            deadline = time.time() + timeout
            while time.time() < deadline and self.proc.poll() is None:
                try:
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                    c.request("GET", "/moto-api/data.json")
                    c.getresponse().read()
                    c.close()
                    return self
                except OSError:
                    time.sleep(0.1)
            self.stop()
        raise RuntimeError("moto_server did not start:\n" + self.log_path.read_text(errors="replace")[-4000:])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()

    def logs(self):
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """moto without authentication (any key, or none, is accepted); yields the MotoServer
    (.endpoint is http://127.0.0.1:<port>)."""
    s = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def s3_auth_server(tmp_path_factory):
    """moto that verifies SigV4 signatures against its IAM users: the first 3 actions are let
    through unauthenticated (INITIAL_NO_AUTH_ACTION_COUNT) to create a user with a policy
    allowing everything and an access key; every later request must be signed with it."""
    s = MotoServer(tmp_path_factory.mktemp("moto-auth") / "moto.log",
                   extra_env={"INITIAL_NO_AUTH_ACTION_COUNT": "3"}).start()
    import json
    import boto3
    iam = boto3.client("iam", endpoint_url=s.endpoint, region_name="us-east-1",
                       aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
    iam.create_user(UserName="murr")
    iam.put_user_policy(UserName="murr", PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="murr")["AccessKey"]
    s.access_key_id, s.secret_access_key = key["AccessKeyId"], key["SecretAccessKey"]
    yield s
    s.stop()
