"""pymurr.connect("grpc://...") without http_endpoint: list_tables, get_schema and
get_schema_json from ListFlights / GetFlightInfo (the schema JSON a murr FlightInfo carries
in app_metadata), checked against what the same server answers over HTTP (whose JSON is the
engine's own), and reads by a plain list of keys on a form-3 table, whose key columns the
Arrow schema does not name; a Flight server without that metadata (pyarrow's own) gets a
clear error."""
from __future__ import annotations

import pyarrow as pa
import pytest

import pymurr
from pymurr import DType

EVERY_DTYPE = {c.value.replace("<", "_").replace(">", ""): {"dtype": c.value} for c in DType}
EVERY_DTYPE["list_float32"]["dim"] = 8  # one fixed-size list; list<float16>, list<int8> variable


@pytest.fixture
def both(server):
    with server.connect("http") as http, pymurr.connect(server.flight_endpoint) as flight:
        yield http, flight


SCHEMAS = {
    "form2": {"key": "id", "columns": {"id": {"dtype": "utf8", "nullable": False},
                                       "v": {"dtype": "float32", "strict": False}, **EVERY_DTYPE}},
    "form3": {"columns": {"n": {"dtype": "int32", "nullable": False},  # a key candidate that is not the key
                          "id": {"dtype": "uint64", "nullable": False, "key": True}, **EVERY_DTYPE}},
    "compound": {"columns": {"u": {"dtype": "int64", "nullable": False, "key": True},
                             "x": {"dtype": "int8", "nullable": False},
                             "s": {"dtype": "utf8", "nullable": False, "key": True},
                             "f": {"dtype": "float64", "strict": False}}},
}


@pytest.mark.parametrize("form", list(SCHEMAS))
def test_schema_calls_match_http(both, name, form):
    http, flight = both
    http.create_table(name, SCHEMAS[form])
    want = http.get_schema(name)
    got = flight.get_schema(name)
    assert got == want  # strict flags included
    assert got.key_columns == want.key_columns == {"form2": ["id"], "form3": ["id"], "compound": ["u", "s"]}[form]
    assert list(got.columns) == list(want.columns)  # declaration order
    if form != "compound":
        assert got.columns["list_float32"].dim == 8 and got.columns["list_int8"].dim is None
        assert got.columns["list_float16"].dtype == DType.LIST_FLOAT16
    assert flight.get_schema_json(name) == http.get_schema_json(name)  # the same text, in the creation form
    assert ('"key":"id"' in flight.get_schema_json(name)) == (form == "form2")
    listed = flight.list_tables()
    assert listed[name] == got
    assert http.list_tables() == listed


def test_read_by_a_list_of_keys_on_form3_tables(both, name):
    http, flight = both
    http.create_table(name, {"columns": {k: v for k, v in SCHEMAS["form3"]["columns"].items() if k in ("n", "id", "int8")}})
    http.write(name, pa.table({"n": pa.array([1, 2], pa.int32()), "id": pa.array([7, 2 ** 64 - 1], pa.uint64()),
                               "int8": pa.array([-1, 5], pa.int8())}))
    got = flight.read(name, pa.array([2 ** 64 - 1, 3, 7], pa.uint64()), ["int8", "n"]).sort_by("_idx")
    assert got.column("_idx").to_pylist() == [0, 2]
    assert got.column("int8").to_pylist() == [5, -1] and got.column("n").to_pylist() == [2, 1]
    assert flight.read(name, [7], ["n"]).column("n").to_pylist() == [1]  # plain ints: the JSON ticket, typed by the server
    http.create_table(name + "c", SCHEMAS["compound"])
    http.write(name + "c", pa.table({"u": [1, 1], "x": pa.array([0, 0], pa.int8()), "s": ["a", "b"], "f": [0.5, 1.5]}))
    with pytest.raises(TypeError, match="single key column"):  # a compound key takes {column: values}
        flight.read(name + "c", [1], ["f"])
    got = flight.read(name + "c", {"u": [1, 1], "s": ["b", "c"]}, ["f"])
    assert got.column("_idx").to_pylist() == [0] and got.column("f").to_pylist() == [1.5]


def test_errors_over_flight_alone(both, name):
    http, flight = both
    with pytest.raises(pymurr.TableNotFoundError) as e:
        flight.get_schema(name)
    assert e.value.status_code == 404 and name in e.value.message
    with pytest.raises(pymurr.InvalidRequestError) as e:
        flight.create_table(name, SCHEMAS["form3"])
    assert "create_table" in e.value.message and "http_endpoint=" in e.value.message
    # a key that is the last 3 of 8 non-nullable integer columns: named by the schema JSON
    cols = {"c%d" % i: {"dtype": "int16", "nullable": False, "key": i >= 5} for i in range(8)}
    http.create_table(name, {"columns": cols})
    assert flight.get_schema(name).key_columns == http.get_schema(name).key_columns == ["c5", "c6", "c7"]


def test_the_schema_json_is_read_from_the_flightinfo_bytes_too(server, name):
    """Where pyarrow has no FlightInfo.app_metadata (before 15), the field is read from the
    protobuf bytes: both ways give the same text."""
    import pyarrow.flight as fl

    from pymurr import _flight_schema
    with server.connect("http") as http:
        http.create_table(name, SCHEMAS["compound"])
        want = http.get_schema_json(name)
    c = fl.connect(server.flight_endpoint)
    info = c.get_flight_info(fl.FlightDescriptor.for_path(name))
    c.close()
    assert _flight_schema._field(info.serialize(), 7).decode() == want
    if hasattr(info, "app_metadata"):
        assert bytes(info.app_metadata).decode() == want
    assert _flight_schema.schema_json(info) == want


def test_a_flight_server_without_the_schema_json_is_a_clear_error():
    """pyarrow's own Flight server (another implementation, as murr 0.3.1 answers): FlightInfo
    without app_metadata; the schema calls say to pass http_endpoint=, reads with explicit
    key columns still work."""
    import pyarrow.flight as fl

    table = pa.table({"id": ["a", "b"], "x": pa.array([1.5, 2.5], pa.float32())})

    class Plain(fl.FlightServerBase):
        def _info(self):
            return fl.FlightInfo(table.schema, fl.FlightDescriptor.for_path("t"), [], -1, -1)

        def list_flights(self, context, criteria):
            yield self._info()

        def get_flight_info(self, context, descriptor):
            return self._info()

    srv = Plain("grpc://127.0.0.1:0")
    try:
        with pymurr.connect("grpc://127.0.0.1:%d" % srv.port) as flight:
            for call in (lambda: flight.get_schema("t"), flight.list_tables, lambda: flight.get_schema_json("t")):
                with pytest.raises(pymurr.InvalidRequestError) as e:
                    call()
                assert "'t'" in e.value.message and "app_metadata" in e.value.message
                assert "http_endpoint=" in e.value.message
    finally:
        srv.shutdown()
