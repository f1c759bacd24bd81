"""Server lifecycle end to end: startup log lines, health, graceful shutdown, bind failure,
environment overlay, restart keeping data."""
import re
import signal
import socket
import subprocess

import requests

from conftest import MURR_BIN, MurrServer


def test_startup_lines_and_health(murr):
    logs = murr.logs()
    assert "Starting murr" in logs
    assert f"Storage path: {murr.data_dir}" in logs
    line = next(l for l in logs.splitlines() if "Starting murr" in l)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO\s+murr: ", line), line
    r = requests.get(murr.url + "/health")
    assert r.status_code == 200 and r.text == "OK"


def test_sigterm_and_sigint_exit_zero(murr_factory, tmp_path):
    s = murr_factory()
    assert s.stop(signal.SIGTERM) == 0
    assert "shutting down" in s.logs()
    s2 = murr_factory(tmp_path / "d2")
    assert s2.stop(signal.SIGINT) == 0


def test_port_in_use_exits_nonzero_naming_address(tmp_path):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    port = sock.getsockname()[1]
    try:
        env = {"MURR_STORAGE_PATH": str(tmp_path / "d"), "MURR_SERVER_HTTP_PORT": str(port),
               "MURR_SERVER_HTTP_HOST": "127.0.0.1"}
        import os
        e = dict(os.environ)
        e.update(env)
        r = subprocess.run([str(MURR_BIN)], capture_output=True, text=True, env=e, timeout=20)
        assert r.returncode != 0
        assert f"127.0.0.1:{port}" in r.stderr
        assert "in use" in r.stderr.lower()
    finally:
        sock.close()


def test_unknown_murr_env_is_a_warning_not_a_crash(murr_factory):
    s = murr_factory(extra_env={"MURR_ENDPOINT": "http://x", "MURR_DEBUG": "1"})
    assert requests.get(s.url + "/health").status_code == 200
    assert "ignoring environment variable MURR_ENDPOINT" in s.logs()


def test_restart_keeps_tables_and_data(murr_factory, tmp_path):
    data = tmp_path / "keep"
    s = murr_factory(data)
    schema = {"key": "id", "columns": {"id": {"dtype": "utf8", "nullable": False},
                                       "score": {"dtype": "float32", "nullable": True}}}
    assert requests.put(s.url + "/api/v1/table/features", json=schema).status_code == 201
    w = requests.put(s.url + "/api/v1/table/features/write",
                     json={"columns": {"id": ["a", "b", "c"], "score": [1.0, 2.0, 3.0]}})
    assert w.status_code == 200, w.text
    assert s.stop() == 0
    s2 = murr_factory(data)
    assert "features" in requests.get(s2.url + "/api/v1/table").json()
    r = requests.post(s2.url + "/api/v1/table/features/fetch", json={"keys": ["c", "a"], "columns": ["score"]})
    assert r.json() == {"columns": {"score": [3.0, 1.0]}}
