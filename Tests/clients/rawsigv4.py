"""Hand-made S3 requests for bad-input tests: signed with botocore's SigV4 signer, sent with
http.client so that bodies, lengths and framing can be wrong on purpose."""
import datetime
import hashlib
import hmac
import http.client
import re

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from gateway import ACCESS_KEY, SECRET_KEY

EMPTY = hashlib.sha256(b"").hexdigest()


class FixedPayloadAuth(S3SigV4Auth):
    """S3's signer, but signing exactly the payload hash we give (right or wrong)."""

    def __init__(self, credentials, payload_hash):
        super().__init__(credentials, "s3", "us-east-1")
        self.payload_hash = payload_hash

    def payload(self, request):
        return self.payload_hash


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def code(self):
        m = re.search(rb"<Code>([^<]+)</Code>", self.body)
        return m.group(1).decode() if m else None


def signed_headers(gateway, method, path, headers=None, payload_hash=EMPTY, secret=SECRET_KEY, access=ACCESS_KEY, when=None, host=None):
    url = (f"http://{host}" if host else gateway.endpoint) + path
    h = dict(headers or {})
    h["x-amz-content-sha256"] = payload_hash
    req = AWSRequest(method=method, url=url, headers=h)
    auth = FixedPayloadAuth(Credentials(access, secret), payload_hash)
    if when is not None:
        # botocore reads the clock itself; patch its notion of now.
        import botocore.auth as ba
        real = ba.datetime.datetime

        class Fixed(real):
            @classmethod
            def utcnow(cls):
                return when

            @classmethod
            def now(cls, tz=None):
                return when.replace(tzinfo=tz) if tz else when
        ba.datetime.datetime = Fixed
        try:
            auth.add_auth(req)
        finally:
            ba.datetime.datetime = real
    else:
        auth.add_auth(req)
    return dict(req.headers.items())


def send(gateway, method, path, body=b"", headers=None, sign=True, payload_hash=None, close_after=None, **kw):
    """Sends one request; `close_after` sends only that many body bytes and closes."""
    h = dict(headers or {})
    if sign:
        ph = payload_hash if payload_hash is not None else hashlib.sha256(body).hexdigest()
        h = signed_headers(gateway, method, path, h, ph, **kw)
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    conn.putrequest(method, path, skip_accept_encoding=True, skip_host=any(k.lower() == "host" for k in h))
    if "Content-Length" not in h and "content-length" not in {k.lower() for k in h}:
        h["Content-Length"] = str(len(body))
    for k, v in h.items():
        conn.putheader(k, v)
    conn.endheaders()
    if close_after is not None:
        conn.send(body[:close_after])
        conn.sock.shutdown(2)
        conn.close()
        return None
    if body:
        conn.send(body)
    r = conn.getresponse()
    resp = Response(r.status, dict(r.getheaders()), r.read())
    conn.close()
    return resp


def signing_key(date, secret=SECRET_KEY):
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in ("us-east-1", "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def chunked_body(headers, chunks, tamper=None):
    """Builds a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body from the seed signature in `headers`."""
    seed = re.search(r"Signature=([0-9a-f]{64})", headers["Authorization"]).group(1)
    ts = headers["X-Amz-Date"]
    scope = f"{ts[:8]}/us-east-1/s3/aws4_request"
    key = signing_key(ts[:8])
    prev, out = seed, b""
    for i, data in enumerate(list(chunks) + [b""]):
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", ts, scope, prev, EMPTY, hashlib.sha256(data).hexdigest()])
        sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        if tamper == i:
            sig = "0" * 64
        out += f"{len(data):x};chunk-signature={sig}\r\n".encode() + data + b"\r\n"
        prev = sig
    return out


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
