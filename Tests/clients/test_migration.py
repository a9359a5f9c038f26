"""Live migration of a dataset from the Azure test server (native layout) to a sealed
dataset on SeaweedFS while a client keeps using it (issue 6, acceptance 1)."""
import os

import pytest

from migration import (SOURCE_CONTAINER, TARGET_CONTAINER, ClientLoop, check_state, cli, counts, metric, migration_gateway,
                       populate, status, wait_backfill)

OBJECTS = int(os.environ.get("MIGRATION_OBJECTS", "2000"))


@pytest.fixture
def migrating(azure, seaweedfs):
    g = migration_gateway(azure, seaweedfs, "cohort").start()
    yield g
    g.cleanup()


def test_live_migration_azure_native_to_sealed_seaweedfs(migrating, azure, seaweedfs):
    g = migrating
    expected = populate(g, "cohort", OBJECTS)
    assert cli(g, "dataset", "phase", "cohort").stdout.strip() == "legacy"
    loop = ClientLoop(g, "cohort", expected, retries=3)
    loop.start()
    try:
        out = cli(g, "migrate", "start", "cohort", "--backend", "sw", "--container", TARGET_CONTAINER, "--prefix", "cohort/",
                  "--layout", "sealed", "--mode", "journaled").stdout
        assert "mirroring" in out
        wait_backfill(g, "cohort")
        copied, skipped, runs = counts(status(g, "cohort"))
        assert copied >= OBJECTS * 0.5, status(g, "cohort")

        verify = cli(g, "migrate", "verify", "cohort")
        assert "CLEAN" in verify.stdout and "NOT CLEAN" not in verify.stdout, verify.stdout
        assert cli(g, "dataset", "phase", "cohort").stdout.strip() == "verified"

        cli(g, "migrate", "cutover", "cohort")
        before = metric(g, "passerelle_target_reads_total")
        loop.wait_for("get", 50)
        assert metric(g, "passerelle_target_reads_total") >= before + 20, "reads in cutover are not served by the target"

        cli(g, "migrate", "rollback", "cohort")
        assert cli(g, "dataset", "phase", "cohort").stdout.strip() == "mirroring"
        target_reads = metric(g, "passerelle_target_reads_total")
        loop.wait_for("get", 20)
        assert metric(g, "passerelle_target_reads_total") == target_reads, "reads after rollback still come from the target"

        cli(g, "migrate", "cutover", "cohort")
        retire = cli(g, "migrate", "retire", "cohort")
        assert "retired" in retire.stdout
        assert cli(g, "dataset", "phase", "cohort").stdout.strip() == "retired"
        loop.wait_for("put", 20)
    finally:
        loop.stop()
    assert not loop.errors, loop.errors[:5]
    assert sum(loop.ops.values()) > 200, loop.ops
    check_state(g, "cohort", expected)
    # The target holds exactly the dataset, sealed: one payload and one header per object, no
    # key in clear.
    names = seaweedfs.list_direct(TARGET_CONTAINER, "cohort/")
    if len(names) != 2 * len(expected):
        import sqlite3
        blobs = {r[0] for r in sqlite3.connect(g.data_dir + "/catalog.sqlite").execute("SELECT blob FROM objects WHERE bucket = 'cohort'")}
        stray = [n for n in names if n.removesuffix(".h") not in blobs]
        log = open(g.log_path).read()
        raise AssertionError(f"stray {stray}: " + "\n".join(l for l in log.splitlines() if any(s.split('/')[-1].removesuffix('.h') in l for s in stray))[:3000] + log[-3000:])
    assert not any("obj/" in n or "new/" in n for n in names)
    # Writes after retirement no longer reach the source (its copy is left for deletion).
    source = set(azure.list_direct(SOURCE_CONTAINER, "cohort/"))
    newest = [k for k in expected if f"cohort/{k}" not in source]
    assert newest, "writes after retirement still went to the source"
    history = cli(g, "migrate", "status", "cohort", "--history").stdout
    for step in ["legacy → mirroring", "mirroring → verified", "verified → cutover", "cutover → mirroring", "mirroring → cutover", "cutover → retired"]:
        assert step in history, history
