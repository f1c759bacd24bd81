"""What only embedded mode has: zero-copy results, the in-process HTTP server, close and
interpreter exit, and a data directory shared with the server binary."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

import numpy as np
import pyarrow as pa
import pytest

import pymurr


def make(db, name="t"):
    db.create_table(name, {"columns": {"id": {"dtype": "utf8", "nullable": False, "key": True},
                                       "f": {"dtype": "float32"}, "s": {"dtype": "utf8"}}})
    db.write(name, pa.table({"id": ["a", "b", "c"], "f": pa.array([1.0, 2.0, 3.0], pa.float32()),
                             "s": ["x", "yy", "zzz"]}))


def test_result_numpy_arrays_view_the_engines_buffers(tmp_path):
    with pymurr.open(str(tmp_path / "d"), sync_writes=False) as db:
        make(db)
        t = db.read("t", ["c", "a"], ["f"])
        chunk = t.column("f").chunk(0)
        arr = pymurr.to_numpy(t)["f"]
        assert arr.__array_interface__["data"][0] == chunk.buffers()[1].address, "to_numpy copied"
        assert not arr.flags.writeable
        # the answer outlives the database (the engine's batch is owned by the Arrow object)
    assert sorted(arr.tolist()) == [1.0, 3.0]


def test_in_process_http_server_answers_the_pypi_client(tmp_path):
    from murr.client import Client  # PyPI murr 0.3.1 (async, httpx): an implementation nobody here wrote

    with pymurr.open(str(tmp_path / "d"), http_port=0, sync_writes=False) as db:
        make(db)
        assert db.endpoint.startswith("http://127.0.0.1:") and db.http_port > 0

        async def go():
            async with Client(db.endpoint) as c:
                schema = await c.get_schema("t")
                got = await c.read("t", {"id": ["b", "q"]}, ["s"])
                await c.write("t", pa.table({"id": ["d"], "f": pa.array([4.0], pa.float32()), "s": ["w"]}))
                return schema, got

        schema, got = asyncio.run(go())
        assert schema.key_columns == ["id"]
        assert got.column("_idx").to_pylist() == [0] and got.column("s").to_pylist() == ["yy"]
        assert db.read("t", ["d"], ["s"]).column("s").to_pylist() == ["w"]  # written over HTTP, read in-process


def test_close_is_idempotent_and_refuses_later_calls(tmp_path):
    db = pymurr.open(str(tmp_path / "d"), sync_writes=False)
    make(db)
    db.close()
    db.close()
    with pytest.raises(pymurr.InvalidRequestError, match="closed"):
        db.read("t", ["a"], ["f"])


def test_close_waits_for_readers_in_flight(tmp_path):
    db = pymurr.open(str(tmp_path / "d"), sync_writes=False)
    make(db)
    keys = ["a", "b", "c"] * 3000
    errors, done = [], []

    def reader():
        try:
            while True:
                t = db.read("t", keys, ["f", "s"])
                assert t.num_rows == len(keys)
                done.append(1)
        except pymurr.InvalidRequestError as e:  # closed: the only error allowed
            if "closed" not in e.message:
                errors.append(e)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    while len(done) < 20:
        pass
    db.close()
    for t in threads:
        t.join()
    assert errors == []


def test_a_database_dropped_without_close_is_closed(tmp_path):
    import gc

    from pymurr._lib import lib

    before = lib.murr_memory_in_use()
    db = pymurr.open(str(tmp_path / "d"), sync_writes=False)
    make(db)
    db.write("t", pa.table({"id": ["k%d" % i for i in range(20000)], "f": pa.array(range(20000), pa.float32()),
                            "s": ["v"] * 20000}))
    opened = lib.murr_memory_in_use()
    assert opened > before + 100_000, (before, opened)  # the key directory of 20k keys at least
    del db
    gc.collect()
    after = lib.murr_memory_in_use()
    assert after < before + (opened - before) // 10, (before, opened, after)


def test_interpreter_exit_closes_the_database(tmp_path):
    path = str(tmp_path / "d")
    code = ("import pymurr, pyarrow as pa\n"
            "db = pymurr.open(%r, sync_writes=False)\n"
            "db.create_table('t', {'columns': {'id': {'dtype': 'utf8', 'nullable': False, 'key': True},"
            " 'v': {'dtype': 'int64'}}})\n"
            "db.write('t', pa.table({'id': ['a'], 'v': [41]}))\n" % path)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # sync_writes=False: the rows are durable only because close ran at exit (atexit)
    with pymurr.open(path) as db:
        assert db.read("t", ["a"], ["v"]).column("v").to_pylist() == [41]


def test_server_reads_what_embedded_wrote_and_back(tmp_path):
    path = str(tmp_path / "shared")
    with pymurr.open(path) as db:
        make(db)
    with pymurr.serve({"storage.path": path}) as srv:
        with srv.connect("flight") as c:
            assert sorted(c.read("t", ["a", "c"], ["s"]).column("s").to_pylist()) == ["x", "zzz"]
            c.write("t", pa.table({"id": ["e"], "f": pa.array([5.0], pa.float32()), "s": ["from-server"]}))
    assert srv.returncode == 0
    with pymurr.open(path) as db:
        assert db.read("t", ["e"], ["s"]).column("s").to_pylist() == ["from-server"]
        assert db.get_schema("t").key_columns == ["id"]


def test_write_of_unsupported_type_names_the_column(tmp_path):
    with pymurr.open(str(tmp_path / "d"), sync_writes=False) as db:
        make(db)
        with pytest.raises(pymurr.InvalidRequestError) as e:
            db.write("t", pa.table({"id": ["a"], "f": pa.array([1], pa.timestamp("us")), "s": ["x"]}))
        assert "'f'" in e.value.message and e.value.code == "EUNSUPPORTED"
        # sliced input (array offsets) lands as the slice
        big = pa.table({"id": ["p", "q", "r", "s"], "f": pa.array([None, 1.0, None, 3.0], pa.float32()),
                        "s": ["0", "1", "2", "3"]})
        db.write("t", big.slice(1, 3))
        got = db.read("t", ["p", "q", "r", "s"], ["f", "s"]).sort_by("_idx")
        assert got.column("_idx").to_pylist() == [1, 2, 3]
        assert got.column("f").to_pylist() == [1.0, None, 3.0]
        assert got.column("s").to_pylist() == ["1", "2", "3"]
        assert np.isnan(pymurr.to_numpy(got)["f"][1])


def test_list_keys_fast_path_and_its_fallbacks(tmp_path):
    with pymurr.open(str(tmp_path / "d"), sync_writes=False) as db:
        make(db)
        db.write("t", pa.table({"id": ["nul\0inside", ""], "f": pa.array([7.0, 8.0], pa.float32()), "s": ["n", "e"]}))
        # keys holding NUL cannot be NUL-joined: the pyarrow path answers them
        got = db.read("t", ["nul\0inside", "a", "nul"], ["s"]).sort_by("_idx")
        assert got.column("_idx").to_pylist() == [0, 1] and got.column("s").to_pylist() == ["n", "x"]
        # the empty key and a duplicate at the ends of the joined buffer
        got = db.read("t", ["", "c", ""], ["f"]).sort_by("_idx")
        assert got.column("_idx").to_pylist() == [0, 1, 2] and got.column("f").to_pylist() == [8.0, 3.0, 8.0]
        with pytest.raises((pymurr.InvalidRequestError, pa.ArrowException, TypeError)):
            db.read("t", ["a", 5], ["f"])
        # the key form is looked up again after a drop: same name, an int64 key now
        db.drop_table("t")
        db.create_table("t", {"columns": {"id": {"dtype": "int64", "nullable": False, "key": True},
                                          "f": {"dtype": "float32"}}})
        db.write("t", pa.table({"id": [3], "f": pa.array([1.25], pa.float32())}))
        assert db.read("t", [3, 4], ["f"]).column("f").to_pylist() == [1.25]


def test_read_numpy_views_the_result_and_frees_it_with_the_last_array(tmp_path):
    import gc

    from pymurr._lib import lib

    with pymurr.open(str(tmp_path / "d"), sync_writes=False) as db:
        db.create_table("n", {"columns": {"id": {"dtype": "utf8", "nullable": False, "key": True},
                                          "f": {"dtype": "float32"}, "i": {"dtype": "int16"},
                                          "v": {"dtype": "list<float16>", "dim": 3}}})
        n = 50_000
        db.write("n", pa.table({"id": [str(k) for k in range(n)], "f": pa.array(np.arange(n, dtype=np.float32)),
                                "i": pa.array(np.arange(n, dtype=np.int16) % 1000),
                                "v": pa.FixedSizeListArray.from_arrays(
                                    pa.array(np.arange(3 * n, dtype=np.float16)), 3)}))
        keys = [str(k) for k in range(0, n, 2)] + ["missing"]
        gc.collect()
        before = lib.murr_memory_in_use()
        got = db.read_numpy("n", keys, ["f", "v", "i"])
        held = lib.murr_memory_in_use()
        assert held > before + 25_000 * 10, (before, held)  # the engine's result, not a copy in numpy
        assert list(got) == ["_idx", "f", "v", "i"]
        assert got["_idx"].dtype == np.uint32 and got["i"].dtype == np.int16
        assert got["v"].dtype == np.float16 and got["v"].shape == (25_000, 3)
        order = np.argsort(got["_idx"])
        assert got["_idx"][order].tolist() == list(range(25_000))
        assert got["f"][order].tolist() == [float(k) for k in range(0, n, 2)]
        assert got["i"][order][:3].tolist() == [0, 2, 4]
        assert got["v"][order][1].tolist() == [6.0, 7.0, 8.0]
        # the arrays are over the result's buffers: one allocation of rows x width each
        base_f, base_v = got["f"].__array_interface__["data"][0], got["v"].__array_interface__["data"][0]
        assert base_f != base_v
        f = got.pop("f")
        del got
        gc.collect()
        assert lib.murr_memory_in_use() == held, "one array still holds the whole result"
        assert f[order][:2].tolist() == [0.0, 2.0]
        del f
        gc.collect()
        assert lib.murr_memory_in_use() <= before, "the last array freed the result"


def test_dlpack_arrays_hold_the_engines_result_until_freed(tmp_path):
    import gc

    from pymurr import _arrow
    from pymurr._lib import lib

    with pymurr.open(str(tmp_path / "d"), sync_writes=False) as db:
        n = 40_000
        db.create_table("e", {"columns": {"id": {"dtype": "utf8", "nullable": False, "key": True},
                                          "v": {"dtype": "list<float32>", "dim": 4}}})
        db.write("e", pa.table({"id": [str(k) for k in range(n)], "v": pa.FixedSizeListArray.from_arrays(
            pa.array(np.arange(4 * n, dtype=np.float32)), 4)}))
        gc.collect()
        before = lib.murr_memory_in_use()
        t = db.read("e", [str(k) for k in range(n)], ["v"])
        held = lib.murr_memory_in_use()
        assert held > before + n * 16, (before, held)  # rows x 4 float32 in the engine's batch
        v = _arrow.dlpack_columns(t, ["v"], np.from_dlpack, np.asarray)["v"]
        assert lib.murr_memory_in_use() == held, "the DLPack export copied"
        idx = t.column("_idx").to_numpy().copy()  # to_numpy alone would be a view holding the result
        del t
        gc.collect()
        assert lib.murr_memory_in_use() == held, "the array no longer holds the result"
        assert v.shape == (n, 4) and v[np.argsort(idx)][n - 1].tolist() == [4.0 * n - 4, 4.0 * n - 3, 4.0 * n - 2, 4.0 * n - 1]
        del v
        gc.collect()
        assert lib.murr_memory_in_use() <= before, "the last array freed the result"


def test_read_numpy_without_the_fast_path_matches_to_numpy_of_read(tmp_path):
    with pymurr.open(str(tmp_path / "d"), sync_writes=False) as db:
        make(db)
        db.write("t", pa.table({"id": ["n"], "f": pa.array([None], pa.float32()), "s": pa.array([None], pa.string())}))
        keys = ["c", "n", "a"]
        for columns in (["s"], ["f"], ["f", "s"]):  # a utf8 column, nulls: the pyarrow conversion
            got = db.read_numpy("t", keys, columns)
            want = pymurr.to_numpy(db.read("t", keys, columns))
            assert list(got) == list(want)
            for c in want:
                np.testing.assert_array_equal(got[c], want[c])
        assert np.isnan(db.read_numpy("t", ["n"], ["f"])["f"][0])
        empty = db.read_numpy("t", ["nope"], ["f"])
        assert empty["_idx"].shape == (0,) and empty["f"].dtype == np.float32


def test_in_process_servers_share_the_engine_and_stop_on_close(tmp_path):
    import socket

    import pyarrow.flight as fl

    db = pymurr.open(str(tmp_path / "d"), http_port=0, grpc_port=0, sync_writes=False)
    make(db)
    ports = (db.http_port, db.grpc_port)
    assert db.flight_endpoint == "grpc://127.0.0.1:%d" % db.grpc_port and db.grpc_port != db.http_port
    # pyarrow's own Flight client (not pymurr's) against the in-process Flight server
    info = fl.connect(db.flight_endpoint).get_schema(fl.FlightDescriptor.for_path("t"))
    assert info.schema.names == ["id", "f", "s"]
    with pymurr.connect(db.endpoint) as c:
        c.write("t", pa.table({"id": ["h"], "f": pa.array([9.5], pa.float32()), "s": ["over http"]}))
    assert db.read("t", ["h"], ["s"]).column("s").to_pylist() == ["over http"]
    db.close()
    for port in ports:
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, "port %d still accepts after close()" % port


def test_http_client_reuses_its_connection(tmp_path):
    import re
    import urllib.request

    with pymurr.open(str(tmp_path / "d"), http_port=0, sync_writes=False) as db:
        make(db)

        def accepted():
            text = urllib.request.urlopen(db.endpoint + "/metrics").read().decode()
            return int(re.search(r"^murr_http_connections_total (\d+)", text, re.M).group(1))

        before = accepted()
        with pymurr.connect(db.endpoint) as c:
            for _ in range(20):
                assert c.read("t", ["a"], ["f"]).column("f").to_pylist() == [1.0]
            c.get_schema("t")
        assert accepted() - before == 2, "20 reads and a schema over one connection (+1: this /metrics call)"
