"""One suite, three modes: every test taking `db` runs against the embedded engine, the
bundled server over HTTP and the same server over Arrow Flight."""
from __future__ import annotations

import uuid

import pytest

import pymurr


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    with pymurr.serve({"storage.sync_writes": False, "storage.path": str(tmp_path_factory.mktemp("served"))}) as s:
        yield s


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
