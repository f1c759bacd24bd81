"""Atomic table replace with versions, end to end against the real binary: PUT .../write?mode=replace
with every body format (JSON, Arrow IPC, Parquet), GET .../versions, POST .../rollback, Flight
DoPut with a CMD descriptor {"table", "mode": "replace"}, storage.keep_versions (config file and
environment), versions surviving a restart, a failed replace changing nothing, and readers during
replaces seeing one whole version or the other, never a mix."""
import io
import json
import random
import re
import threading
import time
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.flight as fl
import pyarrow.parquet as pq
import pytest
import requests

from conftest import ours_only

pytestmark = ours_only  # the Rust reference has no versions

ARROW = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
SCHEMA = {"key": "id", "columns": {"id": {"dtype": "utf8", "nullable": False},
                                   "score": {"dtype": "float64", "nullable": True},
                                   "name": {"dtype": "utf8", "nullable": True}}}
ARROW_SCHEMA = pa.schema([("id", pa.string()), ("score", pa.float64()), ("name", pa.string())])
SLOW = 60  # seconds: generous for a loaded 2-core machine (and ASan)


def t_url(url, name):
    return f"{url}/api/v1/table/{name}"


def create(url, name="t"):
    r = requests.put(t_url(url, name), json=SCHEMA)
    assert r.status_code == 201, r.text


def cols(ids, scores, names=None):
    return {"id": list(ids), "score": list(scores), "name": list(names) if names is not None else [None] * len(ids)}


def arrow_bytes(c, batches=1):
    t = pa.table(c, schema=ARROW_SCHEMA)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, ARROW_SCHEMA) as w:
        n = max(1, (t.num_rows + batches - 1) // batches)
        for b in t.to_batches(max_chunksize=n):
            w.write_batch(b)
        if t.num_rows == 0:
            w.write_batch(pa.record_batch([pa.array([], f.type) for f in ARROW_SCHEMA], schema=ARROW_SCHEMA))
    return sink.getvalue()


def parquet_bytes(c, row_group_size=None):
    sink = io.BytesIO()
    pq.write_table(pa.table(c, schema=ARROW_SCHEMA), sink, row_group_size=row_group_size)
    return sink.getvalue()


def write(url, name, c, mode=None, fmt="json", expect=200):
    params = {"mode": mode} if mode else None
    if fmt == "json":
        r = requests.put(t_url(url, name) + "/write", params=params, json={"columns": c})
    elif fmt == "arrow":
        r = requests.put(t_url(url, name) + "/write", params=params, data=arrow_bytes(c, batches=2),
                         headers={"Content-Type": ARROW})
    else:
        r = requests.put(t_url(url, name) + "/write", params=params, data=parquet_bytes(c, row_group_size=2),
                         headers={"Content-Type": PARQUET})
    assert r.status_code == expect, (fmt, mode, r.status_code, r.text)
    return r


def fetch(url, name, keys):
    """Dense 0.2 fetch: {"score": [...], "name": [...]} in key order, None for missing keys."""
    r = requests.post(t_url(url, name) + "/fetch", json={"keys": list(keys), "columns": ["score", "name"]})
    assert r.status_code == 200, r.text
    return r.json()["columns"]


def versions(url, name="t"):
    r = requests.get(t_url(url, name) + "/versions")
    assert r.status_code == 200, r.text
    v = r.json()
    assert v["table"] == name
    return v


def rollback(url, name="t", version=None, expect=200, **kw):
    params = {"version": version} if version is not None else None
    r = requests.post(t_url(url, name) + "/rollback", params=params, **kw)
    assert r.status_code == expect, (version, r.status_code, r.text)
    return r.json()


def metric(url, name, table):
    text = requests.get(url + "/metrics").text
    m = re.search(rf'^{name}{{table="{table}"}} (\d+)$', text, re.M)
    assert m, f"{name} for {table} not in /metrics"
    return int(m.group(1))


# ---- replace with every body format ------------------------------------------------------

@pytest.mark.parametrize("fmt", ["json", "arrow", "parquet"])
def test_replace_makes_the_body_the_whole_table(murr, fmt):
    create(murr.url)
    write(murr.url, "t", cols(["a", "b", "c"], [1.0, 2.0, 3.0], ["x", "y", "z"]))
    write(murr.url, "t", cols(["b", "d", "e"], [20.5, 40.25, None], ["yy", None, "ee"]), mode="replace", fmt=fmt)
    got = fetch(murr.url, "t", ["a", "b", "c", "d", "e"])
    assert got == {"score": [None, 20.5, None, 40.25, None], "name": [None, "yy", None, None, "ee"]}
    v = versions(murr.url)
    assert v["serving"] == 2
    assert [(x["id"], x["serving"], x["rows"], x["source"]) for x in v["versions"]] == \
        [(2, True, 3, "http"), (1, False, 3, "create")]
    assert metric(murr.url, "murr_table_version", "t") == 2
    # an upsert after the replace goes to the new version and keeps its rows
    write(murr.url, "t", cols(["a"], [7.0]), mode="upsert", fmt=fmt)
    assert fetch(murr.url, "t", ["a", "b", "c"])["score"] == [7.0, 20.5, None]
    assert versions(murr.url)["serving"] == 2


def test_default_and_explicit_upsert_keep_rows_and_version(murr):
    create(murr.url)
    write(murr.url, "t", cols(["a", "b"], [1.0, 2.0]))
    write(murr.url, "t", cols(["b"], [3.0]), mode="upsert")
    assert fetch(murr.url, "t", ["a", "b"])["score"] == [1.0, 3.0]
    v = versions(murr.url)
    assert [(x["id"], x["serving"], x["rows"]) for x in v["versions"]] == [(1, True, 2)]


def test_empty_replace_empties_the_table(murr):
    create(murr.url)
    write(murr.url, "t", cols(["a", "b"], [1.0, 2.0]))
    write(murr.url, "t", cols([], []), mode="replace")
    assert fetch(murr.url, "t", ["a", "b"])["score"] == [None, None]
    v = versions(murr.url)
    assert (v["serving"], v["versions"][0]["rows"], v["versions"][1]["rows"]) == (2, 0, 2)


def test_bad_mode_is_400_naming_the_value_and_the_accepted_ones(murr):
    create(murr.url)
    write(murr.url, "t", cols(["a"], [1.0]))
    for bad in ["append", "", "REPLACE"]:
        r = requests.put(t_url(murr.url, "t") + "/write", params={"mode": bad}, json={"columns": cols(["b"], [2.0])})
        assert r.status_code == 400, (bad, r.text)
        msg = r.json()["error"]
        assert f"'{bad}'" in msg and "upsert" in msg and "replace" in msg, msg
    r = requests.put(t_url(murr.url, "t") + "/write", params={"mode": "append"}, data=arrow_bytes(cols(["b"], [2.0])),
                     headers={"Content-Type": ARROW})
    assert r.status_code == 400 and "'append'" in r.json()["error"], r.text
    assert fetch(murr.url, "t", ["a", "b"])["score"] == [1.0, None]
    assert [x["id"] for x in versions(murr.url)["versions"]] == [1]


# ---- the version list ---------------------------------------------------------------------

def test_versions_list_content(murr):
    before = time.time()
    create(murr.url)
    write(murr.url, "t", cols(["a", "b", "c"], [1.0, 2.0, 3.0]))
    write(murr.url, "t", cols(["x", "y"], [1.0, 2.0]), mode="replace", fmt="arrow")
    write(murr.url, "t", cols([f"k{i}" for i in range(5)], [float(i) for i in range(5)]), mode="replace",
          fmt="parquet")
    after = time.time()
    v = versions(murr.url)
    assert v["serving"] == 3
    vs = v["versions"]
    assert [x["id"] for x in vs] == [3, 2], "keep_versions defaults to 1: version 1 was pruned"
    assert [x["serving"] for x in vs] == [True, False]
    assert [x["rows"] for x in vs] == [5, 2]
    assert [x["source"] for x in vs] == ["http", "http"]
    for x in vs:
        assert set(x) == {"id", "rows", "bytes", "created", "created_at", "source", "serving"}
        assert x["bytes"] > 0, x
        assert int(before) - 1 <= x["created"] <= after + 1, (x, before, after)
        assert x["created_at"] == datetime.fromtimestamp(x["created"], timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    # HEAD answers like GET without a body
    h = requests.head(t_url(murr.url, "t") + "/versions")
    assert h.status_code == 200 and h.content == b""


# ---- rollback ------------------------------------------------------------------------------

def random_cols(rng, ids):
    return cols(ids, [None if rng.random() < 0.1 else rng.uniform(-1e9, 1e9) for _ in ids],
                [None if rng.random() < 0.1 else "".join(rng.choice("abcxyz\u00e9") for _ in range(rng.randint(0, 12)))
                 for _ in ids])


def test_rollback_restores_the_old_values_exactly_and_can_be_undone(murr):
    rng = random.Random(7)
    create(murr.url)
    old_ids = [f"o{i}" for i in range(300)]
    new_ids = [f"o{i}" for i in range(0, 300, 3)] + [f"n{i}" for i in range(200)]
    old, new = random_cols(rng, old_ids), random_cols(rng, new_ids)
    write(murr.url, "t", old)
    write(murr.url, "t", new, mode="replace", fmt="arrow")
    every = old_ids + [f"n{i}" for i in range(200)]
    want_old = {"score": old["score"] + [None] * 200, "name": old["name"] + [None] * 200}
    want_new = fetch(murr.url, "t", every)
    assert want_new != want_old
    assert rollback(murr.url) == {"table": "t", "serving": 1}
    assert fetch(murr.url, "t", every) == want_old
    v = versions(murr.url)
    assert v["serving"] == 1
    assert [(x["id"], x["serving"], x["rows"]) for x in v["versions"]] == [(2, False, 300), (1, True, 300)]
    assert metric(murr.url, "murr_table_version", "t") == 1
    # nothing older than version 1 is kept: 409 naming the serving version
    r = requests.post(t_url(murr.url, "t") + "/rollback")
    assert r.status_code == 409, r.text
    assert "1" in r.json()["error"] and "older" in r.json()["error"], r.text
    # the rollback kept version 2: going back to it is a rollback too
    assert rollback(murr.url, version=2) == {"table": "t", "serving": 2}
    assert fetch(murr.url, "t", every) == want_new


def test_rollback_to_a_given_version_by_query_or_body(murr_factory):
    m = murr_factory(extra_env={"MURR_STORAGE_KEEP_VERSIONS": "5"})
    create(m.url)
    for i in range(1, 5):  # version 1 has score 1.0; replaces make versions 2, 3, 4
        write(m.url, "t", cols(["a", f"v{i}"], [float(i), float(i)]), mode="replace" if i > 1 else None)
    assert versions(m.url)["serving"] == 4
    assert rollback(m.url, version=2) == {"table": "t", "serving": 2}
    assert fetch(m.url, "t", ["a", "v2", "v4"])["score"] == [2.0, 2.0, None]
    assert rollback(m.url, json={"version": 3}) == {"table": "t", "serving": 3}
    assert fetch(m.url, "t", ["a", "v3"])["score"] == [3.0, 3.0]
    # the same id in query and body is fine; an empty body is the default (the newest older one)
    assert rollback(m.url, version=1, json={"version": 1}) == {"table": "t", "serving": 1}
    assert rollback(m.url, version=4, data=b"", headers={"Content-Type": "application/json"})["serving"] == 4
    assert rollback(m.url, json={})["serving"] == 3
    assert fetch(m.url, "t", ["a"])["score"] == [3.0]


@pytest.mark.parametrize("kw,status,words", [
    (dict(params={"version": "abc"}), 400, ["version", "'abc'"]),
    (dict(params={"version": "0"}), 400, ["version", "'0'"]),
    (dict(params={"version": "-1"}), 400, ["'-1'"]),
    (dict(params={"version": "2"}, json={"version": 3}), 400, ["2", "3"]),
    (dict(data=b"{", headers={"Content-Type": "application/json"}), 400, ["JSON"]),
    (dict(json=[1]), 422, ["object", "[1]"]),
    (dict(json={"version": "2"}), 422, ["version", '"2"']),
    (dict(json={"version": 1.5}), 422, ["version", "1.5"]),
    (dict(json={"version": 0}), 422, ["version", "0"]),
    (dict(json={"versoin": 2}), 422, ["versoin"]),
    (dict(data=b"version=2", headers={"Content-Type": "text/plain"}), 415, ["text/plain"]),
])
def test_bad_rollback_requests(murr, kw, status, words):
    create(murr.url)
    write(murr.url, "t", cols(["a"], [1.0]))
    write(murr.url, "t", cols(["a"], [2.0]), mode="replace")
    write(murr.url, "t", cols(["a"], [3.0]), mode="replace")
    r = requests.post(t_url(murr.url, "t") + "/rollback", **kw)
    assert r.status_code == status, r.text
    for w in words:
        assert w in r.json()["error"], (w, r.text)
    assert versions(murr.url)["serving"] == 3
    assert fetch(murr.url, "t", ["a"])["score"] == [3.0]


def test_rollback_of_a_table_with_no_older_version_is_409(murr):
    create(murr.url)
    write(murr.url, "t", cols(["a"], [1.0]))
    r = requests.post(t_url(murr.url, "t") + "/rollback")
    assert r.status_code == 409, r.text
    assert "older" in r.json()["error"], r.text
    assert fetch(murr.url, "t", ["a"])["score"] == [1.0]


def test_rollback_to_an_unknown_version_is_404(murr):
    create(murr.url)
    write(murr.url, "t", cols(["a"], [1.0]))
    write(murr.url, "t", cols(["a"], [2.0]), mode="replace")
    r = requests.post(t_url(murr.url, "t") + "/rollback", params={"version": 99})
    assert r.status_code == 404, r.text
    assert "99" in r.json()["error"], r.text
    assert fetch(murr.url, "t", ["a"])["score"] == [2.0]


def test_unknown_table_is_404_on_all_three_routes(murr):
    for r in [requests.put(t_url(murr.url, "nope") + "/write?mode=replace", json={"columns": cols(["a"], [1.0])}),
              requests.put(t_url(murr.url, "nope") + "/write?mode=replace", data=arrow_bytes(cols(["a"], [1.0])),
                           headers={"Content-Type": ARROW}),
              requests.put(t_url(murr.url, "nope") + "/write?mode=replace", data=parquet_bytes(cols(["a"], [1.0])),
                           headers={"Content-Type": PARQUET}),
              requests.get(t_url(murr.url, "nope") + "/versions"),
              requests.post(t_url(murr.url, "nope") + "/rollback"),
              requests.post(t_url(murr.url, "nope") + "/rollback?version=1")]:
        assert r.status_code == 404, (r.request.method, r.request.url, r.text)
        assert "nope" in r.json()["error"], r.text
    assert requests.get(murr.url + "/api/v1/table").json() == {}
    r = requests.get(t_url(murr.url, "t") + "/rollback")
    assert r.status_code == 405 and r.headers["Allow"] == "POST", r.text
    r = requests.post(t_url(murr.url, "t") + "/versions")
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD", r.text


# ---- storage.keep_versions -----------------------------------------------------------------

def test_keep_versions_2_from_the_config_file_prunes_beyond_two(murr_factory, tmp_path):
    conf = tmp_path / "murr.yaml"
    conf.write_text("storage:\n  keep_versions: 2\n")
    m = murr_factory(args=["-c", str(conf)])
    create(m.url)
    write(m.url, "t", cols(["a"], [1.0]))
    for i in range(2, 6):
        write(m.url, "t", cols(["a"], [float(i)]), mode="replace")
        ids = [x["id"] for x in versions(m.url)["versions"]]
        assert ids == list(range(i, max(0, i - 3), -1)), (i, ids)
    assert [x["id"] for x in versions(m.url)["versions"]] == [5, 4, 3]
    r = requests.post(t_url(m.url, "t") + "/rollback", params={"version": 2})
    assert r.status_code == 404 and "2" in r.json()["error"], r.text
    assert rollback(m.url, version=3)["serving"] == 3
    assert fetch(m.url, "t", ["a"])["score"] == [3.0]
    # the rollback kept 5 and 4 (two besides the serving one)
    assert [(x["id"], x["serving"]) for x in versions(m.url)["versions"]] == [(5, False), (4, False), (3, True)]


def test_keep_versions_0_keeps_none(murr_factory):
    m = murr_factory(extra_env={"MURR_STORAGE_KEEP_VERSIONS": "0"})
    create(m.url)
    write(m.url, "t", cols(["a"], [1.0]))
    write(m.url, "t", cols(["a"], [2.0]), mode="replace")
    write(m.url, "t", cols(["a"], [3.0]), mode="replace")
    v = versions(m.url)
    assert [(x["id"], x["serving"]) for x in v["versions"]] == [(3, True)]
    r = requests.post(t_url(m.url, "t") + "/rollback")
    assert r.status_code == 409, r.text
    assert "keep_versions" in r.json()["error"], r.text
    assert fetch(m.url, "t", ["a"])["score"] == [3.0]


def test_keep_versions_out_of_range_is_refused_at_startup(murr_factory):
    with pytest.raises(RuntimeError, match=r"keep_versions.*1001"):
        murr_factory(extra_env={"MURR_STORAGE_KEEP_VERSIONS": "1001"})


# ---- restart -----------------------------------------------------------------------------

def test_versions_and_serving_data_survive_a_restart(murr_factory, tmp_path):
    m = murr_factory(tmp_path / "d", extra_env={"MURR_STORAGE_KEEP_VERSIONS": "3"})
    create(m.url)
    write(m.url, "t", cols(["a", "b"], [1.0, 2.0], ["one", "two"]))
    write(m.url, "t", cols(["b", "c"], [20.0, 30.0], ["TWO", "THREE"]), mode="replace", fmt="parquet")
    before = versions(m.url)
    assert m.stop() == 0
    m.start()
    assert versions(m.url) == before
    assert fetch(m.url, "t", ["a", "b", "c"]) == {"score": [None, 20.0, 30.0], "name": [None, "TWO", "THREE"]}
    assert rollback(m.url)["serving"] == 1
    assert m.stop() == 0
    m.start()
    v = versions(m.url)
    assert v["serving"] == 1 and [x["id"] for x in v["versions"]] == [2, 1]
    assert fetch(m.url, "t", ["a", "b", "c"]) == {"score": [1.0, 2.0, None], "name": ["one", "two", None]}
    # ids keep increasing after the restart
    write(m.url, "t", cols(["z"], [9.0]), mode="replace")
    assert versions(m.url)["serving"] == 3


# ---- readers during replaces ---------------------------------------------------------------

def test_readers_see_one_whole_version_during_replaces(murr):
    """A is k0..k1999 all 1.0, B is k1000..k2999 all 2.0. A reader fetching all 3,000 keys
    (Arrow answer) during 20 replaces must get exactly A or exactly B each time; a read that
    starts after replace i returned sees replace i's data or, if the next one committed
    meanwhile, replace i+1's."""
    create(murr.url)
    keys = [f"k{i}" for i in range(3000)]
    data = {"A": arrow_bytes(cols(keys[:2000], [1.0] * 2000)), "B": arrow_bytes(cols(keys[1000:], [2.0] * 2000))}
    expect = {"A": (set(range(0, 2000)), 1.0), "B": (set(range(1000, 3000)), 2.0)}
    url = t_url(murr.url, "t")
    r = requests.put(url + "/write?mode=replace", data=data["A"], headers={"Content-Type": ARROW})
    assert r.status_code == 200, r.text
    generation = [0]
    seen, problems = [], []
    stop = threading.Event()
    body = json.dumps({"keys": keys, "columns": ["score"]})

    def reader():
        with requests.Session() as s:
            while not stop.is_set():
                gen = generation[0]
                r = s.post(url + "/fetch", data=body, headers={"Content-Type": "application/json", "Accept": ARROW})
                if r.status_code != 200:
                    problems.append(f"fetch answered {r.status_code}: {r.text[:200]}")
                    return
                score = pa.ipc.open_stream(r.content).read_all().column("score").to_pylist()
                found = {i for i, v in enumerate(score) if v is not None}
                values = {v for v in score if v is not None}
                which = [n for n, (ks, val) in expect.items() if found == ks and values == {val}]
                if not which:
                    problems.append(f"mixed answer after replace {gen}: {len(found)} keys found, values {values}")
                    return
                seen.append((gen, which[0]))

    th = threading.Thread(target=reader)
    th.start()
    order = ["A"] + ["B", "A"] * 10  # generation i serves order[i]
    try:
        for i in range(1, 21):
            r = requests.put(url + "/write?mode=replace", data=data[order[i]], headers={"Content-Type": ARROW})
            assert r.status_code == 200, r.text
            generation[0] = i
            deadline = time.time() + SLOW
            while not any(g == i for g, _ in seen) and not problems and time.time() < deadline:
                time.sleep(0.002)
            assert problems or any(g == i for g, _ in seen), f"no read completed after replace {i}"
    finally:
        stop.set()
        th.join(SLOW)
    assert not problems, problems
    for gen, which in seen:
        assert which in {order[gen], order[min(gen + 1, 20)]}, (gen, which)
    assert {w for _, w in seen} == {"A", "B"}
    assert versions(murr.url)["serving"] == 22


# ---- Flight DoPut replace ------------------------------------------------------------------

def cmd(obj):
    return fl.FlightDescriptor.for_command(json.dumps(obj).encode())


def do_put(client, descriptor, c):
    t = pa.table(c, schema=ARROW_SCHEMA)
    w, _ = client.do_put(descriptor, t.schema)
    w.write_table(t)
    w.close()


@pytest.fixture
def client(murr):
    c = fl.FlightClient(f"grpc://127.0.0.1:{murr.grpc_port}")
    yield c
    c.close()


def test_flight_do_put_replace_with_a_cmd_descriptor(murr, client):
    create(murr.url)
    do_put(client, fl.FlightDescriptor.for_path("t"), cols(["a", "b"], [1.0, 2.0]))
    do_put(client, cmd({"table": "t", "mode": "upsert"}), cols(["c"], [3.0]))
    do_put(client, cmd({"table": "t"}), cols(["d"], [4.0]))
    assert fetch(murr.url, "t", ["a", "b", "c", "d"])["score"] == [1.0, 2.0, 3.0, 4.0]
    assert [x["id"] for x in versions(murr.url)["versions"]] == [1], "upserts make no version"
    do_put(client, cmd({"table": "t", "mode": "replace"}), cols(["b", "e"], [20.0, 50.0], ["bb", "ee"]))
    assert fetch(murr.url, "t", ["a", "b", "c", "d", "e"]) == {"score": [None, 20.0, None, None, 50.0],
                                                              "name": [None, "bb", None, None, "ee"]}
    v = versions(murr.url)
    assert [(x["id"], x["serving"], x["rows"], x["source"]) for x in v["versions"]] == \
        [(2, True, 2, "flight"), (1, False, 4, "create")]
    ticket = fl.Ticket(json.dumps({"table": "t", "keys": ["a", "e"], "columns": ["score"]}).encode())
    assert client.do_get(ticket).read_all().column("score").to_pylist() == [None, 50.0]
    # a replace of no batches empties the table
    w, _ = client.do_put(cmd({"table": "t", "mode": "replace"}), ARROW_SCHEMA)
    w.close()
    assert fetch(murr.url, "t", ["b", "e"])["score"] == [None, None]
    assert versions(murr.url)["serving"] == 3


@pytest.mark.parametrize("raw,exc,words", [
    (b"{not json", pa.ArrowInvalid, ["not JSON"]),
    (b"[\"t\"]", pa.ArrowInvalid, ["object"]),
    (json.dumps({"mode": "replace"}).encode(), pa.ArrowInvalid, ['no "table"']),
    (json.dumps({"table": "t", "mode": "merge"}).encode(), pa.ArrowInvalid, ['"merge"', "upsert", "replace"]),
    (json.dumps({"table": "t", "mode": 1}).encode(), pa.ArrowInvalid, ['"mode" must be a string']),
    (json.dumps({"table": 7}).encode(), pa.ArrowInvalid, ['"table" must be a string']),
    (json.dumps({"table": "t", "extra": 1}).encode(), pa.ArrowInvalid, ['"extra"']),
    (json.dumps({"table": ".hidden", "mode": "replace"}).encode(), pa.ArrowInvalid, []),
    (json.dumps({"table": "nope", "mode": "replace"}).encode(), pa.ArrowKeyError, ["nope"]),
])
def test_flight_bad_cmd_descriptors(murr, client, raw, exc, words):
    create(murr.url)
    do_put(client, fl.FlightDescriptor.for_path("t"), cols(["a"], [1.0]))
    with pytest.raises(exc) as ei:
        do_put(client, fl.FlightDescriptor.for_command(raw), cols(["b"], [2.0]))
    for w in words:
        assert w in str(ei.value), (w, str(ei.value))
    assert fetch(murr.url, "t", ["a", "b"])["score"] == [1.0, None]
    assert [x["id"] for x in versions(murr.url)["versions"]] == [1]


# ---- a failed replace changes nothing ------------------------------------------------------

def test_a_failed_replace_leaves_the_old_version_serving(murr, client):
    create(murr.url)
    write(murr.url, "t", cols(["a", "b"], [1.0, 2.0]))
    write(murr.url, "t", cols(["a", "c"], [10.0, 30.0]), mode="replace")
    before = versions(murr.url)
    url = t_url(murr.url, "t") + "/write?mode=replace"
    wrong = pa.schema([("id", pa.string()), ("score", pa.string()), ("name", pa.string())])
    bad_table = pa.table({"id": ["z"], "score": ["not a number"], "name": ["n"]}, schema=wrong)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, wrong) as w:
        w.write_table(bad_table)
    pq_sink = io.BytesIO()
    pq.write_table(bad_table, pq_sink)
    for r in [requests.put(url, json={"columns": {"id": ["z"], "score": ["not a number"], "name": ["n"]}}),
              requests.put(url, data=sink.getvalue(), headers={"Content-Type": ARROW}),
              requests.put(url, data=pq_sink.getvalue(), headers={"Content-Type": PARQUET}),
              requests.put(url, data=b"\xff\xff\xff\xff\x10\x00\x00\x00garbage", headers={"Content-Type": ARROW})]:
        assert r.status_code == 400, r.text
        assert r.json()["error"], r.text
    with pytest.raises(pa.ArrowInvalid, match="score"):
        w, _ = client.do_put(cmd({"table": "t", "mode": "replace"}), wrong)
        w.write_table(bad_table)
        w.close()
    assert versions(murr.url) == before
    assert fetch(murr.url, "t", ["a", "b", "c", "z"])["score"] == [10.0, None, 30.0, None]
    # the next good replace still works, with a fresh id
    write(murr.url, "t", cols(["q"], [5.0]), mode="replace")
    v = versions(murr.url)
    assert v["serving"] > before["serving"]
    assert [x["rows"] for x in v["versions"]] == [1, 2]
