"""A data directory written by the release before the 0.3 protocol (tests/data/datadir-75c4d68,
made by that release's binary) opens with the current server: same schema in the 0.2 form,
same rows, and it takes new writes and both fetch generations."""
import json
import shutil
from pathlib import Path

import pyarrow as pa

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "datadir-75c4d68" / "murr"
JSON = {"Content-Type": "application/json"}
SCHEMA = {"key": "id", "columns": {"id": {"dtype": "utf8", "nullable": False},
                                   "score": {"dtype": "float32", "nullable": True},
                                   "name": {"dtype": "utf8", "nullable": True},
                                   "n": {"dtype": "int64", "nullable": True, "strict": False}}}


def test_previous_release_data_dir_serves(murr_factory, tmp_path, session):
    data = tmp_path / "old"
    shutil.copytree(FIXTURE, data)
    m = murr_factory(data_dir=data)
    r = session.get(f"{m.url}/api/v1/table/features/schema")
    assert r.status_code == 200
    assert r.json() == SCHEMA
    assert list(r.json()["columns"]) == ["id", "score", "name", "n"]
    r = session.post(f"{m.url}/api/v1/table/features/fetch", headers=JSON,
                     data=json.dumps({"keys": ["a", "b", "c", "d", "e"], "columns": ["score", "name", "n"]}))
    assert r.status_code == 200, r.text
    assert r.json() == {"columns": {"score": [0.5, None, 9.5, 1.0, None],
                                    "name": ["x", None, "cc", "dd", None],
                                    "n": [1, -2, 30, 40, None]}}
    # a new write lands next to the old segment, and survives a restart
    r = session.put(f"{m.url}/api/v1/table/features/write", headers=JSON,
                    data=json.dumps({"columns": {"id": ["e", "a"], "score": [7.0, 0.25], "name": ["ee", "aa"],
                                                 "n": [5, 6]}}))
    assert r.status_code == 200, r.text
    m.stop()
    m.start()
    r = session.post(f"{m.url}/api/v1/table/features/fetch", headers=JSON,
                     data=json.dumps({"keys": ["e", "a", "c"], "columns": ["n", "score"]}))
    assert r.json() == {"columns": {"n": [5, 6, 30], "score": [7.0, 0.25, 9.5]}}
    # the 0.3 object form on the old table answers sparse: _idx + found rows only
    r = session.post(f"{m.url}/api/v1/table/features/fetch", headers=JSON,
                     data=json.dumps({"keys": {"id": ["zz", "d", "b"]}, "columns": ["name"]}))
    assert r.status_code == 200, r.text
    assert r.json() == {"columns": {"_idx": [1, 2], "name": ["dd", None]}}
    r = session.post(f"{m.url}/api/v1/table/features/fetch",
                     headers={**JSON, "Accept": "application/vnd.apache.arrow.stream"},
                     data=json.dumps({"keys": {"id": ["d"]}, "columns": ["score"]}))
    t = pa.ipc.open_stream(r.content).read_all()
    assert t.schema.field("_idx").type == pa.uint32()
    assert t.to_pydict() == {"_idx": [0], "score": [1.0]}
