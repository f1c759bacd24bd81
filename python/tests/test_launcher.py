"""The launcher of the bundled server binary."""
from __future__ import annotations

import asyncio
import os

import pyarrow as pa
import pytest

import pymurr


def test_serve_applies_config_and_stops_gracefully(tmp_path):
    with pymurr.serve({"storage": {"keep_versions": 0, "path": str(tmp_path / "d")}}) as srv:
        assert srv.endpoint.startswith("http://127.0.0.1:")
        assert srv.flight_endpoint.startswith("grpc://127.0.0.1:")
        assert srv.running
        with pymurr.connect(srv.endpoint) as c:
            c.create_table("t", {"columns": {"id": {"dtype": "utf8", "nullable": False, "key": True}}})
            c.replace("t", pa.table({"id": ["a"]}))
            assert [v["serving"] for v in c.versions("t")] == [True]  # keep_versions 0: nothing kept
    assert not srv.running and srv.returncode == 0
    assert "murr stopped cleanly" in srv.log_tail()
    assert os.path.isdir(str(tmp_path / "d")), "a data directory the caller gave is kept"


def test_pypi_client_against_the_launched_server():
    from murr.client import Client, TableNotFoundError

    with pymurr.serve() as srv:
        async def go():
            async with Client(srv.endpoint) as c:
                with pytest.raises(TableNotFoundError):
                    await c.get_schema("nope")
                # the PyPI client sends schema.model_dump_json(): our model has it too
                await c.create_table("t", pymurr.TableSchema.model_validate(
                    {"columns": {"id": {"dtype": "int64", "nullable": False, "key": True}, "v": {"dtype": "utf8"}}}))
                return await c.get_schema("t")

        schema = asyncio.run(go())
        assert schema.key_columns == ["id"] and schema.columns["v"].dtype.value == "utf8"
        with srv.connect("flight") as ours:
            ours.write("t", pa.table({"id": [5], "v": ["five"]}))
            assert ours.read("t", [5, 6], ["v"]).column("v").to_pylist() == ["five"]


def test_bad_config_reports_the_servers_message():
    with pytest.raises(pymurr.ServerError) as e:
        pymurr.serve({"server.http.nonsense": 1}, timeout=10)
    assert "nonsense" in e.value.message


def test_connect_rejects_other_schemes():
    with pytest.raises(ValueError):
        pymurr.connect("ftp://x")
