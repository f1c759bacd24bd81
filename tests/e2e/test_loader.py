"""Pull-based loading from a local directory of Parquet partitions (pyarrow-written):
the newest partition with _SUCCESS is served, a new one is picked up within a poll
interval, readers across the swap see all-old or all-new answers, failures keep the served
version, restarts serve from local disk without loading again, two servers converge, and
sources can be set through the API."""
import json
import time

import pytest
import requests

from conftest import MurrServer, assert_no_sanitizer_report
from loader_util import (N, assert_first_load, fetch, readers_see_one_version, server, start, status,  # noqa: F401
                         served, wait_for, write_partition)


def config(tmp_path, src, name="feat", poll="300ms", extra=""):
    p = tmp_path / f"murr-{name}.yaml"
    p.write_text(f"""
tables:
  {name}:
    source:
      local: {{path: "{src}"}}
    poll_interval: {poll}
    key: [user_id]
{extra}""")
    return p


def test_newest_complete_partition_served_then_new_one_swapped_in(tmp_path, server):
    src = tmp_path / "src"
    write_partition(src, "2026-01-18", 1.0)
    write_partition(src, "2026-01-19", 2.0)
    write_partition(src, "2026-01-20", 9.0, success=False)  # incomplete: ignored
    s = server(config(tmp_path, src))
    assert_first_load(s.url, "2026-01-19", 2.0, {"kind": "local", "uri": f"file://{src}/"})
    # _SUCCESS of 2026-01-20 appears: served within one poll interval (300 ms) plus the load
    (src / "2026-01-20" / "_SUCCESS").write_bytes(b"")
    t0 = time.time()
    wait_for(lambda: served(s.url) == "2026-01-20", what="2026-01-20 served")
    assert time.time() - t0 < 10
    assert fetch(s.url, ["u5"]).json()["columns"]["f2"] == [9.0]
    vers = requests.get(f"{s.url}/api/v1/table/feat/versions").json()
    sources = [v["source"] for v in vers["versions"]]
    assert f"file://{src}/2026-01-20" in sources
    m = requests.get(f"{s.url}/metrics").text
    assert 'murr_source_loads_total{table="feat"} 2' in m
    assert 'murr_source_loaded_rows_total{table="feat"} 6000' in m
    assert 'murr_source_up{table="feat"} 1' in m


def test_readers_across_swaps_see_all_old_or_all_new(tmp_path, server):
    src = tmp_path / "src"
    write_partition(src, "dt=2026-01-01", 1.0)
    s = server(config(tmp_path, src, poll="100ms"))
    wait_for(lambda: served(s.url) == "dt=2026-01-01")

    def swaps():
        for day in range(2, 7):
            write_partition(src, f"dt=2026-01-0{day}", float(day))
            wait_for(lambda d=day: served(s.url) == f"dt=2026-01-0{d}", what=f"day {day}")

    seen = readers_see_one_version(s.url, swaps)
    assert len(seen) >= 3, seen


@pytest.mark.parametrize("fault", ["corrupt", "missing_column", "wrong_type", "no_files", "truncated"])
def test_failures_keep_the_served_version(tmp_path, server, fault):
    src = tmp_path / "src"
    write_partition(src, "2026-02-01", 1.0)
    s = server(config(tmp_path, src, poll="200ms"))
    wait_for(lambda: served(s.url) == "2026-02-01")
    bad = src / "2026-02-02"
    if fault == "corrupt":
        write_partition(src, "2026-02-02", 2.0)
        f = bad / "part-1.parquet"
        data = bytearray(f.read_bytes())
        for i in range(100, 400):
            data[i] ^= 0x5A
        f.write_bytes(bytes(data))
    elif fault == "truncated":
        write_partition(src, "2026-02-02", 2.0)
        f = bad / "part-2.parquet"
        f.write_bytes(f.read_bytes()[:-50])
    elif fault == "missing_column":
        write_partition(src, "2026-02-02", 2.0, schema_break="missing")
    elif fault == "wrong_type":
        write_partition(src, "2026-02-02", 2.0, schema_break="type")
    else:
        bad.mkdir()
        (bad / "_SUCCESS").write_bytes(b"")
    st = wait_for(lambda: (lambda x: x if x["last_error"] else None)(status(s.url)), what="the failure")
    assert st["serving_partition"] == "2026-02-01"
    assert st["state"] in ("failed", "checking", "loading") and st["failures"] >= 1  # retried every poll
    assert "2026-02-02" in st["last_error"]
    if fault in ("missing_column", "wrong_type"):
        assert "f2" in st["last_error"], st["last_error"]
    if fault in ("corrupt", "truncated"):
        assert "part-" in st["last_error"], st["last_error"]
    assert fetch(s.url, ["u1"]).json()["columns"]["f0"] == [1.0]
    assert 'murr_source_up{table="feat"} 0' in requests.get(f"{s.url}/metrics").text
    # logged once, not once per poll
    time.sleep(1.0)
    warns = [ln for ln in s.logs().splitlines() if "WARN  loader" in ln]
    assert 1 <= len(warns) <= 2, warns  # (a file may also be seen changing while the test writes it)
    # fixed: a newer good partition is served and the error clears
    write_partition(src, "2026-02-03", 3.0)
    wait_for(lambda: served(s.url) == "2026-02-03")
    assert status(s.url)["last_error"] is None
    assert fetch(s.url, ["u1"]).json()["columns"]["f0"] == [3.0]


def test_restart_serves_from_disk_without_loading_again(tmp_path):
    src = tmp_path / "src"
    write_partition(src, "2026-03-01", 4.0)
    conf = config(tmp_path, src, poll="200ms")
    s = start(tmp_path, conf)
    try:
        wait_for(lambda: served(s.url) == "2026-03-01")
    finally:
        s.stop()
    s.start()
    try:
        assert fetch(s.url, ["u2"]).json()["columns"]["f1"] == [4.0]  # at once, from disk
        time.sleep(0.6)  # a few polls
        st = status(s.url)
        assert st["serving_partition"] == "2026-03-01" and st["loads"] == 0, st
        vers = requests.get(f"{s.url}/api/v1/table/feat/versions").json()["versions"]
        assert len([v for v in vers if "2026-03-01" in v["source"]]) == 1
    finally:
        s.stop()
        assert_no_sanitizer_report(s)


def test_two_servers_on_one_directory_converge(tmp_path, server):
    src = tmp_path / "src"
    write_partition(src, "2026-04-01", 1.0)
    write_partition(src, "2026-04-02", 2.0)
    a = server(config(tmp_path, src), data="a")
    b = server(config(tmp_path, src), data="b")
    for s in (a, b):
        wait_for(lambda s=s: served(s.url) == "2026-04-02")
    write_partition(src, "2026-04-03", 3.0)
    for s in (a, b):
        wait_for(lambda s=s: served(s.url) == "2026-04-03")
        assert fetch(s.url, ["u9"]).json()["columns"]["f0"] == [3.0]


def test_declared_schema_created_at_startup_and_checked(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    cols = """    columns:
      user_id: {dtype: utf8, nullable: false}
      f0: {dtype: float32}
      f1: {dtype: float32}
      f2: {dtype: float32}
"""
    s = start(tmp_path, config(tmp_path, src, extra=cols))
    try:
        assert requests.get(f"{s.url}/api/v1/table/feat/schema").status_code == 200  # before any data
        assert status(s.url)["serving_partition"] is None
    finally:
        s.stop()
    other = cols.replace("f2: {dtype: float32}", "f2: {dtype: int64}")
    s2 = MurrServer(tmp_path / "data", args=["-c", str(config(tmp_path, src, extra=other))])
    with pytest.raises(RuntimeError) as e:
        s2.start()
    assert "f2" in str(e.value) and "float32" in str(e.value) and "int64" in str(e.value)


def test_source_set_through_the_api(tmp_path, murr_factory):
    src = tmp_path / "src"
    write_partition(src, "p1", 5.0)
    s = murr_factory()
    url = s.url
    assert requests.get(f"{url}/api/v1/table/api_t/source").status_code == 404
    body = {"source": {"local": {"path": str(src)}}, "key": ["user_id"], "poll_interval": "200ms"}
    r = requests.put(f"{url}/api/v1/table/api_t/source", json=body)
    assert r.status_code == 200, r.text
    wait_for(lambda: served(url, "api_t") == "p1")
    assert fetch(url, ["u3"], name="api_t").json()["columns"]["f0"] == [5.0]
    r = requests.put(f"{url}/api/v1/table/api_t/source", json={"source": {"ftp": {}}, "key": ["user_id"]})
    assert r.status_code == 400 and "ftp" in r.json()["error"]
    r = requests.put(f"{url}/api/v1/table/api_t/source", json={"source": {"local": {"path": str(src)}}})
    assert r.status_code == 400 and "key" in r.json()["error"]
    # refresh: polls now
    write_partition(src, "p2", 6.0)
    r = requests.post(f"{url}/api/v1/table/api_t/refresh")
    assert r.status_code == 202
    wait_for(lambda: served(url, "api_t") == "p2", timeout=5)
    # persisted across a restart
    s.stop()
    s.start()
    assert served(s.url, "api_t") == "p2"
    assert requests.delete(f"{s.url}/api/v1/table/api_t/source").status_code == 204
    assert requests.get(f"{s.url}/api/v1/table/api_t/source").status_code == 404
    assert requests.post(f"{s.url}/api/v1/table/api_t/refresh").status_code == 404
    assert fetch(s.url, ["u3"], name="api_t").json()["columns"]["f0"] == [6.0]  # the table stays
    saved = json.loads((tmp_path / "data" / "sources.json").read_text())
    assert saved == {"tables": {}}


def test_config_errors_name_the_key(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("tables:\n  t:\n    source:\n      local: {path: /x}\n    key: [id]\n    pollinterval: 5m\n")
    s = MurrServer(tmp_path / "data", args=["-c", str(p)])
    with pytest.raises(RuntimeError) as e:
        s.start()
    assert "bad.yaml:6" in str(e.value) and "pollinterval" in str(e.value)
