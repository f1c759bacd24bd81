"""Access control (issue 14) against the real binary: bearer tokens with scopes on every HTTP
route (docs/openapi.yaml) and every Flight RPC, checked as one exhaustive table of
route x credential -> outcome; the Flight Handshake with basic credentials (pyarrow's
authenticate_basic_token); 401 challenges and JSON bodies; murr_auth_failures_total; SIGHUP
reload of the tokens file; startup errors naming file:line; the open-exposure warning.
One server with tokens serves the whole module (module-scoped fixture)."""
import json
import re
import signal
import time

import pyarrow as pa
import pyarrow.flight as fl
import pytest
import requests

from conftest import MurrServer, assert_no_sanitizer_report, ours_only

pytestmark = ours_only

TOKENS = {
    "read": "r" * 8 + "0123456789abcdef",
    "write": "w" * 8 + "0123456789abcdef",
    "admin": "a" * 8 + "0123456789abcdef",
    "all": "x" * 8 + "0123456789abcdef",
}
WRONG = "z" * 8 + "0123456789abcdef"
CREDS = ["none", "wrong", "read", "write", "admin", "all"]
SCOPES_OF = {"read": {"read"}, "write": {"write"}, "admin": {"admin"}, "all": {"read", "write", "admin"}}
TOKENS_FILE = """# murr tokens (test)
read {read}

write {write}
admin {admin}
read,write,admin {all}
""".format(**TOKENS)
SCHEMA = {"key": "id", "columns": {"id": {"dtype": "utf8", "nullable": False}, "score": {"dtype": "float32"}}}


def header(cred):
    if cred == "none":
        return {}
    return {"Authorization": "Bearer " + (WRONG if cred == "wrong" else TOKENS[cred])}


ADMIN = header("admin")
ALL = header("all")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("auth")
    tf = d / "tokens"
    tf.write_text(TOKENS_FILE)
    s = MurrServer(d / "data", extra_env={"MURR_SERVER_AUTH_TOKENS_FILE": str(tf)}).start()
    s.tokens_file = tf
    yield s
    assert s.stop() == 0
    assert_no_sanitizer_report(s)


_n = [0]


def fresh_table(url, rows=True):
    """A new table (made with the admin token) so each cell starts from the same state."""
    _n[0] += 1
    name = f"t{_n[0]}"
    assert requests.put(f"{url}/api/v1/table/{name}", json=SCHEMA, headers=ADMIN).status_code == 201
    if rows:
        r = requests.put(f"{url}/api/v1/table/{name}/write", json={"columns": {"id": ["a", "b"], "score": [1.0, 2.0]}},
                         headers=header("write"))
        assert r.status_code == 200
    return name


# (label, scope needed or None for open, status when allowed, request(url, table, headers))
HTTP_ROUTES = [
    ("GET /health", None, 200, lambda u, t, h: requests.get(f"{u}/health", headers=h)),
    ("GET /openapi.json", "read", 200, lambda u, t, h: requests.get(f"{u}/openapi.json", headers=h)),
    ("GET /metrics", "read", 200, lambda u, t, h: requests.get(f"{u}/metrics", headers=h)),
    ("GET /api/v1/table", "read", 200, lambda u, t, h: requests.get(f"{u}/api/v1/table", headers=h)),
    ("PUT /api/v1/table/{name}", "admin", 201,
     lambda u, t, h: requests.put(f"{u}/api/v1/table/{t}_new", json=SCHEMA, headers=h)),
    ("DELETE /api/v1/table/{name}", "admin", 204, lambda u, t, h: requests.delete(f"{u}/api/v1/table/{t}", headers=h)),
    ("GET /api/v1/table/{name}/schema", "read", 200,
     lambda u, t, h: requests.get(f"{u}/api/v1/table/{t}/schema", headers=h)),
    ("POST /api/v1/table/{name}/compact", "admin", 200,
     lambda u, t, h: requests.post(f"{u}/api/v1/table/{t}/compact", headers=h)),
    ("GET /api/v1/table/{name}/source", "read", 404,
     lambda u, t, h: requests.get(f"{u}/api/v1/table/{t}/source", headers=h)),
    # a body the source route rejects: passing access control shows as 400, not 401/403
    ("PUT /api/v1/table/{name}/source", "admin", 400,
     lambda u, t, h: requests.put(f"{u}/api/v1/table/{t}/source", json={"nope": 1}, headers=h)),
    ("DELETE /api/v1/table/{name}/source", "admin", 404,
     lambda u, t, h: requests.delete(f"{u}/api/v1/table/{t}/source", headers=h)),
    ("POST /api/v1/table/{name}/refresh", "admin", 404,
     lambda u, t, h: requests.post(f"{u}/api/v1/table/{t}/refresh", headers=h)),
    ("POST /api/v1/table/{name}/fetch", "read", 200,
     lambda u, t, h: requests.post(f"{u}/api/v1/table/{t}/fetch", json={"keys": ["a"], "columns": ["score"]},
                                   headers=h)),
    ("PUT /api/v1/table/{name}/write", "write", 200,
     lambda u, t, h: requests.put(f"{u}/api/v1/table/{t}/write", json={"columns": {"id": ["c"], "score": [3.0]}},
                                  headers=h)),
    ("PUT /api/v1/table/{name}/write?mode=replace", "admin", 200,
     lambda u, t, h: requests.put(f"{u}/api/v1/table/{t}/write?mode=replace",
                                  json={"columns": {"id": ["c"], "score": [3.0]}}, headers=h)),
    ("GET /api/v1/table/{name}/versions", "read", 200,
     lambda u, t, h: requests.get(f"{u}/api/v1/table/{t}/versions", headers=h)),
    ("POST /api/v1/table/{name}/rollback", "admin", 409,
     lambda u, t, h: requests.post(f"{u}/api/v1/table/{t}/rollback", headers=h)),
    # HEAD is GET without the body: the same scope, the same refusals (headers only)
    ("HEAD /health", None, 200, lambda u, t, h: requests.head(f"{u}/health", headers=h)),
    ("HEAD /api/v1/table", "read", 200, lambda u, t, h: requests.head(f"{u}/api/v1/table", headers=h)),
    ("HEAD /api/v1/table/{name}/schema", "read", 200,
     lambda u, t, h: requests.head(f"{u}/api/v1/table/{t}/schema", headers=h)),
    ("GET /no/such/route", "read", 404, lambda u, t, h: requests.get(f"{u}/no/such/route", headers=h)),
    ("POST /health (405)", None, 405, lambda u, t, h: requests.post(f"{u}/health", headers=h)),
]


def expected_http(scope, ok_status, cred):
    if scope is None:
        return ok_status
    if cred in ("none", "wrong"):
        return 401
    return ok_status if scope in SCOPES_OF[cred] else 403


def test_openapi_lists_every_route_the_table_covers(srv):
    doc = requests.get(srv.url + "/openapi.json", headers=header("read")).json()
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops if m in ("get", "put", "post", "delete")}
    covered = {(label.split()[0], label.split()[1].split("?")[0]) for label, *_ in HTTP_ROUTES}
    assert documented <= covered, documented - covered


@pytest.mark.parametrize("cred", CREDS)
@pytest.mark.parametrize("label,scope,ok_status,call", HTTP_ROUTES, ids=[r[0] for r in HTTP_ROUTES])
def test_http_route_x_credential(srv, label, scope, ok_status, call, cred):
    table = fresh_table(srv.url)
    r = call(srv.url, table, header(cred))
    want = expected_http(scope, ok_status, cred)
    assert r.status_code == want, (label, cred, r.status_code, r.text)
    if want in (401, 403):
        if label.startswith("HEAD"):
            assert r.content == b"" and r.headers["Content-Type"].startswith("application/json"), r.headers
        else:
            body = r.json()  # JSON error body, as everywhere
            assert set(body) == {"error"}
        chal = r.headers["WWW-Authenticate"]
        assert chal.startswith('Bearer realm="murr"')
        if want == 401 and cred == "wrong":
            assert 'error="invalid_token"' in chal
        if want == 403:
            assert f'error="insufficient_scope", scope="{scope}"' in chal
            assert label.startswith("HEAD") or scope in body["error"]
        # refused before anything ran: the table is as it was
        rows = requests.post(f"{srv.url}/api/v1/table/{table}/fetch", json={"keys": ["a", "b", "c"],
                             "columns": ["score"]}, headers=ALL).json()
        assert rows["columns"]["score"][:2] == [1.0, 2.0], rows


def test_bad_headers_are_401(srv):
    u = srv.url + "/api/v1/table"
    for value in ["Basic " + TOKENS["read"], "Bearer", "Bearer  ", "Bearer a!b" + "c" * 20, "bearer " + WRONG,
                  TOKENS["read"]]:
        r = requests.get(u, headers={"Authorization": value})
        assert r.status_code == 401, value
    assert requests.get(u, headers={"Authorization": "bEaReR " + TOKENS["read"]}).status_code == 200
    # a token is a whole word: a prefix or an extension of a real token is wrong
    assert requests.get(u, headers={"Authorization": "Bearer " + TOKENS["read"][:-1]}).status_code == 401
    assert requests.get(u, headers={"Authorization": "Bearer " + TOKENS["read"] + "0"}).status_code == 401


def test_curl_sees_the_challenge(srv):
    import subprocess
    out = subprocess.run(["curl", "-s", "-i", srv.url + "/api/v1/table"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("HTTP/1.1 401")
    assert re.search(r'(?im)^WWW-Authenticate: Bearer realm="murr"\r?$', out.stdout)
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--oauth2-bearer", TOKENS["read"],
                          srv.url + "/api/v1/table"], capture_output=True, text=True, check=True)
    assert out.stdout == "200"


def metric(url, listener, reason):
    text = requests.get(url + "/metrics", headers=ALL).text
    m = re.search(r'^murr_auth_failures_total\{listener="%s",reason="%s"\} (\d+)$' % (listener, reason), text, re.M)
    assert m, text[-2000:]
    return int(m.group(1))


def test_failures_are_counted_by_listener_and_reason(srv):
    before = {r: metric(srv.url, "http", r) for r in ("missing", "wrong_token", "insufficient_scope", "malformed")}
    requests.get(srv.url + "/api/v1/table")
    requests.get(srv.url + "/api/v1/table", headers=header("wrong"))
    requests.get(srv.url + "/api/v1/table", headers=header("wrong"))
    requests.get(srv.url + "/api/v1/table", headers=header("write"))
    requests.get(srv.url + "/api/v1/table", headers={"Authorization": "Basic x"})
    after = {r: metric(srv.url, "http", r) for r in before}
    assert {r: after[r] - before[r] for r in before} == {"missing": 1, "wrong_token": 2, "insufficient_scope": 1,
                                                         "malformed": 1}
    fb = metric(srv.url, "flight", "missing")
    c = fl.connect(f"grpc://127.0.0.1:{srv.grpc_port}")
    with pytest.raises(fl.FlightUnauthenticatedError):
        list(c.list_flights())
    assert metric(srv.url, "flight", "missing") == fb + 1


# ---- Flight ----------------------------------------------------------------------------------

def opts(cred):
    h = header(cred)
    return fl.FlightCallOptions(headers=[(b"authorization", h["Authorization"].encode())] if h else [])


def ticket(table):
    return fl.Ticket(json.dumps({"table": table, "keys": ["a"], "columns": ["score"]}).encode())


def put(client, table, o, cmd=None):
    data = pa.table({"id": pa.array(["c"], pa.string()), "score": pa.array([3.0], pa.float32())})
    d = fl.FlightDescriptor.for_command(json.dumps(cmd)) if cmd else fl.FlightDescriptor.for_path(table)
    w, _ = client.do_put(d, data.schema, options=o)
    w.write_table(data)
    w.close()


FLIGHT_RPCS = [
    ("ListFlights", "read", "ok", lambda c, t, o: list(c.list_flights(options=o))),
    ("GetFlightInfo", "read", "ok", lambda c, t, o: c.get_flight_info(fl.FlightDescriptor.for_path(t), options=o)),
    ("GetSchema", "read", "ok", lambda c, t, o: c.get_schema(fl.FlightDescriptor.for_path(t), options=o)),
    ("DoGet", "read", "ok", lambda c, t, o: c.do_get(ticket(t), options=o).read_all()),
    ("DoPut", "write", "ok", lambda c, t, o: put(c, t, o)),
    ("DoPut replace", "admin", "ok", lambda c, t, o: put(c, t, o, {"table": t, "mode": "replace"})),
    ("DoAction", "read", "unimplemented", lambda c, t, o: list(c.do_action(fl.Action("x", b""), options=o))),
    ("ListActions", "read", "unimplemented", lambda c, t, o: list(c.list_actions(options=o))),
    ("DoExchange", "read", "unimplemented",
     lambda c, t, o: c.do_exchange(fl.FlightDescriptor.for_path(t), options=o)[1].read_all()),
]


def outcome(fn):
    try:
        fn()
        return "ok"
    except fl.FlightUnauthenticatedError:
        return "unauthenticated"
    except fl.FlightUnauthorizedError:
        return "denied"
    except pa.ArrowNotImplementedError:
        return "unimplemented"
    except OSError as e:  # some pyarrow calls (get_schema) raise the status as a plain OSError
        m = re.match(r"Flight returned (unauthenticated|unauthorized) error", str(e))
        if not m:
            raise
        return "unauthenticated" if m.group(1) == "unauthenticated" else "denied"


def expected_flight(scope, ok, cred):
    if scope is None:
        return ok
    if cred in ("none", "wrong"):
        return "unauthenticated"
    return ok if scope in SCOPES_OF[cred] else "denied"


@pytest.fixture(scope="module")
def client(srv):
    c = fl.connect(f"grpc://127.0.0.1:{srv.grpc_port}")
    yield c
    c.close()


@pytest.mark.parametrize("cred", CREDS)
@pytest.mark.parametrize("name,scope,ok,call", FLIGHT_RPCS, ids=[r[0] for r in FLIGHT_RPCS])
def test_flight_rpc_x_credential(srv, client, name, scope, ok, call, cred):
    table = fresh_table(srv.url)
    got = outcome(lambda: call(client, table, opts(cred)))
    assert got == expected_flight(scope, ok, cred), (name, cred)
    if got in ("unauthenticated", "denied") and name.startswith("DoPut"):
        rows = requests.post(f"{srv.url}/api/v1/table/{table}/fetch", json={"keys": ["a", "c"], "columns": ["score"]},
                             headers=ALL).json()
        assert rows["columns"]["score"][0] == 1.0, rows  # nothing written, nothing replaced


@pytest.mark.parametrize("cred", CREDS)
def test_poll_flight_info_x_credential(srv, cred):
    """PollFlightInfo, which pyarrow's client cannot send: through grpcio with the same call
    header. murr does not serve it, but only a caller with read scope learns that."""
    import grpc

    import flight_wire as fw
    h = header(cred)
    md = [("authorization", h["Authorization"])] if h else []
    with grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}") as ch:
        stub = ch.unary_unary(fw.SVC + "PollFlightInfo", request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as ei:
            stub(fw.descriptor([fresh_table(srv.url)]), metadata=md, timeout=60)
    want = {"unauthenticated": grpc.StatusCode.UNAUTHENTICATED, "denied": grpc.StatusCode.PERMISSION_DENIED,
            "unimplemented": grpc.StatusCode.UNIMPLEMENTED}[expected_flight("read", "unimplemented", cred)]
    assert ei.value.code() == want, (cred, ei.value.code(), ei.value.details())


@pytest.mark.parametrize("cred", CREDS)
def test_flight_handshake_x_credential(client, cred):
    """Handshake needs no bearer token: it is how one is obtained, from basic credentials whose
    password is the token (the user name is ignored)."""
    password = {"none": "", "wrong": WRONG}[cred] if cred in ("none", "wrong") else TOKENS[cred]
    got = outcome(lambda: client.authenticate_basic_token("user", password))
    assert got == ("unauthenticated" if cred in ("none", "wrong") else "ok")


def test_authenticate_basic_token_returns_a_bearer_token_that_works(srv, client):
    for scope in ("read", "admin"):
        k, v = client.authenticate_basic_token("anyone", TOKENS[scope])
        assert k == b"authorization" and v == b"Bearer " + TOKENS[scope].encode()
        o = fl.FlightCallOptions(headers=[(k, v)])
        got = outcome(lambda: list(client.list_flights(options=o)))
        assert got == ("ok" if scope == "read" else "denied")


class _PayloadAuth(fl.ClientAuthHandler):
    """The older pyarrow handshake: credentials in HandshakeRequest payloads, no header."""

    def authenticate(self, outgoing, incoming):
        outgoing.write(TOKENS["read"].encode())
        incoming.read()

    def get_token(self):
        return b""


def test_handshake_refuses_wrong_or_missing_credentials(client):
    with pytest.raises(fl.FlightUnauthenticatedError, match="Handshake needs credentials: the call header"):
        client.authenticate(_PayloadAuth())
    with pytest.raises(fl.FlightUnauthenticatedError, match="not one of server.auth.tokens_file"):
        client.authenticate_basic_token("u", WRONG)
    with pytest.raises(fl.FlightUnauthenticatedError):
        client.authenticate_basic_token("u", "short")


# ---- reload, startup, exposure -------------------------------------------------------------

def test_sighup_reloads_the_tokens_file(srv):
    new = "n" * 8 + "0123456789abcdef"
    u = srv.url + "/api/v1/table"
    assert requests.get(u, headers={"Authorization": "Bearer " + new}).status_code == 401
    srv.tokens_file.write_text(TOKENS_FILE + f"read {new}\n")
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while requests.get(u, headers={"Authorization": "Bearer " + new}).status_code != 200:
        assert time.time() < deadline, srv.logs()[-2000:]
        time.sleep(0.05)
    # a broken file keeps the tokens in force and says why
    srv.tokens_file.write_text("reed " + new + "\n")
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while "keeping the current tokens" not in srv.logs():
        assert time.time() < deadline
        time.sleep(0.05)
    assert f"{srv.tokens_file}:1: unknown scope 'reed'" in srv.logs()
    assert requests.get(u, headers={"Authorization": "Bearer " + new}).status_code == 200
    srv.tokens_file.write_text(TOKENS_FILE)
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while requests.get(u, headers={"Authorization": "Bearer " + new}).status_code != 401:
        assert time.time() < deadline
        time.sleep(0.05)


@pytest.mark.parametrize("text,message", [
    ("read,wrte " + TOKENS["read"] + "\n", ":1: unknown scope 'wrte'"),
    ("# c\n\nread " + TOKENS["read"] + "\nwrite " + TOKENS["read"] + "\n", ":4: duplicate token (first at line 3)"),
    ("read short\n", ":1: the token is 5 characters long"),
    ("# only a comment\n\n", "no tokens"),
    ("read\n", ":1: expected '<scopes> <token>'"),
])
def test_a_bad_tokens_file_stops_the_start_naming_file_and_line(tmp_path, text, message):
    tf = tmp_path / "tokens"
    tf.write_text(text)
    s = MurrServer(tmp_path / "data", extra_env={"MURR_SERVER_AUTH_TOKENS_FILE": str(tf)})
    with pytest.raises(RuntimeError) as ei:
        s.start()
    assert "exited with 2" in str(ei.value)
    assert str(tf) + message in str(ei.value) if message.startswith(":") else message in str(ei.value)


def test_open_exposure_warns_once_and_loopback_does_not(tmp_path):
    s = MurrServer(tmp_path / "d1", extra_env={"MURR_SERVER_HTTP_HOST": "0.0.0.0"}).start()
    try:
        log = s.logs()
    finally:
        s.stop()
    warn = [l for l in log.splitlines() if "no access control" in l]
    assert len(warn) == 1, log
    assert "HTTP on 0.0.0.0:0" in warn[0] and "Flight" not in warn[0]
    assert "server.auth.tokens_file" in warn[0] and "MURR_SERVER_AUTH_TOKENS_FILE" in warn[0]
    s = MurrServer(tmp_path / "d2").start()
    try:
        assert "no access control" not in s.logs()
        # no tokens: as before issue 14, everything is open
        assert requests.get(s.url + "/api/v1/table").status_code == 200
        c = fl.connect(f"grpc://127.0.0.1:{s.grpc_port}")
        assert list(c.list_flights()) == []
        assert c.authenticate_basic_token("u", "p") == (b"", b"")
    finally:
        s.stop()


def test_print_config_shows_the_keys_and_no_secret(tmp_path):
    import subprocess
    from conftest import MURR_BIN
    tf = tmp_path / "tokens"
    tf.write_text(TOKENS_FILE)
    env = {"MURR_SERVER_AUTH_TOKENS_FILE": str(tf), "MURR_STORAGE_PATH": str(tmp_path / "d"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([str(MURR_BIN), "--print-config"], env=env, capture_output=True, text=True, check=True).stdout
    assert f'tokens_file: "{tf}"' in out
    assert 'cert_file: ""' in out and 'client_ca_file: ""' in out
    for t in TOKENS.values():
        assert t not in out


def test_two_authorization_headers_are_refused(srv):
    """Which of two tokens counts is not guessed: 401 even when both are valid."""
    import socket
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    t = TOKENS["read"]
    s.sendall(f"GET /api/v1/table HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\n"
              f"Authorization: Bearer {t}\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    assert data.startswith(b"HTTP/1.1 401 "), data[:200]
    assert b'error=\\"invalid_request\\"' in data or b'error="invalid_request"' in data
    c = fl.connect(f"grpc://127.0.0.1:{srv.grpc_port}")
    o = fl.FlightCallOptions(headers=[(b"authorization", b"Bearer " + t.encode())] * 2)
    with pytest.raises(fl.FlightUnauthenticatedError, match="not one 'Bearer <token>'"):
        list(c.list_flights(options=o))
