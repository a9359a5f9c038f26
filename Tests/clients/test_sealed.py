"""Sealed datasets: what the backend holds reveals nothing, tampering is refused, keys rotate
and shred, and the catalog is rebuilt from the backend alone."""
import concurrent.futures
import glob
import os
import re
import subprocess
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import make_client
from gateway import BINARY, Gateway, run_cli, sealed_gateway

SEALED = ["local", "seaweedfs"]


class Raw:
    """The sealed dataset's objects as the backend itself holds them."""

    def __init__(self, gateway, peer, dataset):
        self.g, self.peer, self.prefix = gateway, peer, f"{dataset}/"

    def names(self):
        if self.peer is None:
            return sorted(os.path.basename(p) for p in glob.glob(os.path.join(self.g.data_dir, "store", "blobs", "*", "*")))
        return sorted(n[len(self.prefix):] for n in self.peer.list_direct("passerelle-sealed", self.prefix))

    def path(self, name):
        return os.path.join(self.g.data_dir, "store", "blobs", name[:2], name)

    def read(self, name):
        if self.peer is None:
            return open(self.path(name), "rb").read()
        return self.peer.read_direct("passerelle-sealed", self.prefix + name)

    def write(self, name, data):
        if self.peer is None:
            with open(self.path(name), "wb") as f:
                f.write(data)
        else:
            self.peer.write_direct("passerelle-sealed", self.prefix + name, data)

    def attributes(self, name):
        return ("", {}) if self.peer is None else self.peer.attributes_direct("passerelle-sealed", self.prefix + name)


@pytest.fixture(scope="module", params=SEALED)
def sealed(request):
    peer = None if request.param == "local" else request.getfixturevalue(request.param)
    g = sealed_gateway(request.param, peer)
    yield g, peer
    g.cleanup()


def new_dataset(g, peer, name):
    s3 = make_client(g.endpoint)
    s3.create_bucket(Bucket=name)
    return s3, Raw(g, peer, name)


def metric(g, name):
    text = urllib.request.urlopen(g.metrics_endpoint + "/metrics", timeout=5).read().decode()
    m = re.search(rf"^{name} (\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def test_backend_learns_no_name_metadata_or_plaintext(sealed):
    g, peer = sealed
    s3, raw = new_dataset(g, peer, "leak-check")
    plain = os.urandom(150_000) + b"Dupont, Jeanne; 1961-04-12; 75013 Paris; diabetes type 2\n" * 200
    key = "cohort-2024/patient-dupont-jeanne.csv"
    s3.put_object(Bucket="leak-check", Key=key, Body=plain, ContentType="text/x-patient-record",
                  Metadata={"study": "oncology-confidential"}, CacheControl="no-store-secret")
    s3.upload_fileobj(__import__("io").BytesIO(plain * 40), "leak-check", "multipart-patient-file.bin",
                      Config=__import__("boto3").s3.transfer.TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
    assert s3.get_object(Bucket="leak-check", Key=key)["Body"].read() == plain
    names = raw.names()
    assert names, "nothing on the backend"
    blob = b"".join(raw.read(n) for n in names)
    listing = " ".join(names)
    for secret in [key, "patient", "dupont", "oncology", "x-patient-record", "no-store-secret", "leak-check/cohort"]:
        assert secret not in listing and secret.encode() not in blob.lower(), secret
    for n in names:
        ctype, meta = raw.attributes(n)
        assert meta == {} and "patient" not in ctype
    # No 16-byte run of the plaintext appears anywhere in what the backend holds.
    windows = {plain[i:i + 16] for i in range(0, len(plain) - 15)}
    assert not any(blob[i:i + 16] in windows for i in range(0, len(blob) - 15))
    # Clients see plaintext sizes and ETags.
    head = s3.head_object(Bucket="leak-check", Key=key)
    assert head["ContentLength"] == len(plain) and head["ETag"] == '"%s"' % __import__("hashlib").md5(plain).hexdigest()


def test_tampering_is_refused_and_counted(sealed):
    g, peer = sealed
    s3, raw = new_dataset(g, peer, "tamper")
    bodies = {f"obj-{i}": os.urandom(70_000) for i in range(5)}
    earlier = set(raw.names())  # the local store is shared by every local dataset
    for k, v in bodies.items():
        s3.put_object(Bucket="tamper", Key=k, Body=v)
    payloads = [n for n in raw.names() if not n.endswith(".h") and n not in earlier]
    assert len(payloads) == 5
    before = metric(g, "passerelle_integrity_failures_total")
    originals = {n: raw.read(n) for n in payloads}

    def failing_reads():
        bad = 0
        for k, v in bodies.items():
            try:
                got = s3.get_object(Bucket="tamper", Key=k)["Body"].read()
                assert got == v, "wrong bytes served"
            except ClientError as e:
                assert e.response["Error"]["Code"] == "InternalError"
                assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 500
                bad += 1
            except Exception as e:  # a stream cut after the first chunk: never wrong bytes
                assert "wrong bytes" not in str(e)
                bad += 1
        return bad

    cases = {
        "flipped bit": lambda d: d[:100] + bytes([d[100] ^ 1]) + d[101:],
        "flipped bit in a later chunk": lambda d: d[:40_000] + bytes([d[40_000] ^ 0x80]) + d[40_001:],
        "truncated": lambda d: d[:-1],
        "extended": lambda d: d + b"\0",
        "chunks swapped": lambda d: d[16400:32800] + d[:16400] + d[32800:],
        "chunk duplicated": lambda d: d[:16400] + d[:16400] + d[32800:],
    }
    name = payloads[0]
    for what, change in cases.items():
        raw.write(name, change(originals[name]))
        assert failing_reads() == 1, what
        raw.write(name, originals[name])
    # A payload of another object in its place.
    raw.write(payloads[0], originals[payloads[1]])
    assert failing_reads() == 1
    raw.write(payloads[0], originals[payloads[0]])
    assert failing_reads() == 0
    assert metric(g, "passerelle_integrity_failures_total") >= before + len(cases) + 1
    # Locally the chunk authentication catches it; on S3 the backend ETag check (If-Match) usually
    # refuses the changed object first. Either way it is logged.
    log = open(g.log_path).read()
    assert "integrity alert" in log or "changed outside the gateway" in log
    # Ranged reads of tampered chunks fail too; untouched chunks of the same object still serve
    # locally (on S3 the changed ETag refuses every read of that object).
    raw.write(name, cases["flipped bit in a later chunk"](originals[name]))
    failures = 0
    for k, v in bodies.items():
        try:
            assert s3.get_object(Bucket="tamper", Key=k, Range="bytes=0-99")["Body"].read() == v[:100]
        except ClientError:
            assert peer is not None
        try:
            assert s3.get_object(Bucket="tamper", Key=k, Range="bytes=39990-40010")["Body"].read() == v[39990:40011]
        except ClientError as e:
            assert e.response["Error"]["Code"] == "InternalError"
            failures += 1
    assert failures == 1
    raw.write(name, originals[name])


def cli_env(g):
    return {"PASSERELLE_MASTER_KEY": g.master_key, **g.extra_env}


def test_shredded_key_makes_objects_unreadable_not_garbage(sealed):
    g, peer = sealed
    s3, _ = new_dataset(g, peer, "shred-me")
    s3.put_object(Bucket="shred-me", Key="old", Body=b"written under v1" * 1000)
    env = cli_env(g)
    run_cli("keys", "rotate", "shred-me", "--resume", data_dir=g.data_dir, config_path=g.config_path, env=env)
    r = subprocess.run([BINARY, "keys", "rotate", "shred-me", "--data-dir", g.data_dir, "--config", g.config_path],
                       capture_output=True, text=True, env=dict(os.environ, **env))
    assert r.returncode == 0, r.stderr
    s3.put_object(Bucket="shred-me", Key="new", Body=b"written under v2")
    # v1 still protects nothing once the rotation re-wrapped "old"; a forced shred of v2 (the
    # current version) is refused without --including-current.
    r = run_cli("keys", "shred", "shred-me", "--version", "2", "--force", data_dir=g.data_dir, config_path=g.config_path, env=env, check=False)
    assert r.returncode != 0 and "current key" in r.stderr
    run_cli("keys", "shred", "shred-me", "--version", "1", data_dir=g.data_dir, config_path=g.config_path, env=env)
    assert s3.get_object(Bucket="shred-me", Key="old")["Body"].read() == b"written under v1" * 1000
    # Retiring: destroy the current version too; every object is then refused as shredded.
    r = run_cli("keys", "shred", "shred-me", "--version", "2", data_dir=g.data_dir, config_path=g.config_path, env=env, check=False)
    assert r.returncode != 0 and "still under key version 2" in r.stderr
    run_cli("keys", "shred", "shred-me", "--version", "2", "--force", "--including-current",
            data_dir=g.data_dir, config_path=g.config_path, env=env)
    for k in ["old", "new"]:
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket="shred-me", Key=k)
        assert e.value.response["Error"]["Code"] == "InvalidObjectState"
        assert "shredded" in e.value.response["Error"]["Message"]
    assert metric(g, "passerelle_shredded_reads_total") >= 2
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket="shred-me", Key="old")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="shred-me")["Contents"]] == ["new", "old"]  # still listed
    listed = run_cli("keys", "list", "shred-me", data_dir=g.data_dir, config_path=g.config_path, env=env).stdout
    assert "v2\tshredded\t2 objects (unreadable)" in listed


def test_rotation_of_10000_objects_survives_kill_9(tmp_path):
    g = sealed_gateway("local")
    try:
        s3 = make_client(g.endpoint, max_pool_connections=32)
        s3.create_bucket(Bucket="big-cohort")
        bodies = {f"rows/{i:05d}.json": (b'{"row": %d}' % i) * 3 for i in range(10_000)}
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            list(pool.map(lambda kv: s3.put_object(Bucket="big-cohort", Key=kv[0], Body=kv[1]), bodies.items()))
        env = dict(os.environ, **cli_env(g))
        cmd = [BINARY, "keys", "rotate", "big-cohort", "--data-dir", g.data_dir, "--config", g.config_path]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        seen = []
        for line in proc.stdout:
            seen.append(line)
            m = re.search(r"re-wrapped (\d+)/10000", line)
            if m and int(m.group(1)) >= 4000:
                proc.kill()
                break
        proc.wait()
        assert proc.returncode == -9, "".join(seen)
        listed = run_cli("keys", "list", "big-cohort", data_dir=g.data_dir, config_path=g.config_path, env=cli_env(g)).stdout
        v1 = int(re.search(r"v1\tactive\t(\d+) objects", listed).group(1))
        assert 0 < v1 < 10_000, listed  # killed halfway
        # Reads keep working mid-rotation, whatever version each object is under.
        assert s3.get_object(Bucket="big-cohort", Key="rows/00000.json")["Body"].read() == bodies["rows/00000.json"]
        resumed = subprocess.run(cmd, capture_output=True, text=True, env=env)
        assert resumed.returncode == 0 and "finishing the rotation to version 2" in resumed.stdout, resumed.stdout + resumed.stderr
        listed = run_cli("keys", "list", "big-cohort", data_dir=g.data_dir, config_path=g.config_path, env=cli_env(g)).stdout
        assert "v1\tactive\t0 objects" in listed and "v2\tcurrent\t10000 objects" in listed, listed
        run_cli("keys", "shred", "big-cohort", "--version", "1", data_dir=g.data_dir, config_path=g.config_path, env=cli_env(g))
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            got = dict(pool.map(lambda k: (k, s3.get_object(Bucket="big-cohort", Key=k)["Body"].read()), bodies))
        assert got == bodies
        # The header objects were re-wrapped too: a rebuild from the backend needs only v2.
        os.remove(os.path.join(g.data_dir, "catalog.sqlite"))
        for suffix in ["-wal", "-shm"]:
            if os.path.exists(os.path.join(g.data_dir, "catalog.sqlite" + suffix)):
                os.remove(os.path.join(g.data_dir, "catalog.sqlite" + suffix))
        g.kill()
        run_cli("dataset", "create", "big-cohort", "--layout", "sealed", data_dir=g.data_dir, env=cli_env(g))
        out = run_cli("catalog", "rebuild", "big-cohort", data_dir=g.data_dir, env=cli_env(g)).stdout
        assert "10000 objects recovered" in out and "0 rejected" in out, out
    finally:
        g.cleanup()


def test_catalog_rebuild_from_the_backend_alone(sealed):
    g, peer = sealed
    s3, raw = new_dataset(g, peer, "rebuild-me")
    import boto3
    earlier = set(raw.names())
    s3.put_object(Bucket="rebuild-me", Key="a/é.txt", Body=b"hello", ContentType="text/plain", Metadata={"k": "v"})
    s3.put_object(Bucket="rebuild-me", Key="overwritten", Body=b"first")
    s3.put_object(Bucket="rebuild-me", Key="overwritten", Body=b"second")
    s3.put_object(Bucket="rebuild-me", Key="empty", Body=b"")
    big = os.urandom(11 << 20)
    s3.upload_fileobj(__import__("io").BytesIO(big), "rebuild-me", "multi",
                      Config=boto3.s3.transfer.TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20),
                      ExtraArgs={"ChecksumAlgorithm": "CRC32"})
    heads = {k: s3.head_object(Bucket="rebuild-me", Key=k, ChecksumMode="ENABLED") for k in ["a/é.txt", "overwritten", "empty", "multi"]}
    # Lose the dataset's catalog rows (the catalog itself is shared with other tests' datasets).
    g.stop()
    import sqlite3
    db = sqlite3.connect(os.path.join(g.data_dir, "catalog.sqlite"))
    db.execute("DELETE FROM objects WHERE bucket = 'rebuild-me'")
    db.commit()
    db.close()
    headers = [n for n in raw.names() if n.endswith(".h") and n not in earlier]
    env = cli_env(g)
    out = run_cli("catalog", "rebuild", "rebuild-me", data_dir=g.data_dir, config_path=g.config_path, env=env).stdout
    assert "4 objects recovered" in out and "0 rejected" in out, out
    g.start()
    for k, h in heads.items():
        again = s3.head_object(Bucket="rebuild-me", Key=k, ChecksumMode="ENABLED")
        for field in ["ContentLength", "ETag", "ContentType", "Metadata", "ChecksumCRC32"]:
            assert again.get(field) == h.get(field), (k, field)
    assert s3.get_object(Bucket="rebuild-me", Key="overwritten")["Body"].read() == b"second"
    assert s3.get_object(Bucket="rebuild-me", Key="multi", Range="bytes=5242000-5243000")["Body"].read() == big[5242000:5243001]
    assert len(headers) == 4 and len([n for n in raw.names() if n.endswith(".h") and n not in earlier]) == 4


def test_gateway_refuses_to_start_without_or_with_a_wrong_master_key():
    g = sealed_gateway("local")
    try:
        make_client(g.endpoint).create_bucket(Bucket="needs-keys")
        g.stop()
        for env in [{"PASSERELLE_MASTER_KEY": ""}, {"PASSERELLE_MASTER_KEY": __import__("base64").b64encode(os.urandom(32)).decode()}]:
            r = subprocess.run([BINARY, "serve", "--data-dir", g.data_dir, "--config", g.config_path, "--no-tls", "--listen", "127.0.0.1:0", "--metrics-listen", "none"],
                               capture_output=True, text=True, env=dict(os.environ, **env), timeout=60)
            assert r.returncode != 0
            assert "master key" in r.stderr, r.stderr
        # A master key file inside the data directory is refused too.
        path = os.path.join(g.data_dir, "master.key")
        open(path, "w").write(g.master_key)
        r = subprocess.run([BINARY, "serve", "--data-dir", g.data_dir, "--config", g.config_path, "--no-tls", "--listen", "127.0.0.1:0", "--metrics-listen", "none"],
                           capture_output=True, text=True, env=dict(os.environ, PASSERELLE_MASTER_KEY_FILE=path), timeout=60)
        assert r.returncode != 0 and "inside the data directory" in r.stderr, r.stderr
    finally:
        g.cleanup()


def test_catalog_backup_carries_the_sealed_keyring(tmp_path):
    g = sealed_gateway("local")
    try:
        s3 = make_client(g.endpoint)
        s3.create_bucket(Bucket="backed-up")
        s3.put_object(Bucket="backed-up", Key="k", Body=b"v" * 5000)
        dest = str(tmp_path / "backup")
        run_cli("catalog", "backup", dest, data_dir=g.data_dir, config_path=g.config_path, env=cli_env(g))
        assert open(os.path.join(dest, "keyring.sealed"), "rb").read() == open(os.path.join(g.data_dir, "keyring.sealed"), "rb").read()
        # Restore: the backed-up catalog and keyring in place of the live ones still serve the object.
        # The backup also holds the access store and the audit log (with their keys).
        assert {"catalog.sqlite", "keyring.sealed", "access.sqlite", "audit.sqlite", "audit-keys.sqlite", "access-secret",
                "audit-signing-key.pem"} <= set(os.listdir(dest))
        g.stop()
        for name in os.listdir(dest):
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(os.path.join(g.data_dir, name + suffix)):
                    os.remove(os.path.join(g.data_dir, name + suffix))
            os.replace(os.path.join(dest, name), os.path.join(g.data_dir, name))
        g.start()
        assert s3.get_object(Bucket="backed-up", Key="k")["Body"].read() == b"v" * 5000
        assert "OK:" in run_cli("audit", "verify", data_dir=g.data_dir).stdout
        r = run_cli("catalog", "backup", dest, data_dir=g.data_dir, config_path=g.config_path, env=cli_env(g), check=False)
        assert r.returncode == 0  # the directory is empty again after the restore moved the files
    finally:
        g.cleanup()
