"""Tokens and TLS in the sync clients, against the bundled server started once for the session
with server.auth.tokens_file and server.tls.cert_file/key_file (a PKI made at test time by the
openssl CLI through tests/support/mkcerts.sh). Every client call, over HTTPS and over
Flight (grpc+tls, with and without http_endpoint), with a token of every scope it needs, with
no token and with a read-only token: one table of expected outcomes (decision 0010's scopes:
read = list/schema/fetch/versions, write = write, admin = create/drop/compact/replace/rollback).
"""
from __future__ import annotations

import re
import ssl
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

import pymurr
from conftest import assert_clean_stop

MKCERTS = Path(__file__).resolve().parents[2] / "tests" / "support" / "mkcerts.sh"
TOKENS = {"read": "r" * 8 + "0123456789abcdef", "write": "w" * 8 + "0123456789abcdef",
          "admin": "a" * 8 + "0123456789abcdef", "all": "x" * 8 + "0123456789abcdef"}
SCHEMA = {"columns": {"id": {"dtype": "utf8", "nullable": False, "key": True}, "v": {"dtype": "int64"}}}


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    subprocess.run(["bash", str(MKCERTS), str(d)], check=True)
    return d


@pytest.fixture(scope="session")
def secure(tmp_path_factory, pki):
    d = tmp_path_factory.mktemp("secure")
    tokens = d / "tokens"
    tokens.write_text("read %(read)s\nwrite %(write)s\nadmin %(admin)s\nread,write,admin %(all)s\n" % TOKENS)
    cfg = {"storage.sync_writes": False, "storage.path": str(d / "data"), "server.auth.tokens_file": str(tokens),
           "server.tls.cert_file": str(pki / "server.pem"), "server.tls.key_file": str(pki / "server.key")}
    with pymurr.serve(cfg, ca_file=str(pki / "ca.pem")) as s:
        yield s
    assert_clean_stop(s)


def test_serve_with_tls_exposes_tls_endpoints(secure):
    assert secure.tls
    assert secure.endpoint.startswith("https://127.0.0.1:")
    assert secure.flight_endpoint.startswith("grpc+tls://127.0.0.1:")
    with secure.connect("http", token=TOKENS["read"]) as c:
        assert c.health()


def _table(secure):
    """A fresh table with one row, made with the all-scopes token over HTTPS."""
    name = "t_" + uuid.uuid4().hex[:12]
    with secure.connect("http", token=TOKENS["all"]) as c:
        c.create_table(name, SCHEMA)
        c.write(name, pa.table({"id": ["a"], "v": [1]}))
    return name


# call name -> (scope it needs, the call on client c and a fresh table t, its result check)
CALLS = {
    "list_tables": ("read", lambda c, t: c.list_tables(), lambda r, t: t in r and r[t].key_columns == ["id"]),
    "get_schema": ("read", lambda c, t: c.get_schema(t), lambda r, t: r.columns["v"].dtype == pymurr.DType.INT64),
    "get_schema_json": ("read", lambda c, t: c.get_schema_json(t), lambda r, t: '"v":{"dtype":"int64"' in r),
    "read": ("read", lambda c, t: c.read(t, ["a", "b"], ["v"]), lambda r, t: r.column("v").to_pylist() == [1]),
    "read_numpy": ("read", lambda c, t: c.read_numpy(t, {"id": ["b", "a"]}, ["v"]),
                   lambda r, t: r["_idx"].tolist() == [1] and r["v"].tolist() == [1]),
    "versions": ("read", lambda c, t: c.versions(t), lambda r, t: [v["serving"] for v in r] == [True]),
    "write": ("write", lambda c, t: c.write(t, pa.table({"id": ["b"], "v": [2]})), None),
    "create_table": ("admin", lambda c, t: c.create_table(t + "_new", SCHEMA), None),
    "drop_table": ("admin", lambda c, t: c.drop_table(t), None),
    "compact": ("admin", lambda c, t: c.compact(t), None),
    "replace": ("admin", lambda c, t: c.replace(t, pa.table({"id": ["c"], "v": [3]})), None),
    "rollback": ("admin", lambda c, t: c.rollback(t), None),
}
# what the call did, seen through the all-scopes client (None: nothing to check beyond no error)
EFFECTS = {
    "write": lambda c, t: c.read(t, ["b"], ["v"]).column("v").to_pylist() == [2],
    "create_table": lambda c, t: (t + "_new") in c.list_tables(),
    "drop_table": lambda c, t: t not in c.list_tables(),
    "replace": lambda c, t: c.read(t, ["a", "c"], ["v"]).column("v").to_pylist() == [3],
    "compact": lambda c, t: c.read(t, ["a"], ["v"]).column("v").to_pylist() == [1],
}
# Flight-only clients have no HTTP for these: they raise before sending anything
# (test_flight_only_without_http_names_http_endpoint)
NOT_FLIGHT = {"versions", "create_table", "drop_table", "compact", "rollback"}
CLIENTS = ["https", "flight+tls", "flight+tls+https"]


def pairs(calls):
    """(call, client kind) for every kind that has the call."""
    return [(c, k) for c in calls for k in CLIENTS if not (k == "flight+tls" and c in NOT_FLIGHT)]


def _client(secure, kind, token):
    if kind == "https":
        return pymurr.connect(secure.endpoint, token=token, ca_file=secure.ca_file)
    http = secure.endpoint if kind == "flight+tls+https" else None
    return pymurr.connect(secure.flight_endpoint, token=token, ca_file=secure.ca_file, http_endpoint=http)


def _prepare(secure, name, table):
    if name == "rollback":  # needs a kept version to go back to
        with secure.connect("http", token=TOKENS["all"]) as c:
            c.replace(table, pa.table({"id": ["z"], "v": [9]}))


@pytest.mark.parametrize("call,kind", pairs(CALLS))
def test_call_with_a_token_of_its_scope(secure, kind, call):
    scope, fn, check = CALLS[call]
    table = _table(secure)
    _prepare(secure, call, table)
    with _client(secure, kind, TOKENS[scope]) as c:
        result = fn(c, table)
    if check is not None:
        assert check(result, table), (call, kind, result)
    if call in EFFECTS:
        with secure.connect("http", token=TOKENS["all"]) as c:
            assert EFFECTS[call](c, table), (call, kind)
    if call == "rollback":
        assert result >= 1


@pytest.mark.parametrize("call,kind", pairs(CALLS))
def test_call_without_a_token_is_an_authentication_error(secure, kind, call):
    table = _table(secure)
    with _client(secure, kind, None) as c:
        with pytest.raises(pymurr.AuthenticationError) as e:
            CALLS[call][1](c, table)
    assert e.value.status_code == 401
    assert isinstance(e.value, pymurr.InvalidRequestError)  # what the PyPI client raises for a 401
    with secure.connect("http", token=TOKENS["all"]) as c:  # nothing happened
        assert c.read(table, ["a", "b", "c"], ["v"]).column("v").to_pylist() == [1]
        assert (table + "_new") not in c.list_tables()


@pytest.mark.parametrize("call,kind", pairs(c for c, (scope, _, _) in CALLS.items() if scope != "read"))
def test_read_only_token_on_a_write_is_permission_denied(secure, kind, call):
    table = _table(secure)
    _prepare(secure, call, table)
    with _client(secure, kind, TOKENS["read"]) as c:
        with pytest.raises(pymurr.PermissionDeniedError) as e:
            CALLS[call][1](c, table)
    assert e.value.status_code == 403 and isinstance(e.value, pymurr.InvalidRequestError)
    if kind == "https":  # the HTTP body names the scope the call needed (RFC 6750 insufficient_scope)
        assert CALLS[call][0] in e.value.message
    with secure.connect("http", token=TOKENS["all"]) as c:
        # unchanged: {"a": 1}, or {"z": 9} after the replace _prepare made for rollback
        assert c.read(table, ["a", "z"], ["v"]).column("v").to_pylist() == [1 if call != "rollback" else 9]
        assert table in c.list_tables()


def test_wrong_token_is_an_authentication_error(secure):
    wrong = "q" * 8 + "0123456789abcdef"
    table = _table(secure)
    for kind in CLIENTS:
        with _client(secure, kind, wrong) as c:
            with pytest.raises(pymurr.AuthenticationError):
                c.read(table, ["a"], ["v"])


def test_flight_only_without_http_names_http_endpoint(secure):
    table = _table(secure)
    with _client(secure, "flight+tls", TOKENS["all"]) as c:
        for call in sorted(NOT_FLIGHT):
            with pytest.raises(pymurr.InvalidRequestError) as e:
                CALLS[call][1](c, table)
            assert call in e.value.message and "http_endpoint=" in e.value.message and e.value.status_code == 400


def test_tls_without_the_ca_is_refused(secure):
    # the test CA is not among the system's roots: verification fails on both protocols
    with pymurr.connect(secure.endpoint, token=TOKENS["all"]) as c:
        with pytest.raises(pymurr.ServerError) as e:
            c.list_tables()
    assert e.value.status_code == 503 and "CERTIFICATE_VERIFY_FAILED" in e.value.message
    with pymurr.connect(secure.flight_endpoint, token=TOKENS["all"]) as c:
        with pytest.raises(pymurr.ServerError) as e:
            c.list_tables()
    assert e.value.status_code == 503


def test_ca_file_on_a_cleartext_endpoint_is_refused(pki):
    with pytest.raises(ValueError, match="https://"):
        pymurr.connect("http://127.0.0.1:1", ca_file=str(pki / "ca.pem"))
    with pytest.raises(ValueError, match="grpc\\+tls://"):
        pymurr.connect("grpc://127.0.0.1:1", ca_file=str(pki / "ca.pem"))


def test_https_client_keeps_one_tls_connection(secure):
    """Connection reuse over TLS: the handshake is paid once (murr_http_connections_total)."""
    table = _table(secure)
    ctx = ssl.create_default_context(cafile=secure.ca_file)

    def connections():
        req = urllib.request.Request(secure.endpoint + "/metrics", headers={"Authorization": "Bearer " + TOKENS["read"]})
        text = urllib.request.urlopen(req, context=ctx).read().decode()
        return int(re.search(r"^murr_http_connections_total (\d+)", text, re.M).group(1))

    before = connections()
    with secure.connect("http", token=TOKENS["all"]) as c:
        for i in range(20):
            c.write(table, pa.table({"id": ["k%d" % i], "v": [i]}))
            assert c.read(table, ["k%d" % i], ["v"]).column("v").to_pylist() == [i]
    assert connections() - before == 2, "40 calls over one TLS connection (+1: the /metrics request)"


@pytest.fixture(scope="session")
def mutual(tmp_path_factory, pki):
    """A second server for the session: TLS with client certificates (server.tls.client_ca_file)."""
    d = tmp_path_factory.mktemp("mutual")
    cfg = {"storage.sync_writes": False, "storage.path": str(d / "data"), "server.tls.cert_file": str(pki / "server.pem"),
           "server.tls.key_file": str(pki / "server.key"), "server.tls.client_ca_file": str(pki / "ca.pem")}
    with pymurr.serve(cfg, ca_file=str(pki / "ca.pem"), cert_file=str(pki / "client.pem"),
                      key_file=str(pki / "client.key")) as s:
        yield s
    assert_clean_stop(s)


def test_client_certificates(mutual, pki):
    for protocol in ("http", "flight"):
        with mutual.connect(protocol) as c:  # presents serve()'s cert_file/key_file
            c.create_table("m_" + protocol, SCHEMA)
            c.write("m_" + protocol, pa.table({"id": ["a"], "v": [5]}))
            assert c.read("m_" + protocol, ["a"], ["v"]).column("v").to_pylist() == [5]
    ca = str(pki / "ca.pem")
    for endpoint in (mutual.endpoint, mutual.flight_endpoint):
        with pymurr.connect(endpoint, ca_file=ca, cert_file=str(pki / "client.pem"), key_file=str(pki / "client.key")) as c:
            assert set(c.list_tables()) == {"m_http", "m_flight"}
        for cert in ({}, {"cert_file": str(pki / "rogue.pem"), "key_file": str(pki / "rogue.key")}):  # none, another CA's
            with pymurr.connect(endpoint, ca_file=ca, **cert) as c:
                with pytest.raises(pymurr.ServerError) as e:
                    c.list_tables()
            assert e.value.status_code == 503, endpoint
            if endpoint.startswith("https"):  # the reason varies (the alert, or EOF when the alert is lost)
                assert "TLS with 127.0.0.1:%s failed" % endpoint.rsplit(":", 1)[1] in e.value.message


def test_serve_with_client_ca_needs_a_client_certificate(pki, tmp_path):
    with pytest.raises(ValueError, match="cert_file="):
        pymurr.serve({"server.tls.cert_file": str(pki / "server.pem"), "server.tls.key_file": str(pki / "server.key"),
                      "server.tls.client_ca_file": str(pki / "ca.pem")}, ca_file=str(pki / "ca.pem"))
