"""The server on a full disk (a small tmpfs the test mounts; needs root, skipped otherwise):
a write answers 507 naming the segment file and the bytes, /health and fetches keep
serving, and writes work again once space is freed."""
import json
import os
import subprocess

import pytest
import requests

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def tmpfs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip(f"needs root to mount a tmpfs (euid {os.geteuid()})")
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(path):
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def test_full_disk_answers_507_and_keeps_serving(tmpfs, murr_factory):  # tmpfs outlives the server
    m = murr_factory(data_dir=tmpfs / "data", extra_env={"MURR_STORAGE_SEGMENT_MAX_BYTES": "1048576"})
    schema = {"key": "id", "columns": {"id": {"dtype": "utf8", "nullable": False}, "s": {"dtype": "utf8"}}}
    assert requests.put(f"{m.url}/api/v1/table/t", json=schema).status_code == 201
    body = {"columns": {"id": ["a", "b"], "s": ["x", "y"]}}
    assert requests.put(f"{m.url}/api/v1/table/t/write", headers=JSON, data=json.dumps(body)).status_code == 200
    filler = tmpfs / "filler"
    fill(filler)
    big = {"columns": {"id": [f"k{i}" for i in range(2000)], "s": ["v" * 100] * 2000}}
    r = requests.put(f"{m.url}/api/v1/table/t/write", headers=JSON, data=json.dumps(big))
    assert r.status_code == 507, r.text
    err = r.json()["error"]
    assert "no space left on the storage device" in err and "00000001.seg" in err and "bytes" in err, err
    assert requests.get(f"{m.url}/health").status_code == 200
    r = requests.post(f"{m.url}/api/v1/table/t/fetch", headers=JSON,
                      data=json.dumps({"keys": ["a", "k0"], "columns": ["s"]}))
    assert r.json() == {"columns": {"s": ["x", None]}}
    filler.unlink()
    r = requests.put(f"{m.url}/api/v1/table/t/write", headers=JSON, data=json.dumps(big))
    assert r.status_code == 200, r.text
    m.stop()
    m.start()
    r = requests.post(f"{m.url}/api/v1/table/t/fetch", headers=JSON,
                      data=json.dumps({"keys": ["a", "k1999"], "columns": ["s"]}))
    assert r.json() == {"columns": {"s": ["x", "v" * 100]}}
