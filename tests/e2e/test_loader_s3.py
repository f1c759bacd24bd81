"""Pull-based loading from an S3 prefix, against moto's S3 server over HTTP on loopback
(conftest.py: `s3_server`, `s3_auth_server`): the cases of test_loader.py with partitions
of several pyarrow-written files of two row groups each, uploaded with boto3 (_SUCCESS
last). Newest complete partition served (and only it downloaded), a new one picked up
within a poll interval, readers across swaps see all-old or all-new answers, failures
(unreachable endpoint, corrupt, truncated, schema mismatch, files vanishing mid-load, a
transient 503) keep the served version and show in GET .../source and /metrics, restarts
serve from local disk without downloading, two servers converge, credentials from the
configuration and from AWS_* variables are checked by a signature-verifying server.

Files vanishing mid-load are made deterministic with a small forwarding proxy in front of
moto that holds the GET of one file until the test has deleted the later ones."""
import http.client
import http.server
import re
import socket
import threading
import time
import uuid

import boto3
import pytest
import requests

from loader_util import (N, assert_first_load, failing, fetch, readers_see_one_version, server,  # noqa: F401
                         start, served, status, wait_for, write_partition)

PREFIX = "features/feat"


def client(endpoint, key="test", secret="test"):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret)


@pytest.fixture
def bucket(s3_server):
    """A fresh bucket on the unauthenticated moto: (boto3 client, bucket name)."""
    s3 = client(s3_server.endpoint)
    name = f"murr-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return s3, name


def upload_partition(s3, bucket, tmp_path, name, value, prefix=PREFIX, success=True, damage=None, **kw):
    """Writes the partition with write_partition into a staging directory, optionally damages
    one file (damage(dir)), uploads every .parquet file, then _SUCCESS last. Returns the
    {key: size} of the uploaded .parquet objects."""
    d = write_partition(tmp_path / "stage" / uuid.uuid4().hex[:8], name, value, success=False, **kw)
    if damage:
        damage(d)
    sizes = {}
    for f in sorted(d.glob("*.parquet")):
        key = f"{prefix}/{name}/{f.name}"
        s3.put_object(Bucket=bucket, Key=key, Body=f.read_bytes())
        sizes[key] = f.stat().st_size
    if success:
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{name}/_SUCCESS", Body=b"")
    return sizes


def s3_config(tmp_path, endpoint, bucket, name="feat", poll="300ms", prefix=PREFIX, creds=True, s3_extra="",
              file=None):
    p = tmp_path / (file or f"murr-{name}.yaml")
    keys = "access_key_id: test, secret_access_key: test, " if creds is True else (creds or "")
    p.write_text(f"""
tables:
  {name}:
    source:
      s3: {{bucket: {bucket}, prefix: "{prefix}", endpoint: "{endpoint}", region: us-east-1, {keys}{s3_extra}}}
    poll_interval: {poll}
    key: [user_id]
""")
    return p


def metric(url, name, table="feat"):
    m = re.search(rf'^{name}{{table="{table}"}} (\S+)$', requests.get(f"{url}/metrics").text, re.M)
    assert m, f"{name} missing from /metrics"
    return float(m.group(1))


def object_gets(log_text, bucket):
    """(key, status) of the object GETs in moto's request log (werkzeug lines, which
    colour some of them with ANSI escapes) for bucket."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", log_text)
    return re.findall(rf'"GET /{bucket}/([^ ?]+) HTTP/1\.1" (\d+)', plain)


def versions(url, name="feat"):
    r = requests.get(f"{url}/api/v1/table/{name}/versions")
    assert r.status_code == 200, r.text
    return [(v["id"], v["source"], v["serving"]) for v in r.json()["versions"]]


def closed_port():
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


class Proxy:
    """A forwarding HTTP/1.1 proxy in front of moto on loopback. hook(method, path) may
    return (status, body) to answer instead of forwarding; gate_path, when set, holds the
    first request whose path ends with it (gate_hit is set) until release is set."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.hook = None
        self.gate_path = None
        self.gate_hit, self.release = threading.Event(), threading.Event()
        self.requests = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                proxy.requests.append((self.command, self.path))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.gate_path and self.path.split("?")[0].endswith(proxy.gate_path) and not proxy.gate_hit.is_set():
                    proxy.gate_hit.set()
                    proxy.release.wait(20)
                canned = proxy.hook(self.command, self.path) if proxy.hook else None
                if canned:
                    st, data = canned
                    self.send_response(st)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                c = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=20)
                c.request(self.command, self.path, body=body or None, headers=dict(self.headers.items()))
                r = c.getresponse()
                data = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                c.close()

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _any

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def proxy(s3_server):
    p = Proxy(s3_server.port)
    yield p
    p.close()


# ---------------------------------------------------------------------------------------------


def test_newest_complete_partition_served_then_new_one_swapped_in(tmp_path, server, s3_server, bucket):
    s3, b = bucket
    upload_partition(s3, b, tmp_path, "2026-01-18", 1.0, files=4)
    sizes = upload_partition(s3, b, tmp_path, "2026-01-19", 2.0, files=4)
    upload_partition(s3, b, tmp_path, "2026-01-20", 9.0, files=4, success=False)  # incomplete: ignored
    s3.put_object(Bucket=b, Key="features/feat2/2026-12-31/_SUCCESS", Body=b"")  # beside the prefix
    log0 = len(s3_server.logs())
    s = server(s3_config(tmp_path, s3_server.endpoint, b))
    st = assert_first_load(s.url, "2026-01-19", 2.0, {"kind": "s3", "uri": f"s3://{b}/{PREFIX}/"})
    assert st["bytes_loaded"] == sum(sizes.values())
    # only the served partition's objects were downloaded, each with ranged GETs (206)
    gets = object_gets(s3_server.logs()[log0:], b)
    assert {k for k, _ in gets} == set(sizes), gets
    assert {code for _, code in gets} == {"206"}, gets
    # _SUCCESS of 2026-01-20 appears: served within one poll interval (300 ms) plus the load
    s3.put_object(Bucket=b, Key=f"{PREFIX}/2026-01-20/_SUCCESS", Body=b"")
    t0 = time.time()
    wait_for(lambda: served(s.url) == "2026-01-20", what="2026-01-20 served", every=0.02)
    took = time.time() - t0
    assert took < 0.3 + 2.0, took
    assert fetch(s.url, ["u5", f"u{N - 1}"]).json()["columns"]["f2"] == [9.0, 9.0]
    srcs = [v[1] for v in versions(s.url)]
    assert f"s3://{b}/{PREFIX}/2026-01-20" in srcs and f"s3://{b}/{PREFIX}/2026-01-19" in srcs
    assert [v[1] for v in versions(s.url) if v[2]] == [f"s3://{b}/{PREFIX}/2026-01-20"]
    assert metric(s.url, "murr_source_loads_total") == 2
    assert metric(s.url, "murr_source_loaded_rows_total") == 2 * N
    assert metric(s.url, "murr_source_up") == 1
    assert metric(s.url, "murr_source_failures_total") == 0


def test_readers_across_swaps_see_all_old_or_all_new(tmp_path, server, s3_server, bucket):
    s3, b = bucket
    upload_partition(s3, b, tmp_path, "dt=2026-01-01", 1.0)
    s = server(s3_config(tmp_path, s3_server.endpoint, b, poll="100ms"))
    wait_for(lambda: served(s.url) == "dt=2026-01-01")

    def swaps():
        for day in range(2, 6):
            upload_partition(s3, b, tmp_path, f"dt=2026-01-0{day}", float(day))
            wait_for(lambda d=day: served(s.url) == f"dt=2026-01-0{d}", what=f"day {day}")

    seen = readers_see_one_version(s.url, swaps)
    assert len(seen) >= 3, seen
    assert status(s.url)["loads"] == 5


def _corrupt(d):
    f = d / "part-1.parquet"
    data = bytearray(f.read_bytes())
    for i in range(100, 400):
        data[i] ^= 0x5A
    f.write_bytes(bytes(data))


def _truncate(d):
    f = d / "part-2.parquet"
    f.write_bytes(f.read_bytes()[:-50])


FAULTS = {
    "corrupt": dict(damage=_corrupt),
    "truncated": dict(damage=_truncate),
    "missing_column": dict(schema_break="missing"),
    "wrong_type": dict(schema_break="type"),
}


@pytest.mark.parametrize("fault", [*FAULTS, "no_files"])
def test_failures_keep_the_served_version(tmp_path, server, s3_server, bucket, fault):
    s3, b = bucket
    upload_partition(s3, b, tmp_path, "2026-02-01", 1.0)
    s = server(s3_config(tmp_path, s3_server.endpoint, b, poll="200ms"))
    wait_for(lambda: served(s.url) == "2026-02-01")
    if fault == "no_files":
        s3.put_object(Bucket=b, Key=f"{PREFIX}/2026-02-02/_SUCCESS", Body=b"")
    else:
        upload_partition(s3, b, tmp_path, "2026-02-02", 2.0, **FAULTS[fault])
    st = wait_for(lambda: failing(s.url), what="the failure")
    assert st["serving_partition"] == "2026-02-01"
    assert st["state"] in ("failed", "checking", "loading") and st["failures"] >= 1  # retried every poll
    assert st["loads"] == 1
    err = st["last_error"]
    assert "2026-02-02" in err, err
    if fault in ("missing_column", "wrong_type"):
        assert "f2" in err, err
    if fault == "corrupt":
        assert f"s3://{b}/{PREFIX}/2026-02-02/part-1.parquet" in err, err
    if fault == "truncated":
        assert f"s3://{b}/{PREFIX}/2026-02-02/part-2.parquet" in err, err
    if fault == "no_files":
        assert "no .parquet file" in err, err
    assert fetch(s.url, ["u1", f"u{N - 1}"]).json()["columns"]["f0"] == [1.0, 1.0]
    assert metric(s.url, "murr_source_up") == 0
    assert metric(s.url, "murr_source_failures_total") >= 1
    assert metric(s.url, "murr_source_loads_total") == 1
    # logged once, not once per poll
    time.sleep(1.0)
    warns = [ln for ln in s.logs().splitlines() if "WARN  loader" in ln]
    assert len(warns) == 1, warns
    assert status(s.url)["failures"] >= 3  # but retried: 1 s at 200 ms
    # fixed: a newer good partition is served and the error clears
    upload_partition(s3, b, tmp_path, "2026-02-03", 3.0)
    wait_for(lambda: served(s.url) == "2026-02-03")
    st = status(s.url)
    assert st["last_error"] is None and st["loads"] == 2
    assert fetch(s.url, ["u1"]).json()["columns"]["f0"] == [3.0]
    assert metric(s.url, "murr_source_up") == 1


def test_unreachable_endpoint_keeps_the_served_version(tmp_path, s3_server, bucket):
    s3, b = bucket
    upload_partition(s3, b, tmp_path, "2026-06-01", 6.0)
    good = s3_config(tmp_path, s3_server.endpoint, b)
    s = start(tmp_path, good)
    try:
        wait_for(lambda: served(s.url) == "2026-06-01")
    finally:
        s.stop()
    port = closed_port()
    s.args = ["-c", str(s3_config(tmp_path, f"http://127.0.0.1:{port}", b, file="closed.yaml",
                                  s3_extra="max_retries: 1, timeout_ms: 2000"))]
    s.start()
    try:
        assert fetch(s.url, ["u7"]).json()["columns"]["f1"] == [6.0]  # from disk
        st = wait_for(lambda: (lambda x: x if x["state"] == "failed" else None)(status(s.url)), what="state failed")
        err = st["last_error"]
        assert st["serving_partition"] == "2026-06-01" and st["loads"] == 0 and st["failures"] >= 1
        assert f"listing s3://{b}/{PREFIX}/" in err, err
        assert f"127.0.0.1 port {port}" in err, err  # curl's "Failed to connect to HOST port PORT"
        assert "after 2 attempts" in err, err  # max_retries: 1
        assert metric(s.url, "murr_source_up") == 0
        assert fetch(s.url, ["u7"]).json()["columns"]["f1"] == [6.0]
    finally:
        s.stop()
    # the endpoint is back, with a newer partition
    upload_partition(s3, b, tmp_path, "2026-06-02", 7.0)
    s.args = ["-c", str(good)]
    s.start()
    try:
        wait_for(lambda: served(s.url) == "2026-06-02")
        assert status(s.url)["last_error"] is None
        assert fetch(s.url, ["u7"]).json()["columns"]["f1"] == [7.0]
    finally:
        s.stop()


def test_partition_files_vanishing_mid_load(tmp_path, server, s3_server, bucket, proxy):
    """The loader reads a partition's files one after another. The proxy holds the GET of
    part-3 of 8 (the load is then running: state "loading"); the test deletes part-5..7
    from moto and lets part-3 through: the read of part-5 gets 404."""
    s3, b = bucket
    upload_partition(s3, b, tmp_path, "2026-05-01", 1.0)
    s = server(s3_config(tmp_path, proxy.endpoint, b, poll="2s"))
    wait_for(lambda: served(s.url) == "2026-05-01")
    proxy.gate_path = f"/{PREFIX}/2026-05-02/part-3.parquet"
    upload_partition(s3, b, tmp_path, "2026-05-02", 2.0, files=8)
    assert requests.post(f"{s.url}/api/v1/table/feat/refresh").status_code == 202
    assert proxy.gate_hit.wait(10), "the load never reached part-3"
    st = status(s.url)
    assert st["state"] == "loading" and st["loading"]["partition"] == "2026-05-02", st
    assert st["loading"]["rows"] == 3 * (N // 8), st  # part-0..2 appended
    for i in range(5, 8):
        s3.delete_object(Bucket=b, Key=f"{PREFIX}/2026-05-02/part-{i}.parquet")
    proxy.release.set()
    st = wait_for(lambda: failing(s.url), what="the failure")
    err = st["last_error"]
    assert f"s3://{b}/{PREFIX}/2026-05-02/part-5.parquet: object not found (HTTP 404" in err, err
    assert st["serving_partition"] == "2026-05-01" and st["loads"] == 1 and "loading" not in st
    assert fetch(s.url, ["u1", f"u{N - 1}"]).json()["columns"]["f0"] == [1.0, 1.0]
    assert metric(s.url, "murr_source_up") == 0
    # a good partition appears before the next poll (2 s): served, error cleared
    upload_partition(s3, b, tmp_path, "2026-05-03", 3.0)
    requests.post(f"{s.url}/api/v1/table/feat/refresh")
    wait_for(lambda: served(s.url) == "2026-05-03")
    assert status(s.url)["last_error"] is None
    assert fetch(s.url, ["u1", f"u{N - 1}"]).json()["columns"]["f0"] == [3.0, 3.0]
    assert [v[1] for v in versions(s.url) if v[2]] == [f"s3://{b}/{PREFIX}/2026-05-03"]


def test_transient_503_is_retried_within_the_poll(tmp_path, server, s3_server, bucket, proxy):
    """The first listing answers 503 SlowDown: retried inside the source (max_retries,
    documented default 5), so the poll succeeds and no failure is counted."""
    s3, b = bucket
    upload_partition(s3, b, tmp_path, "2026-07-01", 1.0)
    left = [1]

    def hook(method, path):
        if method == "GET" and "list-type=2" in path and left[0] > 0:
            left[0] -= 1
            return 503, b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
        return None

    proxy.hook = hook
    s = server(s3_config(tmp_path, proxy.endpoint, b, poll="5s"))
    wait_for(lambda: served(s.url) == "2026-07-01")
    st = status(s.url)
    assert st["failures"] == 0 and st["last_error"] is None and st["loads"] == 1, st
    assert sum(1 for m, p in proxy.requests if "list-type=2" in p) == 2


def test_restart_serves_from_disk_without_downloading_again(tmp_path, s3_server, bucket):
    s3, b = bucket
    upload_partition(s3, b, tmp_path, "2026-03-01", 4.0)
    s = start(tmp_path, s3_config(tmp_path, s3_server.endpoint, b, poll="200ms"))
    try:
        wait_for(lambda: served(s.url) == "2026-03-01")
        before = versions(s.url)
    finally:
        s.stop()
    log0 = len(s3_server.logs())
    s.start()
    try:
        assert fetch(s.url, ["u2"]).json()["columns"]["f1"] == [4.0]  # at once, from disk
        time.sleep(0.7)  # a few polls
        st = status(s.url)
        assert st["serving_partition"] == "2026-03-01" and st["loads"] == 0 and st["failures"] == 0, st
        assert versions(s.url) == before
        log = s3_server.logs()[log0:]
        assert object_gets(log, b) == [], object_gets(log, b)  # no object downloaded
        assert log.count(f"GET /{b}?") + log.count(f"GET /{b}/?") >= 2, log[-2000:]  # but it polled (listings)
        assert "from local disk" in s.logs()
    finally:
        s.stop()


def test_two_servers_on_one_prefix_converge(tmp_path, server, s3_server, bucket):
    s3, b = bucket
    upload_partition(s3, b, tmp_path, "2026-04-01", 1.0)
    upload_partition(s3, b, tmp_path, "2026-04-02", 2.0)
    conf = s3_config(tmp_path, s3_server.endpoint, b)
    a, c = server(conf, data="a"), server(conf, data="b")
    for s in (a, c):
        wait_for(lambda s=s: served(s.url) == "2026-04-02")
    upload_partition(s3, b, tmp_path, "2026-04-03", 3.0)
    upload_partition(s3, b, tmp_path, "2026-04-04", 4.0, success=False)
    for s in (a, c):
        wait_for(lambda s=s: served(s.url) == "2026-04-03")
        assert fetch(s.url, ["u9"]).json()["columns"]["f0"] == [3.0]
    serving = [[v[1] for v in versions(s.url) if v[2]] for s in (a, c)]
    assert serving[0] == serving[1] == [f"s3://{b}/{PREFIX}/2026-04-03"]


@pytest.fixture(scope="module")
def auth_bucket(s3_auth_server, tmp_path_factory):
    s3 = client(s3_auth_server.endpoint, s3_auth_server.access_key_id, s3_auth_server.secret_access_key)
    s3.create_bucket(Bucket="murr-auth")
    upload_partition(s3, "murr-auth", tmp_path_factory.mktemp("auth"), "2026-08-01", 8.0)
    return "murr-auth"


@pytest.mark.parametrize("how", ["config", "env", "wrong_secret"])
def test_credentials_checked_by_the_server(tmp_path, server, s3_auth_server, auth_bucket, how):
    srv = s3_auth_server
    env = {"HOME": str(tmp_path), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    if how == "config":
        creds = f"access_key_id: {srv.access_key_id}, secret_access_key: {srv.secret_access_key}, "
    elif how == "env":
        creds = ""
        env.update(AWS_ACCESS_KEY_ID=srv.access_key_id, AWS_SECRET_ACCESS_KEY=srv.secret_access_key)
    else:
        creds = f"access_key_id: {srv.access_key_id}, secret_access_key: not-the-secret, "
    s = server(s3_config(tmp_path, srv.endpoint, auth_bucket, creds=creds), extra_env=env)
    if how == "wrong_secret":
        st = wait_for(lambda: failing(s.url), what="the failure")
        err = st["last_error"]
        assert f"listing s3://{auth_bucket}/{PREFIX}/" in err, err
        assert "access denied (HTTP 403" in err and "SignatureDoesNotMatch" in err, err
        assert st["serving_partition"] is None and st["loads"] == 0
        assert requests.get(f"{s.url}/api/v1/table/feat/schema").status_code == 404  # never created
        assert metric(s.url, "murr_source_up") == 0
    else:
        wait_for(lambda: served(s.url) == "2026-08-01")
        assert fetch(s.url, ["u0", f"u{N - 1}"]).json()["columns"]["f2"] == [8.0, 8.0]
        assert status(s.url)["last_error"] is None
