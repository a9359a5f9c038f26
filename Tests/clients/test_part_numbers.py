"""GetObject and HeadObject with `partNumber` on every placement: a multipart object's parts are
addressed by number (206 with Content-Range, `PartsCount`), a single-part object is its part 1,
and a part that does not exist, or a part number with a Range, is refused as S3 refuses them."""
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import make_client

MiB = 1 << 20


@pytest.fixture(scope="session")
def gateway(placed_gateway):
    return placed_gateway


@pytest.fixture(scope="session")
def s3(gateway):
    return make_client(gateway.endpoint)


def error(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"]


def test_parts_by_number(s3):
    b = f"pn-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=b)
    parts = [bytes([65 + i]) * size for i, size in enumerate([5 * MiB, 5 * MiB + 3, 1000])]
    up = s3.create_multipart_upload(Bucket=b, Key="mp")["UploadId"]
    etags = [s3.upload_part(Bucket=b, Key="mp", UploadId=up, PartNumber=i + 1, Body=p)["ETag"] for i, p in enumerate(parts)]
    s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
    total = sum(map(len, parts))
    offset = 0
    for i, p in enumerate(parts):
        r = s3.get_object(Bucket=b, Key="mp", PartNumber=i + 1)
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert r["ContentRange"] == f"bytes {offset}-{offset + len(p) - 1}/{total}"
        assert r["PartsCount"] == 3 and r["ContentLength"] == len(p)
        assert r["Body"].read() == p
        h = s3.head_object(Bucket=b, Key="mp", PartNumber=i + 1)
        assert h["ContentLength"] == len(p) and h["PartsCount"] == 3
        offset += len(p)
    assert error(lambda: s3.get_object(Bucket=b, Key="mp", PartNumber=4)) == (416, "InvalidPartNumber")
    assert error(lambda: s3.get_object(Bucket=b, Key="mp", PartNumber=1, Range="bytes=0-1")) == (400, "InvalidRequest")
    assert error(lambda: s3.get_object(Bucket=b, Key="mp", PartNumber=0))[0] == 400
    # A single-part object is its own part 1.
    s3.put_object(Bucket=b, Key="one", Body=b"single")
    assert s3.get_object(Bucket=b, Key="one", PartNumber=1)["Body"].read() == b"single"
    assert error(lambda: s3.get_object(Bucket=b, Key="one", PartNumber=2)) == (416, "InvalidPartNumber")


def raw_put(gateway, path, headers, body=b"x"):
    """A PUT whose header values travel as raw UTF-8 bytes (as some clients send them), signed
    over those bytes."""
    import hashlib
    import http.client
    from rawsigv4 import signed_headers
    h = signed_headers(gateway, "PUT", path, dict(headers, **{"Content-Length": str(len(body))}), hashlib.sha256(body).hexdigest())
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    conn.putrequest("PUT", path, skip_accept_encoding=True)
    for k, v in h.items():
        conn.putheader(k, v.encode() if isinstance(v, str) else v)
    conn.endheaders()
    conn.send(body)
    r = conn.getresponse()
    r.read()
    conn.close()
    return r.status


def test_non_ascii_metadata_round_trips_as_aws_returns_it(s3, gateway):
    """S3 decodes RFC 2047 encoded-words in metadata values and returns a value beyond ASCII as
    one `=?UTF-8?B?…?=` word; boto3 itself refuses non-ASCII metadata, so values are sent raw."""
    import base64
    b = f"meta-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=b)
    assert raw_put(gateway, f"/{b}/utf8", {"x-amz-meta-patient-city": "Orléans ✓"}) == 200
    want = "=?UTF-8?B?" + base64.b64encode("Orléans ✓".encode()).decode() + "?="
    assert s3.head_object(Bucket=b, Key="utf8")["Metadata"] == {"patient-city": want}
    # An encoded-word is decoded, then returned encoded the same way; plain ASCII is untouched.
    assert raw_put(gateway, f"/{b}/word", {"x-amz-meta-a": "=?utf-8?q?Orl=C3=A9ans_=E2=9C=93?=", "x-amz-meta-b": "plain =? text"}) == 200
    assert s3.get_object(Bucket=b, Key="word")["Metadata"] == {"a": want, "b": "plain =? text"}
    # Copies keep the decoded value.
    s3.copy_object(Bucket=b, Key="copy", CopySource={"Bucket": b, "Key": "utf8"})
    assert s3.head_object(Bucket=b, Key="copy")["Metadata"] == {"patient-city": want}


def test_part_uploaded_twice_the_last_answered_wins(s3, gateway):
    """Two uploads of one part number overlap, the first one finishing last: the part is the
    one whose answer came last, and completing with its ETag gives its bytes."""
    import hashlib
    import http.client
    import threading
    import time
    from rawsigv4 import signed_headers
    b = f"twice-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=b)
    up = s3.create_multipart_upload(Bucket=b, Key="k")["UploadId"]
    bodies = {"slow": b"s" * (5 * MiB), "fast": b"f" * (5 * MiB)}
    answers = []

    def upload(name, pause):
        path = f"/{b}/k?partNumber=1&uploadId={up}"
        body = bodies[name]
        h = signed_headers(gateway, "PUT", path, {"Content-Length": str(len(body))}, hashlib.sha256(body).hexdigest())
        conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=60)
        conn.putrequest("PUT", path, skip_accept_encoding=True)
        for k, v in h.items():
            conn.putheader(k, v)
        conn.endheaders()
        conn.send(body[:MiB])
        time.sleep(pause)
        conn.send(body[MiB:])
        r = conn.getresponse()
        r.read()
        answers.append((name, r.status, r.getheader("ETag")))
        conn.close()

    slow = threading.Thread(target=upload, args=("slow", 1.5))
    slow.start()
    time.sleep(0.3)
    upload("fast", 0)
    slow.join()
    assert [a[1] for a in answers] == [200, 200], answers
    name, _, etag = answers[-1]
    s3.complete_multipart_upload(Bucket=b, Key="k", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3.get_object(Bucket=b, Key="k")["Body"].read() == bodies[name]
