#!/usr/bin/env python3
"""CDC benchmark, one run, two throwaway PostgreSQL 15 clusters on loopback (TLS verify-full for
passerelle; the peers connect the same way, sslmode=verify-full):

1. Initial copy of `pgbench -i -s SCALE` data (default 10: 1,000,000 accounts rows, ~160 MB
   with indexes) into an empty target database by
   - `passerelle cdc init --create-schema` (schema, slot, parallel COPY, then indexes),
   - `pgcopydb clone` (Debian package; same job: schema, parallel COPY, indexes),
   - native logical replication's initial sync (schema from pg_dump, CREATE SUBSCRIPTION,
     until every table is ready);
   each timed wall-clock, ratios against passerelle.
2. Streaming lag at a steady TPS (default 1,000 transactions/s of pgbench's TPC-B-like script,
   `-R`) for SECONDS (default 30) with `passerelle cdc run`: per transaction, source commit →
   target commit, p50 and p99 (from the run's summary), plus the slot's lag once load stops.

    swift build -c release --product passerelle
    Benchmarks/cdc-vs-pgcopydb.py         # SCALE=10 TPS=1000 SECONDS=30 JOBS=4
"""
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "clients"))
BINARY = os.environ.get("PASSERELLE_BIN", os.path.join(ROOT, ".build", "release", "passerelle"))
from postgres_peer import PASSWORD, PostgresCluster  # noqa: E402

SCALE = int(os.environ.get("SCALE", "10"))
TPS = int(os.environ.get("TPS", "1000"))
SECONDS = int(os.environ.get("SECONDS", "30"))
JOBS = int(os.environ.get("JOBS", "4"))


def libpq(c, db):
    return f"postgres://passerelle:{PASSWORD}@127.0.0.1:{c.port}/{db}?sslmode=verify-full&sslrootcert={c.ca}"


def timed(cmd, env=None):
    t0 = time.time()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return time.time() - t0, r.stdout


def passerelle_copy(src, tgt):
    tgt.psql("create database p_copy", db="postgres")
    env = dict(os.environ, PASSERELLE_CDC_SOURCE=libpq(src, "bench"), PASSERELLE_CDC_TARGET=libpq(tgt, "p_copy"))
    seconds, _ = timed([BINARY, "cdc", "init", "--create-schema", "--jobs", str(JOBS), "--slot", "p_copy"], env)
    return seconds, env


def pgcopydb_copy(src, tgt):
    tgt.psql("create database c_copy", db="postgres")
    work = os.path.join(tgt.dir, "pgcopydb")
    shutil.rmtree(work, ignore_errors=True)
    env = dict(os.environ, PGCOPYDB_SOURCE_PGURI=libpq(src, "bench"), PGCOPYDB_TARGET_PGURI=libpq(tgt, "c_copy"))
    seconds, _ = timed(["pgcopydb", "clone", "--dir", work, "--table-jobs", str(JOBS), "--index-jobs", str(JOBS),
                        "--no-owner", "--no-acl", "--skip-extensions"], env)
    return seconds


def native_copy(src, tgt):
    tgt.psql("create database n_copy", db="postgres")
    env = dict(os.environ, PGPASSWORD=PASSWORD)
    dump = subprocess.run(["pg_dump", "--schema-only", "--no-owner", "--no-acl", "-h", "127.0.0.1", "-p", str(src.port), "-U", "passerelle", "bench"],
                          env=env, capture_output=True, text=True, check=True).stdout
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(tgt.port), "-U", "passerelle", "-d", "n_copy", "-f", "-"],
                   input=dump, env=env, capture_output=True, text=True, check=True)
    src.psql("create publication native_pub for all tables", db="bench")
    t0 = time.time()
    tgt.psql(f"create subscription native_sub connection 'host=127.0.0.1 port={src.port} user=passerelle password={PASSWORD} "
             f"dbname=bench sslmode=verify-full sslrootcert={src.ca}' publication native_pub", db="n_copy")
    while tgt.psql("select count(*) from pg_subscription_rel where srsubstate <> 'r'", db="n_copy").strip() != "0":
        time.sleep(0.05)
    seconds = time.time() - t0
    tgt.psql("drop subscription native_sub", db="n_copy")
    return seconds


def streaming_lag(src, env):
    runner = subprocess.Popen([BINARY, "cdc", "run", "--slot", "p_copy", "--seconds", str(SECONDS + 20)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    penv = dict(os.environ, PGPASSWORD=PASSWORD)
    bench = subprocess.run(["pgbench", "-n", "-h", "127.0.0.1", "-p", str(src.port), "-U", "passerelle", "-c", "8", "-j", "2",
                            "-T", str(SECONDS), "-R", str(TPS), "bench"], env=penv, capture_output=True, text=True, check=True).stdout
    done = re.search(r"tps = ([\d.]+)", bench)
    t0 = time.time()
    caught_up = None
    while time.time() - t0 < 30:
        lag = src.psql("select pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) from pg_replication_slots where slot_name = 'p_copy'",
                       db="bench").strip()
        if int(lag or 0) < 64 * 1024:
            caught_up = time.time() - t0
            break
        time.sleep(0.05)
    runner.terminate()
    out, err = runner.communicate(timeout=30)
    summary = [l for l in out.splitlines() if l.startswith("applied")]
    return float(done.group(1)) if done else 0, caught_up, summary[-1] if summary else out + err


def main():
    src = PostgresCluster("bench-src").start()
    tgt = PostgresCluster("bench-tgt").start()
    try:
        src.psql("create database bench", db="postgres")
        subprocess.run(["pgbench", "-i", "-q", "-s", str(SCALE), "-h", "127.0.0.1", "-p", str(src.port), "-U", "passerelle", "bench"],
                       env=dict(os.environ, PGPASSWORD=PASSWORD), check=True, capture_output=True)
        # pgbench_history has no key; it is insert-only, so FULL identity costs nothing.
        src.psql("alter table pgbench_history replica identity full", db="bench")
        size = src.psql("select pg_size_pretty(pg_database_size('bench'))", db="bench").strip()
        print(f"source: pgbench scale {SCALE} ({size}), {JOBS} jobs")
        p, env = passerelle_copy(src, tgt)
        c = pgcopydb_copy(src, tgt)
        n = native_copy(src, tgt)
        print(f"initial copy: passerelle {p:.1f} s, pgcopydb clone {c:.1f} s, native logical replication {n:.1f} s")
        print(f"  passerelle speed vs pgcopydb: {c / p:.2f}x, vs native initial sync: {n / p:.2f}x")
        tps, caught_up, summary = streaming_lag(src, env)
        print(f"streaming at {tps:.0f} tps for {SECONDS} s: {summary}")
        print(f"  slot caught up {caught_up:.2f} s after the load stopped" if caught_up is not None else "  slot NOT caught up 30 s after the load")
        verify = subprocess.run([BINARY, "cdc", "verify", "--slot", "p_copy"], env=env, capture_output=True, text=True)
        print("  " + (verify.stdout.strip().splitlines() or ["?"])[-1])
    finally:
        src.cleanup()
        tgt.cleanup()


if __name__ == "__main__":
    main()
