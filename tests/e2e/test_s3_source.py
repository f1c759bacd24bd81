"""The S3 source (src/loader/source_s3.c) against real HTTP servers on loopback.

The source is driven by tests/prog/s3_probe (list, read, pread); the servers are moto's
server mode (conftest.py: `s3_server` without authentication, `s3_auth_server` that verifies
SigV4 signatures), filled with boto3, whose listing and bytes are the oracle. The failure
tests use small HTTP servers in this process that answer 503, stall, or send more bytes than
asked, to check retries, timeouts and bounds through the same libcurl path."""
import hashlib
import http.server
import os
import random
import socket
import subprocess
import threading
import time

import boto3
import pytest

from conftest import BUILD

PROBE = BUILD / "s3_probe"
STATUS = {"ENOTFOUND": 2, "ECORRUPT": 6, "EIO": 9, "EINVAL": 1}


def client(endpoint, key="test", secret="test", token=None):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, aws_session_token=token)


def probe(tmp_path, endpoint, bucket, *args, prefix="", env=None, timeout=60):
    """Runs s3_probe with a clean AWS environment (no AWS_* variables, HOME without .aws)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    e["HOME"] = str(tmp_path)
    e.update(env or {})
    cmd = [str(PROBE), "--endpoint", endpoint, "--bucket", bucket, "--prefix", prefix, *args]
    return subprocess.run(cmd, env=e, capture_output=True, timeout=timeout)


def listing(out: bytes):
    rows = {}
    for line in out.decode().splitlines():
        key, size, etag = line.split("\t")
        assert key not in rows, f"{key} listed twice"
        rows[key] = (int(size), etag)
    return rows


CREDS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
ODD_KEYS = ["with space.bin", "plus+and&amp.bin", "percent%25~tilde.bin", "caf\u00e9/\u00fcnicode.bin",
            "dt=2026-01-19/part-0.parquet", "a/b/c/d/deep.bin", "quote'\"<x>.bin"]


@pytest.fixture(scope="module")
def listed_bucket(s3_server):
    """1,100 tiny objects under tables/t/ (more than one 1,000-key page), odd characters in
    some keys, objects beside the prefix that must not be listed, a folder placeholder."""
    s3 = client(s3_server.endpoint)
    s3.create_bucket(Bucket="murr-list")
    want = {}
    for i in range(1100):
        key = ODD_KEYS[i] if i < len(ODD_KEYS) else f"part-{i:05d}.bin"
        body = bytes([i % 251]) * (i % 37)
        s3.put_object(Bucket="murr-list", Key="tables/t/" + key, Body=body)
        want[key] = (len(body), hashlib.md5(body).hexdigest())
    s3.put_object(Bucket="murr-list", Key="tables/t2/not-me.bin", Body=b"x")
    s3.put_object(Bucket="murr-list", Key="other/not-me.bin", Body=b"x")
    s3.put_object(Bucket="murr-list", Key="tables/t/folder/", Body=b"")
    return want


def test_list_paginates_keys_relative_to_prefix(s3_server, listed_bucket, tmp_path):
    before = s3_server.logs().count("continuation-token=")
    r = probe(tmp_path, s3_server.endpoint, "murr-list", "list", prefix="tables/t", env=CREDS)
    assert r.returncode == 0, r.stderr.decode()
    got = listing(r.stdout)
    # the oracle: boto3's own listing, ETags without quotes
    s3 = client(s3_server.endpoint)
    oracle = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="murr-list", Prefix="tables/t/"):
        for o in page.get("Contents", []):
            if not o["Key"].endswith("/"):
                oracle[o["Key"][len("tables/t/"):]] = (o["Size"], o["ETag"].strip('"'))
    assert len(got) == 1100
    assert got == oracle
    assert got == listed_bucket  # and both are what was uploaded (single-part ETag = MD5)
    # two pages at least: the source followed a continuation token
    assert s3_server.logs().count("continuation-token=") > before


def test_list_empty_prefix_and_missing_bucket(s3_server, listed_bucket, tmp_path):
    r = probe(tmp_path, s3_server.endpoint, "murr-list", "list", prefix="nothing/here/", env=CREDS)
    assert r.returncode == 0 and r.stdout == b"", r.stderr.decode()
    r = probe(tmp_path, s3_server.endpoint, "no-such-bucket", "list", env=CREDS)
    assert r.returncode == STATUS["ENOTFOUND"], r.stderr.decode()
    assert b"bucket 'no-such-bucket' not found" in r.stderr and b"NoSuchBucket" in r.stderr


@pytest.fixture(scope="module")
def blob(s3_server):
    s3 = client(s3_server.endpoint)
    s3.create_bucket(Bucket="murr-read")
    data = random.Random(7).randbytes(300_000)
    s3.put_object(Bucket="murr-read", Key="p/obj ect+1.bin", Body=data)
    etag = s3.head_object(Bucket="murr-read", Key="p/obj ect+1.bin")["ETag"].strip('"')
    return data, etag


@pytest.mark.parametrize("off,length", [(0, 1), (0, 300_000), (1, 4096), (123_457, 65_536), (299_999, 1)])
def test_ranged_reads_byte_for_byte(s3_server, blob, tmp_path, off, length):
    data, etag = blob
    r = probe(tmp_path, s3_server.endpoint, "murr-read", "--etag", etag, "read", "obj ect+1.bin", str(off),
              str(length), prefix="p/", env=CREDS)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == data[off:off + length]


def test_reads_from_several_threads(s3_server, blob, tmp_path):
    data, etag = blob
    r = probe(tmp_path, s3_server.endpoint, "murr-read", "--etag", etag, "pread", "obj ect+1.bin", str(len(data)),
              "7777", "4", prefix="p", env=CREDS)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == data


def test_read_errors(s3_server, blob, tmp_path):
    data, etag = blob
    ep = s3_server.endpoint
    r = probe(tmp_path, ep, "murr-read", "--etag", "0" * 32, "read", "obj ect+1.bin", "0", "10", prefix="p",
              env=CREDS)
    assert r.returncode == STATUS["ECORRUPT"], r.stderr.decode()
    assert b"s3://murr-read/p/obj ect+1.bin: object changed since it was listed" in r.stderr
    assert b"HTTP 412" in r.stderr
    r = probe(tmp_path, ep, "murr-read", "read", "missing.bin", "0", "10", prefix="p", env=CREDS)
    assert r.returncode == STATUS["ENOTFOUND"], r.stderr.decode()
    assert b"s3://murr-read/p/missing.bin: object not found (HTTP 404 NoSuchKey" in r.stderr
    # past the end: 416; across the end: a short answer
    r = probe(tmp_path, ep, "murr-read", "read", "obj ect+1.bin", str(len(data)), "10", prefix="p", env=CREDS)
    assert r.returncode == STATUS["ECORRUPT"] and b"past the end" in r.stderr and b"HTTP 416" in r.stderr
    r = probe(tmp_path, ep, "murr-read", "read", "obj ect+1.bin", str(len(data) - 5), "10", prefix="p", env=CREDS)
    assert r.returncode == STATUS["ECORRUPT"], r.stderr.decode()
    assert b"Content-Length 5 for a read of 10 bytes at offset 299995" in r.stderr


def test_anonymous_requests(s3_server, blob, tmp_path):
    """No credentials anywhere: unsigned requests. moto lets anonymous users list but not
    read a private object (403, as S3 does)."""
    r = probe(tmp_path, s3_server.endpoint, "murr-read", "list", prefix="p")
    assert r.returncode == 0, r.stderr.decode()
    assert listing(r.stdout) == {"obj ect+1.bin": (300_000, blob[1])}
    r = probe(tmp_path, s3_server.endpoint, "murr-read", "read", "obj ect+1.bin", "0", "10", prefix="p")
    assert r.returncode == STATUS["EIO"] and b"access denied (HTTP 403" in r.stderr, r.stderr.decode()


# ---- signatures verified (moto with authentication) ----------------------------------------

@pytest.fixture(scope="module")
def auth_bucket(s3_auth_server):
    s = s3_auth_server
    s3 = client(s.endpoint, s.access_key_id, s.secret_access_key)
    s3.create_bucket(Bucket="murr-auth")
    s3.put_object(Bucket="murr-auth", Key="t/k e+y.bin", Body=b"0123456789")
    return s


def test_signed_with_config_env_and_credentials_file(auth_bucket, tmp_path):
    s = auth_bucket
    ok = {"k e+y.bin": (10, hashlib.md5(b"0123456789").hexdigest())}
    r = probe(tmp_path, s.endpoint, "murr-auth", "--access-key", s.access_key_id, "--secret-key",
              s.secret_access_key, "list", prefix="t")
    assert r.returncode == 0, r.stderr.decode()
    assert listing(r.stdout) == ok
    env = {"AWS_ACCESS_KEY_ID": s.access_key_id, "AWS_SECRET_ACCESS_KEY": s.secret_access_key}
    r = probe(tmp_path, s.endpoint, "murr-auth", "read", "k e+y.bin", "3", "4", prefix="t", env=env)
    assert r.returncode == 0 and r.stdout == b"3456", r.stderr.decode()
    # ~/.aws/credentials: default profile, then a named one through AWS_PROFILE and through
    # --profile, then AWS_SHARED_CREDENTIALS_FILE
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text(
        f"# comment\n[default]\naws_access_key_id = {s.access_key_id}\naws_secret_access_key = {s.secret_access_key}\n"
        f"\n[other]\naws_access_key_id={s.access_key_id}\naws_secret_access_key={s.secret_access_key}\n"
        f"[broken]\naws_access_key_id = {s.access_key_id}\naws_secret_access_key = wrong\n")
    for extra_env, args in [({}, []), ({"AWS_PROFILE": "other"}, []), ({}, ["--profile", "other"])]:
        r = probe(tmp_path, s.endpoint, "murr-auth", *args, "read", "k e+y.bin", "0", "2", prefix="t", env=extra_env)
        assert r.returncode == 0 and r.stdout == b"01", (extra_env, args, r.stderr.decode())
    r = probe(tmp_path, s.endpoint, "murr-auth", "--profile", "broken", "list", prefix="t")
    assert r.returncode == STATUS["EIO"] and b"SignatureDoesNotMatch" in r.stderr, r.stderr.decode()
    r = probe(tmp_path, s.endpoint, "murr-auth", "--profile", "absent", "list", prefix="t")
    assert r.returncode == STATUS["EINVAL"] and b"profile 'absent'" in r.stderr, r.stderr.decode()
    moved = tmp_path / "elsewhere.ini"
    (tmp_path / ".aws" / "credentials").rename(moved)
    r = probe(tmp_path, s.endpoint, "murr-auth", "list", prefix="t", env={"AWS_SHARED_CREDENTIALS_FILE": str(moved)})
    assert r.returncode == 0 and listing(r.stdout) == ok, r.stderr.decode()


def test_wrong_secret_is_refused(auth_bucket, tmp_path):
    s = auth_bucket
    r = probe(tmp_path, s.endpoint, "murr-auth", "--access-key", s.access_key_id, "--secret-key", "not-the-secret",
              "read", "k e+y.bin", "0", "1", prefix="t")
    assert r.returncode == STATUS["EIO"], r.stderr.decode()
    assert b"s3://murr-auth/t/k e+y.bin: access denied (HTTP 403 SignatureDoesNotMatch" in r.stderr


def test_session_token(auth_bucket, tmp_path):
    """Temporary credentials from an assumed role: valid with their token, refused without."""
    import json
    s = auth_bucket
    kw = dict(endpoint_url=s.endpoint, region_name="us-east-1", aws_access_key_id=s.access_key_id,
              aws_secret_access_key=s.secret_access_key)
    iam = boto3.client("iam", **kw)
    iam.create_role(RoleName="murr-loader", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                                                 "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName="murr-loader", PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    c = boto3.client("sts", **kw).assume_role(RoleArn="arn:aws:iam::123456789012:role/murr-loader",
                                              RoleSessionName="loader")["Credentials"]
    env = {"AWS_ACCESS_KEY_ID": c["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"]}
    r = probe(tmp_path, s.endpoint, "murr-auth", "read", "k e+y.bin", "5", "5", prefix="t",
              env={**env, "AWS_SESSION_TOKEN": c["SessionToken"]})
    assert r.returncode == 0 and r.stdout == b"56789", r.stderr.decode()
    r = probe(tmp_path, s.endpoint, "murr-auth", "--session-token", c["SessionToken"], "--access-key",
              c["AccessKeyId"], "--secret-key", c["SecretAccessKey"], "list", prefix="t")
    assert r.returncode == 0 and b"k e+y.bin\t10\t" in r.stdout, r.stderr.decode()
    r = probe(tmp_path, s.endpoint, "murr-auth", "read", "k e+y.bin", "5", "5", prefix="t", env=env)
    assert r.returncode == STATUS["EIO"] and b"HTTP 403 InvalidAccessKeyId" in r.stderr, r.stderr.decode()


# ---- unreachable, throttled, stalled and oversized answers ---------------------------------

def free_port():
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


def test_unreachable_endpoint_fails_after_retries_in_bounded_time(tmp_path):
    port = free_port()  # nothing listens there
    t0 = time.monotonic()
    r = probe(tmp_path, f"http://127.0.0.1:{port}", "b-x", "--retries", "3", "list", env=CREDS)
    elapsed = time.monotonic() - t0
    assert r.returncode == STATUS["EIO"], r.stderr.decode()
    assert b"after 4 attempts" in r.stderr and b"connect" in r.stderr.lower()
    # 3 backoffs of at most 100 + 200 + 400 ms: a correctness bound (no hang), not a timing claim
    assert elapsed < 10, elapsed


class _Handler(http.server.BaseHTTPRequestHandler):
    mode = "slowdown"
    hits = 0

    def log_message(self, *a):
        pass

    def do_GET(self):
        type(self).hits += 1
        if self.mode == "slowdown":
            body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            self.send_response(503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.mode == "stall":
            time.sleep(5)
        elif self.mode == "too_long":  # 206 that sends more than the range asked, no Content-Length
            self.send_response(206)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"x" * 100_000)
        elif self.mode == "huge_error":  # a 64 KiB+ error body: cut, the status still named
            self.send_response(403)
            self.send_header("Content-Length", str(10_000_000))
            self.end_headers()
            self.wfile.write(b"<Error>" + b" " * 200_000)


@pytest.fixture
def fake_s3():
    class H(_Handler):
        pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield H, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_throttling_is_retried_then_eio(fake_s3, tmp_path):
    h, ep = fake_s3
    r = probe(tmp_path, ep, "b-x", "--retries", "2", "read", "k", "0", "10", env=CREDS)
    assert r.returncode == STATUS["EIO"], r.stderr.decode()
    assert b"s3://b-x/k: HTTP 503 SlowDown: Please reduce your request rate., after 3 attempts" in r.stderr
    assert h.hits == 3


def test_stalled_server_times_out(fake_s3, tmp_path):
    h, ep = fake_s3
    h.mode = "stall"
    t0 = time.monotonic()
    r = probe(tmp_path, ep, "b-x", "--retries", "1", "--timeout-ms", "700", "list", env=CREDS)
    assert r.returncode == STATUS["EIO"], r.stderr.decode()
    assert b"timed out" in r.stderr.lower() and b"after 2 attempts" in r.stderr
    assert h.hits == 2
    assert time.monotonic() - t0 < 5


def test_body_beyond_the_range_is_refused(fake_s3, tmp_path):
    h, ep = fake_s3
    h.mode = "too_long"
    r = probe(tmp_path, ep, "b-x", "read", "k", "0", "10", env=CREDS)
    assert r.returncode == STATUS["ECORRUPT"], r.stderr.decode()
    assert b"more than the 10 bytes asked at offset 0 (HTTP 206)" in r.stderr
    assert h.hits == 1  # refused, not retried


def test_error_body_is_bounded(fake_s3, tmp_path):
    h, ep = fake_s3
    h.mode = "huge_error"
    r = probe(tmp_path, ep, "b-x", "read", "k", "0", "10", env=CREDS)
    assert r.returncode == STATUS["EIO"], r.stderr.decode()
    assert b"s3://b-x/k: access denied (HTTP 403)" in r.stderr
