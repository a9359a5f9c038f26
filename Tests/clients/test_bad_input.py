"""Every malformed request gets the right S3 error and leaves stored data unchanged."""
import base64
import datetime
import hashlib
import os
import uuid
import zlib

import pytest

from gateway import SECRET_KEY
from rawsigv4 import chunked_body, send, signed_headers, utcnow

ORIGINAL = b"the original content, which must survive every bad request\n"


@pytest.fixture()
def bucket(s3):
    b = f"bad-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="keep", Body=ORIGINAL)
    yield b
    for o in s3.list_objects_v2(Bucket=b).get("Contents", []):
        s3.delete_object(Bucket=b, Key=o["Key"])
    for u in s3.list_multipart_uploads(Bucket=b).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=b, Key=u["Key"], UploadId=u["UploadId"])
    s3.delete_bucket(Bucket=b)


def unchanged(s3, bucket, extra_absent=()):
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == ORIGINAL
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["keep"], keys
    for k in extra_absent:
        assert k not in keys


def test_wrong_secret(gateway, s3, bucket):
    r = send(gateway, "PUT", f"/{bucket}/keep", b"evil", secret="wrong")
    assert (r.status, r.code) == (403, "SignatureDoesNotMatch")
    r = send(gateway, "GET", f"/{bucket}/keep", secret="wrong")
    assert (r.status, r.code) == (403, "SignatureDoesNotMatch")
    unchanged(s3, bucket)


def test_anonymous_and_unknown_key(gateway, s3, bucket):
    r = send(gateway, "GET", f"/{bucket}/keep", sign=False)
    assert (r.status, r.code) == (403, "AccessDenied")
    r = send(gateway, "PUT", f"/{bucket}/new", b"x", sign=False)
    assert (r.status, r.code) == (403, "AccessDenied")
    r = send(gateway, "PUT", f"/{bucket}/keep", b"x", access="NOSUCHKEY")
    assert (r.status, r.code) == (403, "InvalidAccessKeyId")
    r = send(gateway, "GET", f"/{bucket}/keep", sign=False, headers={"Authorization": "AWS4-HMAC-SHA256 Credential=x"})
    assert (r.status, r.code) == (400, "AuthorizationHeaderMalformed")
    unchanged(s3, bucket)


def test_clock_skew(gateway, s3, bucket):
    r = send(gateway, "GET", f"/{bucket}/keep", when=utcnow() - datetime.timedelta(minutes=20))
    assert (r.status, r.code) == (403, "RequestTimeTooSkewed")


def test_payload_hash_mismatch(gateway, s3, bucket):
    r = send(gateway, "PUT", f"/{bucket}/keep", b"tampered body", payload_hash=hashlib.sha256(b"other").hexdigest())
    assert (r.status, r.code) == (400, "XAmzContentSHA256Mismatch")
    unchanged(s3, bucket)


def test_truncated_body(gateway, s3, bucket):
    body = os.urandom(1 << 20)
    send(gateway, "PUT", f"/{bucket}/keep", body, close_after=1000)
    send(gateway, "PUT", f"/{bucket}/new", body, close_after=500_000, payload_hash="UNSIGNED-PAYLOAD")
    unchanged(s3, bucket, ["new"])


def test_content_length_larger_than_body_is_not_stored(gateway, s3, bucket):
    # Declares 2 MiB, sends 1 MiB and half-closes: the server must not store a short object.
    body = os.urandom(1 << 20)
    send(gateway, "PUT", f"/{bucket}/short", body, headers={"Content-Length": str(2 << 20)},
         payload_hash="UNSIGNED-PAYLOAD", close_after=len(body))
    unchanged(s3, bucket, ["short"])


@pytest.mark.parametrize("header,value,code", [
    ("x-amz-checksum-crc32", base64.b64encode(b"\0\0\0\0").decode(), "BadDigest"),
    ("x-amz-checksum-sha256", base64.b64encode(hashlib.sha256(b"x").digest()).decode(), "BadDigest"),
    ("Content-MD5", base64.b64encode(hashlib.md5(b"x").digest()).decode(), "BadDigest"),
    ("Content-MD5", "not-md5", "InvalidDigest"),
    ("x-amz-checksum-crc32", "###", "InvalidRequest"),
])
def test_wrong_checksums(gateway, s3, bucket, header, value, code):
    r = send(gateway, "PUT", f"/{bucket}/keep", b"replacement", headers={header: value})
    assert (r.status, r.code) == (400, code)
    unchanged(s3, bucket)


def test_right_checksum_is_stored_and_returned(gateway, s3, bucket):
    body = b"checksummed"
    crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    r = send(gateway, "PUT", f"/{bucket}/crc", body, headers={"x-amz-checksum-crc32": crc})
    assert r.status == 200 and r.headers.get("x-amz-checksum-crc32") == crc
    assert s3.head_object(Bucket=bucket, Key="crc", ChecksumMode="ENABLED")["ChecksumCRC32"] == crc


def streaming_headers(gateway, bucket, key, decoded):
    return signed_headers(gateway, "PUT", f"/{bucket}/{key}", {
        "Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(decoded)},
        payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")


def test_signed_chunks(gateway, s3, bucket):
    data = [os.urandom(65536), os.urandom(1000)]
    h = streaming_headers(gateway, bucket, "chunked", 66536)
    r = send(gateway, "PUT", f"/{bucket}/chunked", chunked_body(h, data), headers=h, sign=False)
    assert r.status == 200, r.body
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == b"".join(data)
    for tamper in (0, 1, 2):
        h = streaming_headers(gateway, bucket, "keep", 66536)
        r = send(gateway, "PUT", f"/{bucket}/keep", chunked_body(h, data, tamper=tamper), headers=h, sign=False)
        assert (r.status, r.code) == (403, "SignatureDoesNotMatch"), tamper
    s3.delete_object(Bucket=bucket, Key="chunked")
    unchanged(s3, bucket)


@pytest.mark.parametrize("body", [
    b"zz;chunk-signature=" + b"0" * 64 + b"\r\nhello\r\n",
    b"5;chunk-signature=" + b"0" * 64 + b"\r\nhelloXX",
    b"5\r\nhello\r\n0\r\n\r\n",
])
def test_bad_chunk_framing(gateway, s3, bucket, body):
    h = streaming_headers(gateway, bucket, "keep", 5)
    r = send(gateway, "PUT", f"/{bucket}/keep", body, headers=h, sign=False)
    assert r.status in (400, 403) and r.code in ("IncompleteBody", "SignatureDoesNotMatch")
    unchanged(s3, bucket)


def test_decoded_length_mismatch(gateway, s3, bucket):
    h = streaming_headers(gateway, bucket, "keep", 99999)
    r = send(gateway, "PUT", f"/{bucket}/keep", chunked_body(h, [b"abc"]), headers=h, sign=False)
    assert (r.status, r.code) == (400, "IncompleteBody")
    unchanged(s3, bucket)


def test_malformed_and_oversized_xml(gateway, s3, bucket):
    for body in (b"<Delete><Object><Key>keep</Key>", b"<Nope/>", b"\x00\xff"):
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        r = send(gateway, "POST", f"/{bucket}?delete", body, headers={"Content-MD5": md5})
        assert (r.status, r.code) == (400, "MalformedXML"), body
    big = b"<Delete>" + b"<Object><Key>k</Key></Object>" * 100_000 + b"</Delete>"
    md5 = base64.b64encode(hashlib.md5(big).digest()).decode()
    r = send(gateway, "POST", f"/{bucket}?delete", big, headers={"Content-MD5": md5})
    assert r.status == 400 and r.code in ("MaxMessageLengthExceeded", "MalformedXML")
    body = b"<Delete><Object><Key>keep</Key></Object></Delete>"
    r = send(gateway, "POST", f"/{bucket}?delete", body)
    assert (r.status, r.code) == (400, "InvalidRequest")  # neither Content-MD5 nor a checksum
    unchanged(s3, bucket)


def test_names(gateway, s3, bucket):
    for name in ("AB", "bad_bucket", "-x-", "a" * 64):
        r = send(gateway, "PUT", f"/{name}")
        assert (r.status, r.code) == (400, "InvalidBucketName"), name
    r = send(gateway, "PUT", f"/{bucket}/" + "k" * 1025, b"x")
    assert (r.status, r.code) == (400, "KeyTooLongError")
    r = send(gateway, "GET", "/no-such-bucket-xyz/k")
    assert (r.status, r.code) == (404, "NoSuchBucket")
    r = send(gateway, "GET", f"/{bucket}/nothing")
    assert (r.status, r.code) == (404, "NoSuchKey")
    r = send(gateway, "DELETE", f"/{bucket}")
    assert (r.status, r.code) == (409, "BucketNotEmpty")
    # us-east-1 answers the re-creation of one's own bucket 200 (legacy), and changes nothing.
    r = send(gateway, "PUT", f"/{bucket}")
    assert r.status == 200
    unchanged(s3, bucket)


def test_keys_never_escape_the_data_dir(gateway, s3, bucket):
    evil = ["../../../../tmp/passerelle-escape", "/etc/passwd", "a/../../b", "x" * 255 + "/" + "y" * 700, "é/../\u202e"]
    for k in evil:
        s3.put_object(Bucket=bucket, Key=k, Body=b"data:" + k.encode())
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == b"data:" + k.encode()
    assert not os.path.exists("/tmp/passerelle-escape")
    for root, _, files in os.walk(gateway.data_dir):
        for f in files:
            assert "passwd" not in f and "escape" not in f
    for k in evil:
        s3.delete_object(Bucket=bucket, Key=k)
    unchanged(s3, bucket)


def test_ranges(gateway, s3, bucket):
    r = send(gateway, "GET", f"/{bucket}/keep", headers={"Range": f"bytes={len(ORIGINAL)}-"})
    assert (r.status, r.code) == (416, "InvalidRange")
    r = send(gateway, "GET", f"/{bucket}/keep", headers={"Range": "bytes=-5"})
    assert r.status == 206 and r.body == ORIGINAL[-5:]
    r = send(gateway, "GET", f"/{bucket}/keep", headers={"Range": "bytes=5-1"})  # invalid: whole object
    assert r.status == 200 and r.body == ORIGINAL


def test_conditionals(gateway, s3, bucket):
    etag = s3.head_object(Bucket=bucket, Key="keep")["ETag"]
    r = send(gateway, "GET", f"/{bucket}/keep", headers={"If-None-Match": etag})
    assert r.status == 304 and r.body == b""
    r = send(gateway, "GET", f"/{bucket}/keep", headers={"If-Match": '"nope"'})
    assert (r.status, r.code) == (412, "PreconditionFailed")
    r = send(gateway, "PUT", f"/{bucket}/keep", b"overwrite", headers={"If-None-Match": "*"})
    assert (r.status, r.code) == (412, "PreconditionFailed")
    r = send(gateway, "PUT", f"/{bucket}/keep", b"overwrite", headers={"If-Match": '"nope"'})
    assert (r.status, r.code) == (412, "PreconditionFailed")
    got = s3.get_object(Bucket=bucket, Key="keep", ResponseContentType="text/x-test", ResponseContentDisposition="inline")
    assert got["ContentType"] == "text/x-test" and got["ContentDisposition"] == "inline"
    r = send(gateway, "PUT", f"/{bucket}/keep", headers={"x-amz-copy-source": f"/{bucket}/keep"})
    assert (r.status, r.code) == (400, "InvalidRequest")
    r = send(gateway, "PUT", f"/{bucket}/copy", headers={"x-amz-copy-source": f"/{bucket}/keep", "x-amz-copy-source-if-match": '"x"'})
    assert (r.status, r.code) == (412, "PreconditionFailed")
    unchanged(s3, bucket)


def test_multipart_errors(gateway, s3, bucket):
    r = send(gateway, "PUT", f"/{bucket}/mp?partNumber=1&uploadId=nope", b"x")
    assert (r.status, r.code) == (404, "NoSuchUpload")
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    r = send(gateway, "PUT", f"/{bucket}/mp?partNumber=0&uploadId={up}", b"x")
    assert (r.status, r.code) == (400, "InvalidArgument")
    e1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"a" * 100)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=2, Body=b"b" * 100)["ETag"]

    def complete(parts):
        xml = "<CompleteMultipartUpload>" + "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in parts) + "</CompleteMultipartUpload>"
        return send(gateway, "POST", f"/{bucket}/mp?uploadId={up}", xml.encode())
    r = complete([(1, '"0000"'), (2, e2)])
    assert (r.status, r.code) == (400, "InvalidPart")
    r = complete([(2, e2), (1, e1)])
    assert (r.status, r.code) == (400, "InvalidPartOrder")
    r = complete([(1, e1), (2, e2)])
    assert (r.status, r.code) == (400, "EntityTooSmall")
    r = complete([(1, e1), (3, e2)])
    assert (r.status, r.code) == (400, "InvalidPart")
    r = complete([(2, e2)])  # a single small last part is fine
    assert r.status == 200, r.body
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"b" * 100
    s3.delete_object(Bucket=bucket, Key="mp")
    unchanged(s3, bucket)


@pytest.mark.parametrize("version", ["s3v4", "s3"])  # "s3" is SigV2 query auth, boto3's default presigner
def test_expired_presigned_url(gateway, s3, bucket, version):
    import time
    import urllib.error
    import urllib.request
    from conftest import make_client
    c = make_client(gateway.endpoint, signature_version=version)
    url = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "keep"}, ExpiresIn=1)
    time.sleep(2.1)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url)
    assert e.value.code == 403 and b"Request has expired" in e.value.read()


@pytest.mark.parametrize("expires,status,message", [
    ("0", 403, b"Request has expired"),
    ("-1", 400, b"X-Amz-Expires must be non-negative"),
    ("604801", 400, b"X-Amz-Expires must be less than a week"),
])
def test_presigned_expiry_bounds(gateway, s3, bucket, expires, status, message):
    """X-Amz-Expires of zero, negative or above 7 days, answered with AWS's status and message."""
    import re
    import urllib.error
    import urllib.request
    from conftest import make_client
    c = make_client(gateway.endpoint, signature_version="s3v4")
    url = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "keep"}, ExpiresIn=60)
    url = re.sub(r"X-Amz-Expires=\d+", f"X-Amz-Expires={expires}", url)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url)
    assert e.value.code == status and message in e.value.read()
    unchanged(s3, bucket)


def test_sigv2_presigned_urls(gateway, s3, bucket):
    import urllib.error
    import urllib.request
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "keep", "ResponseContentType": "text/x-v2"}, ExpiresIn=60)
    assert "AWSAccessKeyId=" in url
    with urllib.request.urlopen(url) as r:
        assert r.read() == ORIGINAL and r.headers["Content-Type"] == "text/x-v2"
    for bad in (url.replace("Signature=", "Signature=AA"), url.replace("/keep?", "/keep2?")):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(bad)
        assert e.value.code in (403, 404)


def test_garbage_requests_do_not_crash(gateway, s3, bucket):
    import socket
    for junk in (b"\x16\x03\x01\x00\xff" + os.urandom(200), b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                 b"PUT /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n", b"\r\n\r\n\r\n"):
        s = socket.create_connection(("127.0.0.1", gateway.port), timeout=5)
        try:
            s.sendall(junk)
            s.recv(4096)
        except OSError:
            pass
        finally:
            s.close()
    unchanged(s3, bucket)


def test_virtual_host_addressing(gateway, s3, bucket):
    host = f"{bucket}.localhost:{gateway.port}"
    body = b"via virtual host"
    r = send(gateway, "PUT", "/vh/key.txt", body, headers={"Host": host}, host=host)
    assert r.status == 200, r.body
    assert s3.get_object(Bucket=bucket, Key="vh/key.txt")["Body"].read() == body
    r = send(gateway, "GET", "/?list-type=2&prefix=vh%2F", headers={"Host": host}, host=host)
    assert r.status == 200 and b"<Key>vh/key.txt</Key>" in r.body
    s3.delete_object(Bucket=bucket, Key="vh/key.txt")
    unchanged(s3, bucket)
