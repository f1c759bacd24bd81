"""One suite, three modes: every test taking `db` runs against the embedded engine, the
bundled server over HTTP and the same server over Arrow Flight."""
from __future__ import annotations

import uuid

import pytest

import pymurr


def assert_clean_stop(s):
    """The server exited 0 with no sanitizer report (scripts/test.sh runs the suite on the asan
    server; the log outlives stop() when the caller gave the data directory)."""
    log = s.log_tail(1 << 20)
    assert s.returncode == 0, log[-2000:]
    assert "ERROR: AddressSanitizer" not in log and "runtime error:" not in log, log[-4000:]


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    with pymurr.serve({"storage.sync_writes": False, "storage.path": str(tmp_path_factory.mktemp("served"))}) as s:
        yield s
    assert_clean_stop(s)


@pytest.fixture(params=["embedded", "http", "flight"])
def mode(request):
    return request.param


@pytest.fixture
def db(mode, server, tmp_path):
    if mode == "embedded":
        d = pymurr.open(str(tmp_path / "data"), sync_writes=False)
    else:
        d = server.connect(mode)
    yield d
    d.close()


@pytest.fixture
def name():
    return "t_" + uuid.uuid4().hex[:12]
