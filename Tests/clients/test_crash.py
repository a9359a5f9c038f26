"""Durability: concurrent PUTs and multipart completes while the gateway is killed with SIGKILL
at random moments, 20 times. After each restart every acknowledged object reads back
byte-identical, and every listed object is complete (no half-written object is visible)."""
import hashlib
import os
import random
import threading
import time

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from conftest import make_client
from gateway import Gateway, backend_config

ROUNDS = int(os.environ.get("CRASH_ROUNDS", "20"))
MiB = 1024 * 1024


def content(key):
    """Deterministic content per key, so any listed object can be checked."""
    rnd = random.Random(key)
    size = rnd.choice([0, 1, 1000, 70_000, 300_000, 2 * MiB + 17, 11 * MiB])
    block = rnd.randbytes(4096)
    return (block * (size // 4096 + 1))[:size]


def writer(endpoint, bucket, prefix, acked, stop):
    s3 = make_client(endpoint, connect_timeout=2, read_timeout=10)
    n = 0
    while not stop.is_set():
        key = f"{prefix}/{n}"
        n += 1
        data = content(key)
        try:
            if len(data) > 8 * MiB:
                import io
                s3.upload_fileobj(io.BytesIO(data), bucket, key,
                                  Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, use_threads=False))
            else:
                s3.put_object(Bucket=bucket, Key=key, Body=data)
            acked.append(key)
        except Exception:
            return  # the gateway died under us


def kill_during(g, threads, stop, after):
    """Starts the writers, kills the gateway with SIGKILL `after` seconds later, lets the
    writers see it, and starts the gateway again on the same data directory."""
    for t in threads:
        t.start()
    time.sleep(after)
    g.kill()
    stop.set()
    for t in threads:
        t.join(30)
    g.start()


def test_kill_minus_nine():
    g = Gateway()
    g.start()
    bucket = "crash"
    make_client(g.endpoint).create_bucket(Bucket=bucket)
    acked = []
    rng = random.Random(42)
    try:
        for round_ in range(ROUNDS):
            stop = threading.Event()
            threads = [threading.Thread(target=writer, args=(g.endpoint, bucket, f"r{round_}/t{t}", acked, stop)) for t in range(6)]
            kill_during(g, threads, stop, rng.uniform(0.2, 1.5))
            s3 = make_client(g.endpoint, retries={"max_attempts": 2})
            listed = set()
            token = None
            while True:
                kw = {"Bucket": bucket}
                if token:
                    kw["ContinuationToken"] = token
                r = s3.list_objects_v2(**kw)
                listed |= {o["Key"]: o["Size"] for o in r.get("Contents", [])}.keys()
                if not r["IsTruncated"]:
                    break
                token = r["NextContinuationToken"]
            missing = [k for k in acked if k not in listed]
            assert not missing, f"round {round_}: acknowledged but lost: {missing[:5]}"
            for key in listed:
                got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                assert hashlib.sha256(got).digest() == hashlib.sha256(content(key)).digest(), f"round {round_}: {key} is corrupt"
        assert len(acked) > ROUNDS * 5, f"too few writes were acknowledged to prove anything: {len(acked)}"
    finally:
        g.cleanup()


VERSIONED_ROUNDS = int(os.environ.get("CRASH_VERSIONED_ROUNDS", "8"))


def versioned_content(key, seq):
    rnd = random.Random(f"{key}#{seq}")
    return rnd.randbytes(rnd.choice([0, 1, 1000, 70_000, 300_000]))


def versioned_writer(endpoint, bucket, keys, acked, stop, rng_seed):
    """Overwrites and deletes its own keys (so each key's operations are ordered); records
    each acknowledged operation as (key, seq, version id, is marker)."""
    s3 = make_client(endpoint, connect_timeout=2, read_timeout=10)
    rnd = random.Random(rng_seed)
    while not stop.is_set():
        key = rnd.choice(keys)
        seq = len(acked[key]) + 1000 * rng_seed
        try:
            if rnd.random() < 0.2:
                r = s3.delete_object(Bucket=bucket, Key=key)
                acked[key].append((None, r["VersionId"], True))
            else:
                r = s3.put_object(Bucket=bucket, Key=key, Body=versioned_content(key, seq), Metadata={"seq": str(seq)})
                acked[key].append((seq, r["VersionId"], False))
        except Exception:
            return


@pytest.mark.parametrize("placement", ["local", "seaweedfs"])
def test_kill_minus_nine_versioned(request, placement):
    """kill -9 during versioned PUTs and deletes: every acknowledged version and marker is
    still listed after the restart, in the order it was acknowledged, and each version reads
    back as written. On a native dataset (SeaweedFS) the backend object under each key is
    again its current version after the restart (absent under a delete marker): a write cut
    short between copying a version aside and its commit is undone."""
    peer = None
    if placement == "local":
        g = Gateway()
    else:
        peer = request.getfixturevalue(placement)
        container = peer.create_bucket("passerelle-crash-versions")
        config, env = backend_config(placement, peer, container)
        g = Gateway(config=config, env=env)
    g.start()
    bucket = "crash-versions"
    s3 = make_client(g.endpoint)
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    rng = random.Random(7)
    acked = {}
    try:
        for round_ in range(VERSIONED_ROUNDS):
            stop = threading.Event()
            threads = []
            for t in range(4):
                keys = [f"t{t}/k{i}" for i in range(3)]
                for k in keys:
                    acked.setdefault(k, [])
                threads.append(threading.Thread(target=versioned_writer, args=(g.endpoint, bucket, keys, acked, stop, round_ * 10 + t)))
            kill_during(g, threads, stop, rng.uniform(0.3, 1.5))
            s3 = make_client(g.endpoint, retries={"max_attempts": 2})
            listed = {}
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
                for v in page.get("Versions", []):
                    listed.setdefault(v["Key"], []).append((v["VersionId"], False))
                for m in page.get("DeleteMarkers", []):
                    listed.setdefault(m["Key"], []).append((m["VersionId"], True))
            for key, ops in acked.items():
                ids = [i for i, _ in listed.get(key, [])]
                order = {i: n for n, i in enumerate(sorted(ids, key=lambda i: int(i, 16), reverse=True))}
                want = [vid for _, vid, _ in ops]
                missing = [vid for vid in want if vid not in order]
                assert not missing, f"round {round_}: {key}: acknowledged but lost: {missing}"
                # Newest first in the listing means acknowledged order reversed.
                assert [order[v] for v in want] == sorted((order[v] for v in want), reverse=True), f"round {round_}: {key}: order"
                for vid, marker in listed.get(key, []):
                    if marker:
                        continue
                    got = s3.get_object(Bucket=bucket, Key=key, VersionId=vid)
                    seq = int(got["Metadata"]["seq"])
                    assert got["Body"].read() == versioned_content(key, seq), f"round {round_}: {key} {vid} is corrupt"
                if peer is not None:
                    latest = max(listed.get(key, []), key=lambda v: int(v[0], 16), default=None)
                    shadow = f"{bucket}/{key}"
                    if latest is None or latest[1]:
                        assert not peer.exists_direct(container, shadow), f"round {round_}: {key}: a deleted key's object is left"
                    else:
                        want = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                        assert peer.read_direct(container, shadow) == want, f"round {round_}: {key}: the backend's object is not current"
        total = sum(len(ops) for ops in acked.values())
        assert total > VERSIONED_ROUNDS * 5, f"too few operations were acknowledged to prove anything: {total}"
    finally:
        g.cleanup()
