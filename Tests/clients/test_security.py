"""What a hostile client tries, refused as AWS refuses it or as a hardened server does:
unsigned x-amz-* headers slipped into signed requests and presigned URLs, copies that read a
dataset without naming it in the audit log, sign-in races and floods, user enumeration
through the lockout, old TLS, slow clients holding connections, an open /metrics, a scope of
another region, two Authorization headers, reserved bucket names, world-readable databases."""
import concurrent.futures
import datetime
import http.client
import json
import os
import select
import socket
import ssl
import stat
import threading
import time

import boto3
import botocore
import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import make_client
from gateway import ACCESS_KEY, SECRET_KEY, Gateway, run_cli
from rawsigv4 import Response, send, signed_headers
from trust import PASSWORD, add_user, audit_entries, next_code, sign_in

METRICS_TOKEN = "metrics-bearer-token-for-the-tests"
# Old TLS versions are deprecated in Python's ssl module: these tests offer them on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def g():
    config = """http:
  header_timeout_seconds: 2
  body_min_bytes_per_second: 2000
  body_rate_window_seconds: 2
metrics:
  token_env: PSR_METRICS_TOKEN
"""
    gw = Gateway(config=config, env={"PSR_METRICS_TOKEN": METRICS_TOKEN}).start()
    s3 = make_client(gw.endpoint)
    for b in ("registry", "dropbox"):
        s3.create_bucket(Bucket=b)
    s3.put_object(Bucket="registry", Key="secret.csv", Body=b"patient,diagnosis\n1,x\n")
    yield gw
    gw.cleanup()


def code_of(e):
    return e.value.response["Error"]["Code"]


def put_url(gw, key, version):
    signer = boto3.client("s3", endpoint_url=gw.endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY,
                          config=botocore.config.Config(signature_version=version, s3={"addressing_style": "path"}))
    return signer.generate_presigned_url("put_object", Params={"Bucket": "dropbox", "Key": key}, ExpiresIn=300)


def exists(gw, bucket, key):
    try:
        make_client(gw.endpoint).head_object(Bucket=bucket, Key=key)
        return True
    except botocore.exceptions.ClientError:
        return False


# 1. Unsigned x-amz-* headers.

@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_presigned_upload_link_cannot_become_a_copy(g, version):
    """boto3 presigns a PUT signing only `host`; whoever holds the link must not be able to
    add `x-amz-copy-source` (a copy of another dataset, with the signer's authority) or
    `x-amz-meta-*`: SigV4 refuses headers its signature does not list, SigV2 signs every
    x-amz-* header by construction."""
    key = f"drop-{version}"
    url = put_url(g, key, version)
    r = requests.put(url, data=b"", headers={"x-amz-copy-source": "/registry/secret.csv"}, timeout=10)
    assert r.status_code == 403, r.text
    if version == "s3v4":
        assert "<Code>AccessDenied</Code>" in r.text and "were not signed" in r.text
        assert "<HeadersNotSigned>x-amz-copy-source</HeadersNotSigned>" in r.text
    else:
        assert "<Code>SignatureDoesNotMatch</Code>" in r.text
    assert not exists(g, "dropbox", key)
    r = requests.put(url, data=b"hello", headers={"x-amz-meta-owner": "mallory"}, timeout=10)
    assert r.status_code == 403 and not exists(g, "dropbox", key), r.text
    # The link itself still does what it was made for.
    r = requests.put(url, data=b"hello", timeout=10)
    assert r.status_code == 200, r.text
    assert make_client(g.endpoint).get_object(Bucket="dropbox", Key=key)["Body"].read() == b"hello"


def test_header_signature_must_cover_every_amz_header(g):
    h = signed_headers(g, "PUT", "/dropbox/hdr", payload_hash="UNSIGNED-PAYLOAD")
    h["x-amz-copy-source"] = "/registry/secret.csv"
    h["x-amz-meta-evil"] = "1"
    r = send(g, "PUT", "/dropbox/hdr", headers=h, sign=False)
    assert r.status == 403 and r.code == "AccessDenied", r.body
    assert b"<HeadersNotSigned>x-amz-copy-source, x-amz-meta-evil</HeadersNotSigned>" in r.body
    assert not exists(g, "dropbox", "hdr")


def test_streaming_headers_must_be_signed(g):
    """aws-chunked uploads: x-amz-decoded-content-length and x-amz-trailer are part of what
    the signer agreed to, as AWS requires."""
    body = b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n"
    h = signed_headers(g, "PUT", "/dropbox/chunked", {"Content-Encoding": "aws-chunked"},
                       payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    h["x-amz-decoded-content-length"] = "3"
    h["x-amz-trailer"] = "x-amz-checksum-crc32"
    r = send(g, "PUT", "/dropbox/chunked", body=body, headers=h, sign=False)
    assert r.status == 403 and b"x-amz-decoded-content-length, x-amz-trailer" in r.body, r.body
    signed = signed_headers(g, "PUT", "/dropbox/chunked", {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": "3",
                                                           "x-amz-trailer": "x-amz-checksum-crc32"},
                            payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    r = send(g, "PUT", "/dropbox/chunked", body=body, headers=signed, sign=False)
    assert r.status == 200, r.body
    assert make_client(g.endpoint).get_object(Bucket="dropbox", Key="chunked")["Body"].read() == b"abc"


# 2. Copies audited with their source.

def test_every_read_of_a_copy_source_is_audited(g):
    s3 = make_client(g.endpoint)
    s3.copy_object(Bucket="dropbox", Key="copied.csv", CopySource="registry/secret.csv")
    up = s3.create_multipart_upload(Bucket="dropbox", Key="assembled.csv")["UploadId"]
    part = s3.upload_part_copy(Bucket="dropbox", Key="assembled.csv", UploadId=up, PartNumber=1,
                               CopySource="registry/secret.csv", CopySourceRange="bytes=0-6")
    s3.complete_multipart_upload(Bucket="dropbox", Key="assembled.csv", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket="dropbox", Key="assembled.csv")["Body"].read() == b"patient"
    found = [json.loads(line) for line in run_cli("audit", "search", "--dataset", "registry", data_dir=g.data_dir).stdout.splitlines()]
    copies = [e for e in found if e["action"] == "CopyObject.source"]
    parts = [e for e in found if e["action"] == "UploadPartCopy.source"]
    assert len(copies) == 1 and len(parts) == 1, found
    for e, size in ((copies[0], 22), (parts[0], 7)):
        assert e["key"] == "secret.csv" and e["bytes"] == size and e["result"] == "allowed" and e["principal"] == "root"
        assert e["version"] and e["detail"].startswith("read into dropbox/")
    # The request's own entry (the destination) shares the request id: one operation, two entries.
    entries = [json.loads(e) for e in audit_entries(g).values()]
    dest = [e for e in entries if e["action"] == "CopyObject" and e.get("dataset") == "dropbox"]
    assert dest and dest[-1]["request"] == copies[0]["request"]
    # A GET names the version it served.
    gets = [e for e in entries if e["action"] == "GetObject" and e.get("key") == "assembled.csv"]
    assert gets and gets[-1]["version"]
    assert "OK:" in run_cli("audit", "verify", data_dir=g.data_dir).stdout


# 3-5. Sign-in: races, enumeration, per-address lockout, floods.

def sign_in_from(gw, address, user, password, code="000000", project="p"):
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=60, source_address=(address, 0))
    body = json.dumps({"user": user, "password": password, "totp": code, "project": project})
    conn.request("POST", "/session", body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    out = r.status, json.loads(r.read() or b"{}"), r.getheader("Retry-After")
    conn.close()
    return out


@pytest.fixture(scope="module")
def users(g):
    secrets = {u: add_user(g, u) for u in ("racer", "victim", "walker")}
    run_cli("project", "create", "p", "--purpose", "security tests", "--expires", "30", "--members", "racer,victim,walker", data_dir=g.data_dir)
    return secrets


def test_concurrent_wrong_attempts_count_one_each(g, users):
    """40 wrong passwords at once: the count is reserved before each is checked, so only the
    five free attempts are ever checked; the rest wait, the right password too."""
    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        results = list(pool.map(lambda _: sign_in_from(g, "127.0.0.3", "racer", "wrong-password-x"), range(40)))
    statuses = [r[0] for r in results]
    assert statuses.count(401) == 5, statuses
    assert all(s in (401, 429, 503) for s in statuses), statuses
    # Past the address's rate limit (the burst took its tokens), the account's own delay answers.
    time.sleep(2.5)
    status, body, retry = sign_in_from(g, "127.0.0.3", "racer", PASSWORD, next_code(users["racer"]))
    assert status == 429 and "too many failed attempts; retry after" in body["error"] and int(retry) > 1, body
    checked = [json.loads(e) for e in audit_entries(g).values()]
    assert sum(1 for e in checked if e["action"] == "login" and e["principal"] == "racer" and e.get("detail") == "wrong password") == 5


def test_unknown_and_known_names_answer_alike(g, users):
    """An unknown name is counted like a known one: both wait after five failures, with the
    same status and the same message."""
    answers = {}
    for name in ("walker", "no-such-user-anywhere"):
        first = [sign_in_from(g, "127.0.0.4", name, "bad-password-0") for _ in range(5)]
        assert [s for s, _, _ in first] == [401] * 5
        answers[name] = sign_in_from(g, "127.0.0.4", name, "bad-password-0")
    (s1, b1, r1), (s2, b2, r2) = answers.values()
    assert s1 == s2 == 429 and r1 and r2
    assert b1["error"].split(" after ")[0] == b2["error"].split(" after ")[0]


def test_lockout_is_a_delay_for_the_guessing_address_only(g, users):
    """An attacker guessing from 127.0.0.5 makes itself wait; the user, signing in from
    another address, is not locked out."""
    for _ in range(5):
        assert sign_in_from(g, "127.0.0.5", "victim", "guess-guess")[0] == 401
    assert sign_in_from(g, "127.0.0.5", "victim", "guess-guess")[0] == 429
    status, creds, _ = sign_in_from(g, "127.0.0.6", "victim", PASSWORD, next_code(users["victim"]))
    assert status == 200, creds
    assert creds["Project"] == "p"


def test_source_address_rate_limit():
    """Past the burst, an address is answered 429 before any password is hashed. A gateway of
    its own, whose bucket refills one attempt a minute: how fast the machine hashes (it may be
    busy) cannot change how many attempts the burst lets through."""
    gw = Gateway(config="sign_in:\n  per_address_per_minute: 1\n  burst: 20\n").start()
    try:
        t = time.time()
        statuses = [sign_in_from(gw, "127.0.0.7", f"sprayed-{i}", "x")[0] for i in range(60)]
        elapsed = time.time() - t
        assert elapsed < 60
        assert statuses[:20] == [401] * 20, statuses
        assert statuses[21:] == [429] * 39, statuses  # the 21st may have regained its token
        # The first refusal of the window is an entry; the others wait for the window's summary,
        # so a flood of refused attempts cannot fill the log.
        entries = [json.loads(e) for e in audit_entries(gw).values()]
        throttled = [e for e in entries if e.get("source") == "127.0.0.7" and e.get("detail") == "sign-in rate limit of the source address"]
        assert len(throttled) == 1, throttled
        checked = [e for e in entries if e.get("source") == "127.0.0.7" and e.get("detail") != "sign-in rate limit of the source address"]
        assert len(checked) <= 21, checked
    finally:
        gw.cleanup()


# 6. TLS policy.

def tls_connect(gw, minimum=None, maximum=None, ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers(ciphers or "ALL:@SECLEVEL=0")
    if minimum:
        ctx.minimum_version = minimum
    if maximum:
        ctx.maximum_version = maximum
    with socket.create_connection(("127.0.0.1", gw.tls_port), timeout=10) as raw:
        with ctx.wrap_socket(raw) as s:
            return s.version(), s.cipher()[0]


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_old_tls_versions_refused(g, version):
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        tls_connect(g, minimum=version, maximum=version)


@pytest.mark.parametrize("cipher", ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA256"])
def test_tls12_cbc_suites_refused(g, cipher):
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        tls_connect(g, maximum=ssl.TLSVersion.TLSv1_2, ciphers=cipher)


def test_tls12_aead_and_tls13_accepted(g):
    assert tls_connect(g, maximum=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-ECDSA-AES256-GCM-SHA384") == ("TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384")
    assert tls_connect(g, maximum=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-ECDSA-CHACHA20-POLY1305")[0] == "TLSv1.2"
    assert tls_connect(g)[0] == "TLSv1.3"


def test_certificate_is_not_its_own_ca(g):
    """The served certificate is CA:FALSE, issued by a one-off CA whose key is not kept; the
    file verifies as a trust anchor for ordinary clients."""
    from cryptography import x509
    pem = open(g.certificate, "rb").read()
    leaf, ca = x509.load_pem_x509_certificates(pem)
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert leaf.issuer == ca.subject
    kept = [n for n in os.listdir(g.data_dir) if n.endswith(".pem")]
    assert sorted(kept) == ["audit-signing-key.pem", "tls-cert.pem", "tls-key.pem"]
    s3 = make_client(g.tls_endpoint, verify=g.certificate)
    assert s3.get_object(Bucket="registry", Key="secret.csv")["Body"].read().startswith(b"patient")


def handshakes_with_backend_client(g, tmp_path, maximum, ciphers):
    """Starts a TLS server limited to `maximum` and `ciphers`, points an S3 backend at it and
    runs `passerelle backend check`; returns the TLS version the gateway's client negotiated,
    or None when it refused to."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(g.certificate, os.path.join(g.data_dir, "tls-key.pem"))
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = maximum
    ctx.set_ciphers(ciphers)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen = []

    def serve():
        listener.settimeout(60)
        try:
            while True:
                conn, _ = listener.accept()
                try:
                    with ctx.wrap_socket(conn, server_side=True) as tls:
                        seen.append(tls.version())
                except (ssl.SSLError, OSError):
                    seen.append(None)
        except OSError:
            return
    threading.Thread(target=serve, daemon=True).start()
    config = f"""backends:
  old:
    kind: s3
    endpoint: https://127.0.0.1:{port}
    region: us-east-1
    access_key_env: PSR_OLD_ACCESS
    secret_key_env: PSR_OLD_SECRET
    ca_bundle: {g.certificate}
    profile: s3
    retries: 0
datasets:
  remote: {{backend: old, container: c}}
"""
    (tmp_path / "old.yaml").write_text(config)
    r = run_cli("backend", "check", "old", data_dir=str(tmp_path), config_path=str(tmp_path / "old.yaml"),
                env={"PSR_OLD_ACCESS": "a", "PSR_OLD_SECRET": "b"}, check=False)
    listener.close()
    assert r.returncode != 0  # nothing there speaks S3
    assert seen, r.stdout + r.stderr
    return seen[0]


def test_backend_connections_follow_the_tls_policy(g, tmp_path):
    """The gateway's own client (to S3 and Azure backends) offers nothing older either."""
    assert handshakes_with_backend_client(g, tmp_path, ssl.TLSVersion.TLSv1_1, "ALL:@SECLEVEL=0") is None
    assert handshakes_with_backend_client(g, tmp_path, ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0") is None
    assert handshakes_with_backend_client(g, tmp_path, ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-GCM-SHA256") == "TLSv1.2"


# 7. Slow clients.

def closed_within(s, deadline):
    """Whether the peer closed `s` before `deadline` (seconds), checking twice a second."""
    end = time.time() + deadline
    while time.time() < end:
        readable, _, _ = select.select([s], [], [], 0.5)
        if readable:
            try:
                if s.recv(4096) == b"":
                    return True
            except OSError:
                return True
    return False


def test_slow_request_headers_are_cut_off(g):
    """A byte every half second never completes the headers: the connection is closed once
    the header deadline (2 s here) passes, not held for the idle timeout."""
    s = socket.create_connection(("127.0.0.1", g.port), timeout=15)
    start = time.time()
    closed = False
    for ch in b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 40:
        try:
            s.send(bytes([ch]))
        except OSError:
            closed = True
            break
        if closed_within(s, 0.5):
            closed = True
            break
    elapsed = time.time() - start
    s.close()
    assert closed and elapsed < 6, elapsed


def test_idle_keep_alive_is_not_header_time(g):
    """Between requests a connection is idle, not late: it waits longer than the header
    deadline and still serves the next request."""
    conn = http.client.HTTPConnection("127.0.0.1", g.port, timeout=10)
    conn.request("GET", "/health")
    assert conn.getresponse().read() == b"ok\n"
    time.sleep(3)
    conn.request("GET", "/health")
    assert conn.getresponse().read() == b"ok\n"
    conn.close()


def test_slow_body_is_cut_off_and_stores_nothing(g):
    body = b"z" * 100_000
    h = signed_headers(g, "PUT", "/dropbox/slow", payload_hash="UNSIGNED-PAYLOAD")
    h["Content-Length"] = str(len(body))
    s = socket.create_connection(("127.0.0.1", g.port), timeout=15)
    head = "PUT /dropbox/slow HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
    s.sendall(head.encode())
    start, sent, closed = time.time(), 0, None
    while time.time() - start < 12:
        try:
            s.sendall(body[sent:sent + 100])  # 200 bytes/s, below the 2000 B/s minimum
            sent += 100
            time.sleep(0.5)
        except OSError:
            closed = time.time() - start
            break
    s.close()
    assert closed is not None and closed < 10, closed
    assert not exists(g, "dropbox", "slow")
    # An ordinary upload is untouched.
    make_client(g.endpoint).put_object(Bucket="dropbox", Key="fast", Body=body)
    assert exists(g, "dropbox", "fast")


# 8. Metrics.

def test_metrics_need_the_metrics_listener_or_a_bearer_token(g):
    assert requests.get(g.endpoint + "/metrics", timeout=10).status_code == 401
    assert requests.get(g.endpoint + "/metrics", headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
    r = requests.get(g.endpoint + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
    assert r.status_code == 200 and "passerelle_requests_total" in r.text
    local = requests.get(g.metrics_endpoint + "/metrics", timeout=10)
    assert local.status_code == 200 and "passerelle_requests_total" in local.text
    assert "project=" not in local.text
    assert 'passerelle_slow_clients_closed_total{reason="header_timeout"}' in local.text
    # The metrics listener serves nothing else.
    assert requests.get(g.metrics_endpoint + "/registry/secret.csv", timeout=10).status_code == 404


# 9. Smaller findings.

def test_scope_of_another_region_refused(g):
    req = AWSRequest(method="GET", url=g.endpoint + "/registry/secret.csv", headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "eu-west-1").add_auth(req)
    r = requests.get(req.url, headers=dict(req.headers.items()), timeout=10)
    assert r.status_code == 400 and "<Code>AuthorizationHeaderMalformed</Code>" in r.text
    assert "<Region>us-east-1</Region>" in r.text and "eu-west-1&apos; is wrong" in r.text


def test_two_authorization_headers_refused(g):
    h = signed_headers(g, "GET", "/registry/secret.csv")
    conn = http.client.HTTPConnection("127.0.0.1", g.port, timeout=10)
    conn.putrequest("GET", "/registry/secret.csv", skip_accept_encoding=True)
    for k, v in h.items():
        conn.putheader(k, v)
    conn.putheader("Authorization", "AWS4-HMAC-SHA256 Credential=OTHER/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00")
    conn.endheaders()
    r = conn.getresponse()
    body = r.read()
    conn.close()
    assert r.status == 400 and Response(r.status, {}, body).code == "InvalidArgument", body


@pytest.mark.parametrize("name", ["health", "metrics", "audit", "session"])
def test_bucket_names_of_gateway_endpoints_refused(g, name):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        make_client(g.endpoint).create_bucket(Bucket=name)
    assert code_of(e) == "InvalidBucketName"
    r = run_cli("dataset", "create", name, data_dir=g.data_dir, check=False)
    assert r.returncode != 0 and "reserved" in r.stderr


def test_data_directory_files_are_private(g):
    names = [n for n in os.listdir(g.data_dir) if ".sqlite" in n]
    assert {"catalog.sqlite", "access.sqlite", "audit.sqlite", "audit-keys.sqlite"} <= set(names), names
    for n in names + ["access-secret", "root-credentials", "tls-key.pem", "audit-signing-key.pem"]:
        path = os.path.join(g.data_dir, n)
        if os.path.exists(path):
            assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0, (n, oct(os.stat(path).st_mode))


def test_existing_world_readable_databases_are_restricted_at_start():
    gw = Gateway().start()
    try:
        path = os.path.join(gw.data_dir, "catalog.sqlite")
        gw.stop()
        os.chmod(path, 0o644)
        gw.start()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        gw.cleanup()
