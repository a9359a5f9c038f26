#!/usr/bin/env python3
"""What versioning costs: 4 KiB PUT (and GET) ops/s on a versioned bucket against an
unversioned one, through one gateway in one run (`passerelle bench s3 --phases small`), first
on new keys, then overwriting them (the versioned bucket then keeps every old version as a
noncurrent one); the buckets are measured alternately, ROUNDS times each, median kept. Then
ListObjectVersions of VERSIONS versions (VERSIONS/4 keys × 4 versions) paginated by 1,000,
against ListObjectsV2 of as many current objects on another bucket, timed with a raw signed
client (the gateway's time) and with boto3's paginator (which adds its own XML parsing).

With PLACEMENT=seaweedfs the gateway's datasets are native on SeaweedFS (each object under its
key, a version the bucket keeps copied aside before an overwrite), and the same rounds run
straight against SeaweedFS with its own versioning, so both costs of versioning are compared in
one run; the listing part is skipped.

    swift build -c release --product passerelle
    Benchmarks/versioning.py          # QUICK=1: 1,000 ops a round and 20,000 versions
    PLACEMENT=seaweedfs Benchmarks/versioning.py
"""
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "clients"))
os.environ.setdefault("PASSERELLE_BIN", os.path.join(ROOT, ".build", "release", "passerelle"))
from conftest import make_client  # noqa: E402
from gateway import ACCESS_KEY, BINARY, SECRET_KEY, Gateway, backend_config  # noqa: E402
from rawsigv4 import send  # noqa: E402

QUICK = bool(os.environ.get("QUICK"))
OPS = 1000 if QUICK else 4000
ROUNDS = int(os.environ.get("ROUNDS", "3"))
VERSIONS = 20_000 if QUICK else 100_000


PLACEMENT = os.environ.get("PLACEMENT", "local")


def bench(g, bucket, ops, concurrency=16):
    access, secret = getattr(g, "access_key", ACCESS_KEY), getattr(g, "secret_key", SECRET_KEY)
    out = subprocess.run([BINARY, "bench", "s3", "--endpoint", g.endpoint, "--access-key", access, "--secret-key", secret,
                          "--bucket", bucket, "--phases", "small", "--small-ops", str(ops), "--small-size", "4096",
                          "--small-concurrency", str(concurrency)], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def timed_listing(g, s3, bucket, versions):
    """Seconds to list the whole bucket 1,000 entries a page, and the entries: with a raw signed
    client (what the gateway takes) and with boto3's paginator (which adds its XML parsing)."""
    start, n, query = time.perf_counter(), 0, ("versions" if versions else "list-type=2") + "&max-keys=1000"
    while True:
        body = send(g, "GET", f"/{bucket}?{query}").body.decode()
        n += body.count("<Version>") + body.count("<DeleteMarker>") + body.count("<Contents>")
        if "<IsTruncated>true</IsTruncated>" not in body:
            break
        if versions:
            km, vm = (re.search(f"<{t}>(.*?)</{t}>", body).group(1) for t in ("NextKeyMarker", "NextVersionIdMarker"))
            query = f"versions&max-keys=1000&key-marker={urllib.parse.quote(km, safe='')}&version-id-marker={vm}"
        else:
            token = re.search("<NextContinuationToken>(.*?)</NextContinuationToken>", body).group(1)
            query = f"list-type=2&max-keys=1000&continuation-token={urllib.parse.quote(token, safe='')}"
    raw = time.perf_counter() - start
    start = time.perf_counter()
    paginator = s3.get_paginator("list_object_versions" if versions else "list_objects_v2")
    for _ in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 1000}):
        pass
    return raw, time.perf_counter() - start, n


def rounds(endpoints):
    """{endpoint name: {versioned|plain: {new|overwrite|get: [ops/s]}}}, the endpoints and the
    bucket kinds measured alternately."""
    figures = {n: {k: {"new": [], "overwrite": [], "get": []} for k in ("versioned", "plain")} for n in endpoints}
    for rnd in range(ROUNDS):
        for n, (g, s3) in endpoints.items():
            for name in ("versioned", "plain"):
                bucket = f"{name}-{rnd}"
                s3.create_bucket(Bucket=bucket)
                if name == "versioned":
                    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
                first = bench(g, bucket, OPS)
                again = bench(g, bucket, OPS)
                figures[n][name]["new"].append(first["small_put_ops"])
                figures[n][name]["overwrite"].append(again["small_put_ops"])
                figures[n][name]["get"].append(again["small_get_ops"])
    return figures


def report(figures, title):
    result = {}
    print(f"{title:28}{'versioned':>11}{'plain':>9}{'ratio':>8}")
    for k, label in (("new", "PUT, new keys"), ("overwrite", "PUT, overwriting"), ("get", "GET, after overwrites")):
        v, p = statistics.median(figures["versioned"][k]), statistics.median(figures["plain"][k])
        result[f"put_{k}" if k != "get" else "get"] = {"versioned": round(v, 1), "plain": round(p, 1), "ratio": round(v / p, 3)}
        print(f"{label:28}{v:11.1f}{p:9.1f}{v / p:7.2f}x")
    return result


def native():
    from peers import SeaweedFS
    peer = SeaweedFS().start()
    config, env = backend_config("seaweedfs", peer, peer.create_bucket("passerelle-bench"))
    g = Gateway(config=config, env=env).start()
    try:
        direct = peer.client()
        figures = rounds({"gateway": (g, make_client(g.endpoint)), "seaweedfs": (peer, direct)})
        result = {n: report(figures[n], f"4 KiB, 16 in flight, {n}") for n in figures}
        for k in ("put_new", "put_overwrite", "get"):
            result[k + "_gateway_vs_seaweedfs_versioned"] = round(
                result["gateway"][k]["versioned"] / result["seaweedfs"][k]["versioned"], 3)
        print(json.dumps(result))
    finally:
        g.cleanup()
        peer.cleanup()


def main():
    if PLACEMENT == "seaweedfs":
        return native()
    g = Gateway().start()
    try:
        s3 = make_client(g.endpoint)
        result = report(rounds({"gateway": (g, s3)})["gateway"], "4 KiB, 16 in flight")
        # VERSIONS versions: VERSIONS/4 keys written four times on a versioned bucket.
        keys = VERSIONS // 4
        s3.create_bucket(Bucket="many-versions")
        s3.put_bucket_versioning(Bucket="many-versions", VersioningConfiguration={"Status": "Enabled"})
        for _ in range(4):
            bench(g, "many-versions", keys, concurrency=32)
        bench(g, "many-objects", VERSIONS, concurrency=32)
        lv, bv, nv = timed_listing(g, s3, "many-versions", True)
        lo, bo, no = timed_listing(g, s3, "many-objects", False)
        print(f"ListObjectVersions of {nv} versions, 1,000 a page: {lv:.2f} s (boto3's paginator: {bv:.2f} s); "
              f"ListObjectsV2 of {no} objects: {lo:.2f} s (boto3: {bo:.2f} s); versions/objects per second: {(nv / lv) / (no / lo):.2f}x")
        result["list_versions"] = {"versions": nv, "seconds": round(lv, 2), "boto3_seconds": round(bv, 2), "objects": no,
                                   "objects_seconds": round(lo, 2), "objects_boto3_seconds": round(bo, 2)}
        print(json.dumps(result))
    finally:
        g.cleanup()


if __name__ == "__main__":
    main()
