"""Migration of a versioned dataset to SeaweedFS, through every phase: to a sealed dataset from
the local store (journaled) and from a native dataset on SeaweedFS (sync mode), and to a native
dataset from the local store (the target then shows each key's current version under its key,
every version a copy of its own): versions and delete markers written before and during mirroring (overwrites,
deletes, a marker removed, a version deleted for good) are all there after retirement, with
the same version ids, in the same order, each reading back as written; a GET by an old version
id works after cutover and after the source is retired."""
import base64
import os
import re
import uuid

import pytest

from conftest import make_client
from gateway import Gateway, s3_backend_config
from migration import cli, status, wait_backfill

TARGET = "sovereign-versions"


SOURCE = "native-versions-source"


@pytest.fixture(params=["local-journaled-sealed", "native-sync-sealed", "local-journaled-native"])
def g(request, seaweedfs):
    """A gateway whose new datasets are on the local store or native on SeaweedFS; `g.mode` is
    the migration's write mode, `g.layout` its target's layout."""
    seaweedfs.create_bucket(TARGET)
    source, mode, layout = request.param.split("-")
    if source == "native":
        seaweedfs.create_bucket(SOURCE)
    config, env = s3_backend_config("sw", seaweedfs, SOURCE if source == "native" else TARGET, default=source == "native")
    gw = Gateway(config=config, env=dict(env, PASSERELLE_MASTER_KEY=base64.b64encode(os.urandom(32)).decode())).start()
    gw.mode, gw.layout = mode, layout
    yield gw
    gw.cleanup()


def listing(s3, b):
    """{key: [(version id, is marker, is latest)]} newest first, from ListObjectVersions."""
    out = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=b):
        for v in page.get("Versions", []):
            out.setdefault(v["Key"], []).append((v["VersionId"], False, v["IsLatest"]))
        for m in page.get("DeleteMarkers", []):
            out.setdefault(m["Key"], []).append((m["VersionId"], True, m["IsLatest"]))
    return {k: sorted(vs, key=lambda v: int(v[0], 16), reverse=True) for k, vs in out.items()}


def check(s3, b, bodies, expected):
    assert listing(s3, b) == expected
    for vid, data in bodies.items():
        key, body = data
        assert s3.get_object(Bucket=b, Key=key, VersionId=vid)["Body"].read() == body, (key, vid)


def test_versioned_dataset_migrates_with_every_version(g, seaweedfs):
    s3 = make_client(g.endpoint)
    b = f"versioned-cohort-{g.mode}-{g.layout}"
    s3.create_bucket(Bucket=b)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    bodies = {}

    def put(key, body):
        vid = s3.put_object(Bucket=b, Key=key, Body=body)["VersionId"]
        bodies[vid] = (key, body)
        return vid

    for i in range(20):
        for gen in range(3):
            put(f"k{i:02d}", f"{i}/{gen}".encode() * (50 + i))
    for i in range(0, 20, 4):
        s3.delete_object(Bucket=b, Key=f"k{i:02d}")
    before = listing(s3, b)
    assert sum(len(v) for v in before.values()) == 65

    out = cli(g, "migrate", "start", b, "--backend", "sw", "--container", TARGET, "--prefix", f"{b}/", "--layout", g.layout,
              "--mode", g.mode).stdout
    assert "mirroring" in out
    # During mirroring: new versions, a marker, a marker removed, a version deleted for good.
    put("k01", b"during mirroring")
    put("new", b"written while mirroring")
    s3.delete_object(Bucket=b, Key="k02")
    marker = [v for v in listing(s3, b)["k04"] if v[1]][0][0]
    s3.delete_object(Bucket=b, Key="k04", VersionId=marker)
    gone = [v for v in listing(s3, b)["k05"]][-1][0]
    s3.delete_object(Bucket=b, Key="k05", VersionId=gone)
    del bodies[gone]
    wait_backfill(g, b)
    expected = listing(s3, b)
    check(s3, b, bodies, expected)

    verify = cli(g, "migrate", "verify", b)
    assert "CLEAN" in verify.stdout and "NOT CLEAN" not in verify.stdout, verify.stdout
    # Every version with bytes was compared, current and noncurrent.
    compared = sum(1 for vs in expected.values() for v in vs if not v[1])
    assert re.search(rf"identical\s+{compared} objects", verify.stdout), (compared, verify.stdout)
    cli(g, "migrate", "cutover", b)
    put("k03", b"during cutover")
    expected = listing(s3, b)
    check(s3, b, bodies, expected)
    retire = cli(g, "migrate", "retire", b)
    assert "retired" in retire.stdout, retire.stdout + retire.stderr
    # After retirement the source is detached: everything is read from the target (markers are
    # catalog entries).
    check(s3, b, bodies, expected)
    versions = sum(1 for vs in expected.values() for v in vs if not v[1])
    names = seaweedfs.list_direct(TARGET, f"{b}/")
    if g.layout == "sealed":
        # One sealed payload and one header for every version, under opaque names.
        assert len(names) == 2 * versions, (len(names), versions)
        assert not any("k0" in n or "new" in n for n in names)
    else:
        # A copy of every version under .passerelle-versions/, and each key's current version
        # under its own key (none under a delete marker).
        current = {k: vs[0][0] for k, vs in expected.items() if not vs[0][1]}
        assert sorted(n for n in names if "/.passerelle-versions/" not in n) == sorted(f"{b}/{k}" for k in current)
        assert len(names) == versions + len(current), (len(names), versions, len(current))
        for k, vid in current.items():
            assert seaweedfs.read_direct(TARGET, f"{b}/{k}") == bodies[vid][1], k
    new = put("k06", b"after retirement")
    assert listing(s3, b)["k06"][0] == (new, False, True)
    if g.layout == "native":
        # The retired dataset is native now: a write replaces the object under its key, the
        # version it replaced already being a copy of its own.
        assert seaweedfs.read_direct(TARGET, f"{b}/k06") == b"after retirement"
        check(s3, b, bodies, listing(s3, b))
    assert "retired" in status(g, b)


def test_locked_versions_survive_migration_and_retirement(g, seaweedfs):
    """A bucket with Object Lock migrates like any versioned dataset; its COMPLIANCE version
    keeps its retention through retirement and still refuses every delete, root's included."""
    import datetime
    s3 = make_client(g.endpoint)
    b = f"locked-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    locked = s3.put_object(Bucket=b, Key="audit", Body=b"immutable", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)["VersionId"]
    s3.put_object(Bucket=b, Key="audit", Body=b"newer")
    cli(g, "migrate", "start", b, "--backend", "sw", "--container", TARGET, "--prefix", f"{b}/", "--layout", g.layout)
    wait_backfill(g, b)
    cli(g, "migrate", "verify", b)
    cli(g, "migrate", "cutover", b)
    assert "retired" in cli(g, "migrate", "retire", b).stdout
    h = s3.head_object(Bucket=b, Key="audit", VersionId=locked)
    assert h["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(Exception) as e:
        s3.delete_object(Bucket=b, Key="audit", VersionId=locked, BypassGovernanceRetention=True)
    assert "AccessDenied" in str(e.value)
    assert s3.get_object(Bucket=b, Key="audit", VersionId=locked)["Body"].read() == b"immutable"
