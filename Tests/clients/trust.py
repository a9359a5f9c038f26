"""Helpers for the trust tests: TOTP codes (RFC 6238, computed here from the enrolment
secret as an authenticator app would), sign-in, session clients, and the independent
checks of what the audit log serves."""
import base64
import hashlib
import hmac
import json
import re
import struct
import time

import boto3
import requests
from botocore.config import Config

from gateway import run_cli

PASSWORD = "correct-horse-battery-staple"


def totp(secret_b32, t=None):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int((time.time() if t is None else t) // 30)), hashlib.sha1).digest()
    o = mac[-1] & 15
    return "%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 1000000)


def add_user(g, name):
    """Creates the user; returns its TOTP secret (base32) from the enrolment output."""
    out = run_cli("user", "add", name, data_dir=g.data_dir, env={"PASSERELLE_PASSWORD": PASSWORD}).stdout
    m = re.search(r"TOTP secret \(base32\): ([A-Z2-7]+)", out)
    assert m and f"otpauth://totp/Passerelle:{name}?secret={m.group(1)}" in out, out
    assert any(c in out for c in "█▀▄"), "the URI is also shown as a terminal QR code"
    return m.group(1)


def next_code(secret):
    """A code for a step not used yet: the current one, else the next (accepted one step
    early, RFC 6238 §5.2), else it waits for the clock to catch up."""
    while True:
        now = time.time()
        step = int(now // 30)
        last = next_code.used.get(secret, -1)
        for s in (step, step + 1):
            if s > last:
                next_code.used[secret] = s
                return totp(secret, s * 30)
        time.sleep((last - step) * 30 + 0.05)


next_code.used = {}


def sign_in(g, user, code, project, password=PASSWORD, duration=None):
    body = {"user": user, "password": password, "totp": code, "project": project}
    if duration:
        body["duration_seconds"] = duration
    r = requests.post(g.endpoint + "/session", json=body, timeout=30)
    return r.status_code, r.json()


def session_client(g, creds):
    return boto3.client("s3", endpoint_url=g.endpoint, region_name="us-east-1",
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"],
                        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))


def audit_entries(g):
    """The log's entries as exported (JSON Lines), by index."""
    out = run_cli("audit", "export", data_dir=g.data_dir).stdout
    entries = {}
    for line in out.splitlines():
        d = json.loads(line)
        if "index" in d and "entry" in d:
            entries[d["index"]] = d["entry"]
    return entries


def verify_checkpoint(note, vkey):
    """Checks a C2SP signed note with ECDSA P-256 (type 0x02: key ID = SHA-256(SPKI)[:4]) using
    pyca/cryptography; returns (origin, size, root bytes)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    name, key_hash, key_b64 = vkey.strip().split("+", 2)
    raw = base64.b64decode(key_b64)
    assert raw[0] == 0x02
    spki = raw[1:]
    assert hashlib.sha256(spki).digest()[:4].hex() == key_hash
    public = serialization.load_der_public_key(spki)
    text, sigs = note.split("\n\n", 1)
    text += "\n"
    ok = False
    for line in sigs.splitlines():
        dash, signer, sig_b64 = line.split(" ")
        assert dash == "\u2014"
        sig = base64.b64decode(sig_b64)
        if signer == name and sig[:4] == hashlib.sha256(spki).digest()[:4]:
            public.verify(sig[4:], text.encode(), ec.ECDSA(hashes.SHA256()))
            ok = True
    assert ok, "no signature by the log's key"
    origin, size, root = text.splitlines()[:3]
    assert origin == name
    return origin, int(size), base64.b64decode(root)
