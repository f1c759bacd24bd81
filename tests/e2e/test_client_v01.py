"""The PyPI client murr 0.1.9 (`Murr.connect(endpoint)` -> MurrClientSync: the 0.2 protocol,
schemas with a top-level `key`, JSON fetch requests answered dense) through its whole HTTP
API, on one server where the 0.3.1 client keeps tables of its own: both generations of
clients at once, in the same pytest run.

murr 0.1.9 has the distribution name of the pinned murr 0.3.1, so scripts/setup.sh installs
it into build/pyclients/murr-0.1.9 and each test runs it in a subprocess with PYTHONPATH set
there (the subprocess checks that it imported that copy). Its answers come back as JSON and
are checked here.

What the clients' own models make of the other generation's tables (asserted below, and
not something a server can change): murr 0.1.9 validates every table of a list with a model
that requires a top-level `key` and knows only the dtypes utf8 and float32, so while one
0.3-form table exists its list_tables raises pydantic's ValidationError ("key: Field
required"); its get_schema of its own tables works meanwhile, and each 0.2-form entry of the
list validates with its model. murr 0.3.1 forbids extra fields, so a 0.2-form table
(`key` at the top) makes its get_schema and list_tables raise the same way. Data flows
across generations: 0.1.9 reads and writes a 0.3-form table keyed by one utf8 column, and
0.3.1 reads 0.1.9's tables (sparse)."""
import json
import os
import subprocess
import sys
import textwrap

import pyarrow as pa
import pydantic
import pytest

from murr.client import ColumnSchema, DType, InvalidRequestError, TableSchema

from conftest import ROOT, ours_only
from v03_util import Murr031, scatter

pytestmark = ours_only  # the 0.2 protocol beside the 0.3 one: the Rust 0.3.1 has only the latter

V019 = ROOT / "build" / "pyclients" / "murr-0.1.9"

PRELUDE = '''
import json, sys
import pyarrow as pa
import murr
from murr.sync import Murr
from murr.schema import ColumnSchema, DType, TableSchema
assert murr.__file__.startswith(sys.argv[2]), "imported " + murr.__file__ + ", not murr 0.1.9"
db = Murr.connect(sys.argv[1])

def batch(b):
    return {"type": type(b).__name__, "rows": b.num_rows, "data": b.to_pydict(),
            "schema": [[f.name, str(f.type), f.nullable] for f in b.schema]}

def raised(fn):
    try:
        fn()
    except Exception as e:
        return {"raised": type(e).__name__, "message": str(e)}
    return {"raised": None}

def schema(s):
    return s.model_dump(mode="json")
'''

# the 0.2 tables, as murr 0.1.9's models write them
V2FEAT = {"key": "id", "columns": {"id": {"dtype": "utf8", "nullable": False},
                                   "score": {"dtype": "float32", "nullable": True},
                                   "label": {"dtype": "utf8", "nullable": True}}}
V2ONLY = {"key": "k", "columns": {"k": {"dtype": "utf8", "nullable": False},
                                  "x": {"dtype": "float32", "nullable": False}}}
# the 0.3 tables, made by murr 0.3.1
V3DOCS = TableSchema(columns={"id": ColumnSchema(dtype=DType.UTF8, nullable=False, key=True),
                              "score": ColumnSchema(dtype=DType.FLOAT32)})
V3PAIRS = TableSchema(columns={"user": ColumnSchema(dtype=DType.UTF8, nullable=False, key=True),
                               "item": ColumnSchema(dtype=DType.INT64, nullable=False, key=True),
                               "w": ColumnSchema(dtype=DType.FLOAT64)})


def v01(server, code):
    """Runs `code` with murr 0.1.9 (`db` = Murr.connect(server)); returns its `out`."""
    if not (V019 / "murr" / "__init__.py").is_file():
        pytest.skip(f"murr 0.1.9 is not installed in {V019}: run scripts/setup.sh")
    src = PRELUDE + textwrap.dedent(code) + "\nprint(json.dumps(out))\n"
    env = {**os.environ, "PYTHONPATH": str(V019)}
    r = subprocess.run([sys.executable, "-c", src, server.url, str(V019)], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, f"murr 0.1.9 script failed:\n{r.stderr[-4000:]}"
    return json.loads(r.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def mixed(murr_module):
    """Both generations' tables on one server: 0.3.1 creates and fills v3docs and v3pairs,
    0.1.9 creates v2feat and writes it (a three-batch table: one request per batch)."""
    db3 = Murr031(murr_module)
    db3.create_table("v3docs", V3DOCS)
    db3.write("v3docs", pa.table({"id": ["a", "b", "c"], "score": pa.array([0.5, 1.5, 2.5], pa.float32())}))
    db3.create_table("v3pairs", V3PAIRS)
    db3.write("v3pairs", pa.table({"user": ["u1", "u11"], "item": [12, 2], "w": [0.25, 0.75]}))
    out = v01(murr_module, '''
        s = TableSchema(key="id", columns={"id": ColumnSchema(dtype=DType.UTF8, nullable=False),
                                           "score": ColumnSchema(dtype=DType.FLOAT32),
                                           "label": ColumnSchema(dtype=DType.UTF8)})
        db.create_table("v2feat", s)
        sch = pa.schema([("id", pa.string()), ("score", pa.float32()), ("label", pa.string())])
        t = pa.Table.from_batches([
            pa.record_batch([pa.array(["a", "b"]), pa.array([1.0, 2.0], pa.float32()), pa.array(["x", None])], schema=sch),
            pa.record_batch([pa.array(["c"]), pa.array([None], pa.float32()), pa.array(["z"])], schema=sch),
            pa.record_batch([pa.array(["a"]), pa.array([9.5], pa.float32()), pa.array(["last"])], schema=sch)])
        assert len(t.to_batches()) == 3
        db.write("v2feat", t)
        out = {"schema": schema(s)}
    ''')
    assert out["schema"] == V2FEAT  # what 0.1.9 sends is the 0.2 form
    return murr_module


def test_v01_reads_dense_with_hits_misses_duplicates(mixed):
    out = v01(mixed, '''
        out = [batch(db.read("v2feat", ["b", "nope", "a", "b", "c"], ["score", "label"])),
               batch(db.read("v2feat", ["c", "a"], ["label"])),
               batch(db.read("v2feat", ["x", "y"], ["score"])),
               batch(db.read("v2feat", [], ["label", "score"]))]
    ''')
    assert out[0] == {"type": "RecordBatch", "rows": 5,
                      "schema": [["score", "float", True], ["label", "string", True]],
                      "data": {"score": [2.0, None, 9.5, 2.0, None], "label": [None, None, "last", None, "z"]}}
    assert out[1]["data"] == {"label": ["z", "last"]}
    assert out[2]["rows"] == 2 and out[2]["data"] == {"score": [None, None]}  # nothing found: dense nulls
    assert out[3]["rows"] == 0 and out[3]["schema"] == [["label", "string", True], ["score", "float", True]]


def test_v01_get_schema_and_errors(mixed):
    out = v01(mixed, '''
        s = TableSchema(key="id", columns={"id": ColumnSchema(dtype=DType.UTF8, nullable=False),
                                           "score": ColumnSchema(dtype=DType.FLOAT32)})
        out = {"schema": schema(db.get_schema("v2feat")),
               "exists": raised(lambda: db.create_table("v2feat", s)),
               "missing": raised(lambda: db.get_schema("nope")),
               "read_missing": raised(lambda: db.read("nope", ["a"], ["score"])),
               "write_missing": raised(lambda: db.write("nope", pa.table({"id": ["a"]}))),
               "unknown_column": raised(lambda: db.read("v2feat", ["a"], ["nope"])),
               "key_column": raised(lambda: db.read("v2feat", ["a"], ["id"])),
               "no_column": raised(lambda: db.write("v2feat", pa.table({"id": ["q"], "score": pa.array([1.0], pa.float32())})))}
    ''')
    assert out["schema"] == V2FEAT
    assert out["exists"] == {"raised": "ValueError", "message": "table already exists: v2feat"}
    for k in ("missing", "read_missing", "write_missing"):
        assert out[k] == {"raised": "FileNotFoundError", "message": "table not found: nope"}, k
    assert out["unknown_column"]["raised"] == "RuntimeError" and "nope" in out["unknown_column"]["message"]
    assert out["key_column"]["raised"] == "RuntimeError" and "'id'" in out["key_column"]["message"]
    assert out["no_column"]["raised"] == "RuntimeError" and "label" in out["no_column"]["message"]


def test_v01_list_tables_with_03_tables_present(mixed):
    """0.1.9 validates the whole list with its model: one 0.3-form table makes it raise (the
    client's limit, documented above); its own tables' entries and get_schema still validate."""
    out = v01(mixed, '''
        import httpx, pydantic
        raw = httpx.get(sys.argv[1] + "/api/v1/table").json()
        valid = {}
        for name, entry in raw.items():
            try:
                valid[name] = schema(TableSchema.model_validate(entry))
            except pydantic.ValidationError as e:
                valid[name] = None
        out = {"list": raised(db.list_tables), "entries": valid, "raw": raw,
               "get": schema(db.get_schema("v2feat"))}
    ''')
    assert out["list"]["raised"] == "ValidationError"
    assert "key" in out["list"]["message"] and "Field required" in out["list"]["message"], out["list"]
    assert out["entries"] == {"v2feat": V2FEAT, "v3docs": None, "v3pairs": None}
    assert out["raw"]["v2feat"] == V2FEAT  # a 0.2 table is answered in the 0.2 form ...
    assert out["raw"]["v3docs"] == V3DOCS.model_dump(mode="json")  # ... a 0.3 table in the 0.3 form
    assert out["raw"]["v3pairs"] == V3PAIRS.model_dump(mode="json")
    assert out["get"] == V2FEAT


def test_v03_client_on_v02_tables(mixed):
    """0.3.1 reads 0.1.9's table (its Arrow request is 0.3: sparse answer); its models refuse
    the 0.2 schema form (extra field `key`), in get_schema and in list_tables."""
    db3 = Murr031(mixed)
    got = db3.read("v2feat", {"id": ["b", "nope", "a", "c"]}, ["score", "label"])
    assert scatter(got, 4, ["score", "label"], [pa.float32(), pa.string()]) == [
        (2.0, None), None, (9.5, "last"), (None, "z")]
    for call in (lambda: db3.get_schema("v2feat"), db3.list_tables):
        with pytest.raises(pydantic.ValidationError, match="key"):
            call()
    assert db3.get_schema("v3docs") == V3DOCS


def test_v01_on_a_03_table(mixed):
    """0.1.9 on 0.3.1's tables: a one-utf8-key table takes its writes and its dense JSON
    reads; a compound-key table cannot be read with a list of strings (4xx naming the key)."""
    out = v01(mixed, '''
        db.write("v3docs", pa.table({"id": ["d", "a"], "score": pa.array([4.5, -0.5], pa.float32())}))
        out = {"read": batch(db.read("v3docs", ["a", "zz", "d", "b"], ["score"])),
               "pairs": raised(lambda: db.read("v3pairs", ["u1"], ["w"])),
               "get": raised(lambda: db.get_schema("v3docs"))}
    ''')
    assert out["read"]["data"] == {"score": [-0.5, None, 4.5, 1.5]} and out["read"]["rows"] == 4
    assert out["pairs"]["raised"] == "RuntimeError"
    assert "user" in out["pairs"]["message"] and "item" in out["pairs"]["message"], out["pairs"]
    assert out["get"]["raised"] == "ValidationError"  # no top-level `key`: its model refuses
    got = Murr031(mixed).read("v3docs", {"id": ["d", "a"]}, ["score"])
    assert scatter(got, 2, ["score"]) == [(4.5,), (-0.5,)]


def test_v01_list_tables_once_only_02_tables_remain(mixed):
    db3 = Murr031(mixed)
    db3.drop_table("v3docs")
    db3.drop_table("v3pairs")
    out = v01(mixed, '''
        s = TableSchema(key="k", columns={"k": ColumnSchema(dtype=DType.UTF8, nullable=False),
                                          "x": ColumnSchema(dtype=DType.FLOAT32, nullable=False)})
        db.create_table("v2only", s)
        out = {name: schema(s) for name, s in db.list_tables().items()}
    ''')
    assert out == {"v2feat": V2FEAT, "v2only": V2ONLY}
