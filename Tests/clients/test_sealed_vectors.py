"""The published sealed-format vectors (Tests/Vectors/sealed-v1.json) opened by an independent
implementation: pyca/cryptography's HKDF-SHA-512 and AES-GCM, following docs/sealed-format.md
only (no code shared with the gateway)."""
import hashlib
import json
import pathlib
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VECTORS = pathlib.Path(__file__).resolve().parents[1] / "Vectors" / "sealed-v1.json"
CHUNK = 16384


def chunk_nonce(segment, index, last):
    return segment.to_bytes(3, "big") + index.to_bytes(8, "big") + bytes([1 if last else 0])


def open_envelope(env, kek):
    assert env[0:4] == b"PSLD" and struct.unpack(">H", env[4:6])[0] == 1 and env[6:8] == b"\0\0"
    nonce, commitment = env[8:40], env[40:72]
    id_len = env[72]
    kek_id = env[73:73 + id_len]
    (version,) = struct.unpack(">I", env[137:141])
    wrapped = env[141:201]
    (m,) = struct.unpack(">I", env[201:205])
    assert len(env) == 205 + m
    aad = b"passerelle/sealed/v1/dek" + bytes([id_len]) + kek_id + struct.pack(">I", version) + nonce
    dek = AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], aad)
    okm = HKDF(algorithm=hashes.SHA512(), length=64, salt=nonce, info=b"passerelle/sealed/v1").derive(dek)
    key, derived_commitment = okm[:32], okm[32:]
    assert derived_commitment == commitment
    meta = AESGCM(key).decrypt(chunk_nonce(0xFFFFFF, 0, True), env[205:], env[0:72])
    return dek, key, json.loads(meta), kek_id.decode(), version


def open_payload(payload, key, segments):
    aead, out, at = AESGCM(key), bytearray(), 0
    for seg in segments:
        size, count = seg["size"], max(1, -(-seg["size"] // CHUNK))
        for i in range(count):
            n = min(CHUNK, size - i * CHUNK) + 16
            out += aead.decrypt(chunk_nonce(seg["number"], i, i == count - 1), payload[at:at + n], None)
            at += n
    assert at == len(payload)
    return bytes(out)


def test_vectors_open_with_an_independent_implementation():
    doc = json.loads(VECTORS.read_text())
    assert len(doc["vectors"]) >= 6
    for v in doc["vectors"]:
        dek, key, meta, kek_id, version = open_envelope(bytes.fromhex(v["envelope"]), bytes.fromhex(v["kek"]))
        assert dek.hex() == v["dek"] and key.hex() == v["aead_key"]
        assert kek_id == v["kek_id"] and version == v["kek_version"]
        assert meta["key"] == v["metadata"]["key"] and meta["size"] == v["plaintext_length"]
        assert meta["segments"] == v["segments"]
        plain = bytes(i % 251 for i in range(v["plaintext_length"]))
        assert meta["checksum"] == __import__("base64").b64encode(hashlib.sha256(plain).digest()).decode()
        if v.get("payload") is not None:
            payload = bytes.fromhex(v["payload"])
            assert hashlib.sha256(payload).hexdigest() == v["payload_sha256"]
            assert open_payload(payload, key, v["segments"]) == plain


def test_a_flipped_bit_fails_in_the_independent_implementation():
    import pytest
    from cryptography.exceptions import InvalidTag
    v = next(v for v in json.loads(VECTORS.read_text())["vectors"] if v["name"] == "three-chunks")
    _, key, _, _, _ = open_envelope(bytes.fromhex(v["envelope"]), bytes.fromhex(v["kek"]))
    payload = bytearray(bytes.fromhex(v["payload"]))
    payload[CHUNK + 20] ^= 1
    with pytest.raises(InvalidTag):
        open_payload(bytes(payload), key, v["segments"])
