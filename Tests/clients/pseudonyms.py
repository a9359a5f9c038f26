"""Privacy-view pseudonyms computed independently of the gateway, from docs/privacy.md:
HKDF-SHA-256 (RFC 5869) from the deployment's pseudonym secret, then HMAC-SHA-256 of the
normalised identifier, its first 160 bits in lower-case base32 without padding."""

import base64
import hashlib
import hmac
import json
import sys

SALT = b"passerelle/pseudonym/v1"


def hkdf(secret: bytes, info: bytes, length: int = 32) -> bytes:
    prk = hmac.new(SALT, secret, hashlib.sha256).digest()
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def project_key(secret: bytes, label: str, project: str, epoch: int, dataset: str | None = None) -> bytes:
    info = label.encode() + b"\0" + project.encode() + b"\0" + str(epoch).encode()
    if dataset is not None:
        info += b"\0" + dataset.encode()
    return hkdf(secret, info)


def pseudonym(key: bytes, normalised: str) -> str:
    mac = hmac.new(key, normalised.encode(), hashlib.sha256).digest()
    return base64.b32encode(mac[:20]).decode().lower().rstrip("=")


def shift_days(key: bytes, normalised: str, max_days: int) -> int:
    mac = hmac.new(key, normalised.encode(), hashlib.sha256).digest()
    return int.from_bytes(mac[:8], "big") % (2 * max_days + 1) - max_days


def optout_hash(secret: bytes, identifier: str) -> bytes:
    canonical = "".join(identifier.split()).upper()
    return hmac.new(hkdf(secret, b"optout"), canonical.encode(), hashlib.sha256).digest()


def vectors() -> dict:
    secret = bytes(range(32))
    cases = []
    for project, epoch, dataset, raw, normalised in [
        ("cohort-a", 1, None, "1 85 05 75 123 456", "1850575123456"),
        ("cohort-a", 1, None, "185057512345 6", "1850575123456"),
        ("cohort-b", 1, None, "1 85 05 75 123 456", "1850575123456"),
        ("cohort-a", 2, None, "1 85 05 75 123 456", "1850575123456"),
        ("cohort-a", 1, "pmsi", "1 85 05 75 123 456", "1850575123456"),
        ("cohort-a", 1, None, "2 91 2a 04 567 890", "2912A04567890"),
        ("équipe-é", 7, None, "", ""),
    ]:
        pkey = project_key(secret, "pseudonym", project, epoch, dataset)
        skey = project_key(secret, "shift", project, epoch, dataset)
        cases.append({
            "project": project, "epoch": epoch, "dataset": dataset, "input": raw, "normalised": normalised,
            "pseudonym_key": pkey.hex(), "pseudonym": pseudonym(pkey, normalised),
            "shift_max": 30, "shift": shift_days(skey, normalised, 30),
            "optout_hash": optout_hash(secret, raw).hex(),
        })
    return {"secret": secret.hex(), "normalise": ["strip_spaces", "upper"], "cases": cases}


if __name__ == "__main__":
    json.dump(vectors(), sys.stdout, indent=1, ensure_ascii=False)
    print()
