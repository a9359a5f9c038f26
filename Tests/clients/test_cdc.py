"""PostgreSQL change-data-capture (`passerelle cdc`) between two real PostgreSQL 15 clusters,
both over TLS with sslmode=verify-full: pre-flight, initial copy under load, streaming under
pgbench, exactly-once across kill -9 and a target restart, a >16 MiB transaction, TRUNCATE,
cutover, and the bad-input paths."""
import os
import random
import signal
import subprocess
import textwrap
import time
import urllib.request

import pytest

from gateway import BINARY
from peers import free_port_block
from postgres_peer import PostgresCluster

SCHEMA = """
create table kinds (id bigserial primary key, n numeric(20,6), ts timestamptz, j jsonb, b bytea, arr int[],
                    u uuid, t text, f float8, big text, iv interval, d date);
create table accounts (id bigint primary key, balance bigint not null, counter int not null default 0, note text);
create table events (id bigserial primary key, account bigint not null, delta int, at timestamptz default now());
create table moves (k bigint primary key, v text);
create table loose (a int, b text);
alter table loose replica identity full;
insert into accounts select i, 0, 0, 'acct ' || i from generate_series(1, 2000) i;
insert into moves select i, 'm' || i from generate_series(1, 2000) i;
insert into kinds (n, ts, j, b, arr, u, t, f, big, iv, d)
  select i * 1.5, now() - i * interval '1 hour', jsonb_build_object('i', i, 'q', 'it''s', 'u', 'Zoë 🔐'),
         decode(lpad(to_hex(i), 8, '0') || '00ff', 'hex'), array[i, null, i + 1], gen_random_uuid(),
         E'tab\\there "quoted" \\\\ back ' || i, i / 7.0, repeat(md5(i::text), 200), i * interval '1 minute', current_date - i
  from generate_series(1, 500) i;
insert into kinds (t) values (null);
insert into loose values (1, 'a'), (1, 'a'), (2, null);
"""

# Inserts, updates (a per-row counter), deletes and primary-key changes, one transaction each.
PGBENCH = textwrap.dedent("""
    \\set id random(1, 2000)
    \\set delta random(-500, 500)
    BEGIN;
    UPDATE accounts SET balance = balance + :delta, counter = counter + 1 WHERE id = :id;
    INSERT INTO events (account, delta) VALUES (:id, :delta);
    DELETE FROM events WHERE id = (SELECT min(id) FROM events WHERE account = :id) AND :delta > 250;
    UPDATE moves SET k = k + 1000000, v = v || '+' WHERE k = :id;
    UPDATE kinds SET n = n + 1, j = j || jsonb_build_object('d', :delta) WHERE id = :id % 500 + 1;
    END;
""")


@pytest.fixture(scope="module")
def clusters():
    src = PostgresCluster("src").start()
    tgt = PostgresCluster("tgt").start()
    yield src, tgt
    src.cleanup()
    tgt.cleanup()


_dbs = iter(range(1, 1000))


@pytest.fixture
def pair(clusters):
    """A fresh database on each cluster, the source holding the test schema."""
    src, tgt = clusters
    name = f"cdc{next(_dbs)}"
    for c in (src, tgt):
        c.psql(f"create database {name}", db="postgres")
    src.psql(SCHEMA, db=name)
    yield Pair(src, tgt, name)
    # No slot left behind to retain WAL for the next tests.
    src.psql(f"select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = '{name}' and not active",
             db="postgres", check=False)


class Pair:
    def __init__(self, src, tgt, db):
        self.src, self.tgt, self.db = src, tgt, db
        self.env = dict(os.environ, PASSERELLE_CDC_SOURCE=src.url(db=db), PASSERELLE_CDC_TARGET=tgt.url(db=db))

    def cdc(self, *args, check=True, timeout=300, env=None):
        # Slots are per server, not per database: each test database has its own.
        r = subprocess.run([BINARY, "cdc", *args, "--slot", self.db], env=env or self.env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"cdc {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
        return r

    def run_bg(self, *args):
        return subprocess.Popen([BINARY, "cdc", "run", *args, "--slot", self.db], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def sql(self, side, q):
        return (self.src if side == "src" else self.tgt).psql(q, db=self.db)

    def pgbench(self, seconds, rate):
        script = os.path.join(self.src.dir, f"cdc-{self.db}.sql")
        with open(script, "w") as f:
            f.write(PGBENCH)
        env = dict(os.environ, PGPASSWORD="cdc-secret", PGSSLMODE="disable")
        return subprocess.Popen(["pgbench", "-n", "-h", "127.0.0.1", "-p", str(self.src.port), "-U", "passerelle", "-c", "4", "-j", "2",
                                 "-T", str(seconds), "-R", str(rate), "-f", script, self.db],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def verify_clean(self):
        r = self.cdc("verify", check=False)
        assert r.returncode == 0 and "CLEAN: 5 table(s) identical" in r.stdout, r.stdout + r.stderr
        return r.stdout


def peak_rss_kib(proc):
    """The process's own peak RSS (VmHWM of its image after exec; getrusage would also count
    the forked test runner's pages before exec), sampled until it exits."""
    peak = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                peak = max([peak] + [int(l.split()[1]) for l in f if l.startswith("VmHWM:")])
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
        time.sleep(0.1)
    return peak


def test_preflight_init_under_load_stream_and_verify(pair):
    # Pre-flight names the table without a key nor FULL identity, then passes once fixed.
    pair.sql("src", "create table nokey (x int)")
    r = pair.cdc("check", check=False)
    assert r.returncode != 0 and "FAIL" in r.stdout and "public.nokey" in r.stdout and "REPLICA IDENTITY FULL" in r.stdout, r.stdout
    assert "missing on the target" in r.stdout and "--create-schema" in r.stdout
    pair.sql("src", "drop table nokey")
    r = pair.cdc("check", "--create-schema")
    assert "wal_level = logical" in r.stdout and "FAIL" not in r.stdout

    # The initial copy runs while pgbench writes; the stream then catches up; verify is clean.
    bench = pair.pgbench(25, 150)
    time.sleep(2)
    r = pair.cdc("init", "--create-schema", "--jobs", "3")
    assert "copied public.kinds: 501 rows" in r.stdout and "slot cdc" in r.stdout, r.stdout
    port = free_port_block(1)
    runner = pair.run_bg("--metrics-port", str(port))
    assert bench.wait(timeout=120) == 0, bench.stderr.read()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        metrics = resp.read().decode()
    assert f'passerelle_cdc_lag_bytes{{slot="{pair.db}"}}' in metrics and "passerelle_cdc_apply_lag_seconds" in metrics, metrics
    before = int(pair.sql("src", "select sum(counter) from accounts"))
    assert before > 1000
    deadline = time.time() + 60
    while time.time() < deadline:
        status = pair.cdc("status", "--format", "json").stdout
        if '"lagBytes" : 0' in status or int(pair.sql("tgt", "select coalesce(sum(counter), 0) from accounts")) == before:
            break
        time.sleep(0.5)
    runner.send_signal(signal.SIGTERM)
    runner.wait(timeout=30)
    pair.cdc("run", "--until-caught-up")
    pair.verify_clean()
    moved = int(pair.sql("tgt", "select count(*) from moves where k > 1000000"))
    assert moved > 0 and moved == int(pair.sql("src", "select count(*) from moves where k > 1000000"))
    # The target state records what was applied; status reports it, as JSON and for Prometheus.
    assert int(pair.sql("tgt", "select transactions from passerelle_cdc.stream")) >= 1000
    prom = pair.cdc("status", "--format", "prometheus").stdout
    assert 'passerelle_cdc_lag_bytes{slot="' + pair.db + '"}' in prom and "passerelle_cdc_changes_applied" in prom
    text = pair.cdc("status").stdout
    assert "phase streaming" in text and "changes/s" in text


def test_exactly_once_across_kill9_and_target_restart(pair):
    pair.cdc("init", "--create-schema")
    pair.cdc("run", "--until-caught-up")
    # From here on, every update of an account applied on the target is logged once per
    # counter value: applying a change twice would violate the log's primary key and stop the
    # replicator; losing one would leave a gap. (ENABLE ALWAYS: the replicator applies in
    # replica mode, where ordinary triggers are off.)
    pair.sql("tgt", """
        create table base as select id, counter from accounts;
        create table applied (id bigint, counter int, primary key (id, counter));
        create function log_applied() returns trigger language plpgsql as
          $$ begin insert into applied values (new.id, new.counter); return new; end $$;
        create trigger log_applied after update on accounts for each row execute function log_applied();
        alter table accounts enable always trigger log_applied;
    """)
    bench = pair.pgbench(40, 120)
    rng = random.Random(7)
    kills = 0
    restarted_target = False
    failures = []
    runner = pair.run_bg()
    while bench.poll() is None:
        time.sleep(rng.uniform(0.5, 2.5))
        if kills == 6 and not restarted_target:
            pair.tgt.restart()  # the replicator loses its target mid-stream and exits
            restarted_target = True
            code = runner.wait(timeout=30)
            failures.append((code, runner.stderr.read()))
        else:
            runner.send_signal(signal.SIGKILL)
            runner.wait()
            kills += 1
        runner = pair.run_bg()
    assert bench.returncode == 0, bench.stderr.read()
    # The source restarts too, while the replicator works through the backlog.
    pair.src.restart()
    code = runner.wait(timeout=30)
    failures.append((code, runner.stderr.read()))
    assert kills >= 10 and restarted_target, kills
    assert len(failures) == 2 and all(c != 0 and "Error" in e for c, e in failures), failures
    pair.cdc("run", "--until-caught-up")
    pair.verify_clean()
    # Row by row: every counter value from the one at the start to the final one was applied
    # exactly once (a second application would have broken the log's primary key).
    gaps = pair.sql("tgt", """
        select count(*) from accounts a join base b using (id)
        where a.counter - b.counter <> (select count(*) from applied l where l.id = a.id and l.counter > b.counter)
           or exists (select 1 from applied l where l.id = a.id and (l.counter <= b.counter or l.counter > a.counter))
    """)
    assert gaps.strip() == "0"
    logged = int(pair.sql("tgt", "select count(*) from applied"))
    assert logged > 1000, logged


def test_transaction_over_16_mib_and_truncate(pair):
    pair.cdc("init", "--create-schema")
    # One transaction of ~40 MiB of WAL (more than two 16 MiB segments), mixed with deletes and a truncate.
    pair.sql("src", """
        begin;
        insert into events (account, delta) select i % 2000, i from generate_series(1, 350000) i;
        update kinds set big = repeat(md5(id::text || 'v2'), 1500) where id <= 300;
        delete from events where delta % 3 = 0;
        commit;
    """)
    wal = int(pair.sql("src", f"select pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) from pg_replication_slots where slot_name = '{pair.db}'"))
    assert wal > 32 << 20, wal
    runner = pair.run_bg("--until-caught-up")
    peak_kib = peak_rss_kib(runner)
    out = runner.stdout.read()
    assert runner.returncode == 0 and "applied 1 transactions" in out, out + runner.stderr.read()
    pair.verify_clean()
    # Memory stays bounded while a transaction larger than the replicator's buffers streams through.
    assert 0 < peak_kib < 100 * 1024, peak_kib
    pair.sql("src", "begin; truncate loose, events; insert into loose values (5, 'after truncate'); commit;")
    pair.cdc("run", "--until-caught-up")
    assert pair.sql("tgt", "select count(*) from events").strip() == "0"
    assert pair.sql("tgt", "select a, b from loose").strip() == "5|after truncate"
    pair.verify_clean()

    # Differences planted on the target are found and listed by primary key.
    pair.sql("tgt", "delete from moves where k = 7; update accounts set note = 'tampered' where id = 8; insert into moves values (-9, 'stray')")
    r = pair.cdc("verify", check=False)
    assert r.returncode == 2 and "NOT CLEAN: 2 of 5" in r.stdout, r.stdout
    assert "missing on target: (7)" in r.stdout and "extra on target: (-9)" in r.stdout and "different: (8)" in r.stdout, r.stdout
    assert "public.accounts: 2000 rows on the source, 2000 on the target" in r.stdout


def test_cutover_rehearsal(pair):
    pair.cdc("init", "--create-schema")
    bench = pair.pgbench(6, 100)
    runner = pair.run_bg()
    bench.wait(timeout=60)
    source_seq = int(pair.sql("src", "select last_value from events_id_seq"))
    r = pair.cdc("cutover")
    runner.wait(timeout=30)  # the gate ends its session on the source; it exits
    out = r.stdout
    assert "read-only" in out and "drained" in out and "sequence value(s) copied" in out and "verified: 5 table(s) identical" in out, out
    assert "cutover complete" in out and "Switch the applications" in out
    # The source refuses writes; the target has every row and the sequences continue after the source's values.
    w = pair.src.psql("insert into moves values (-1, 'late')", db=pair.db, check=False)
    assert w.returncode != 0 and "read-only transaction" in w.stderr
    assert pair.sql("src", f"select count(*) from pg_replication_slots where slot_name = '{pair.db}'").strip() == "0"
    assert pair.sql("src", "select count(*) from pg_publication").strip() == "0"
    assert int(pair.sql("tgt", "select last_value from events_id_seq")) == source_seq
    new_id = int(pair.sql("tgt", "insert into events (account, delta) values (1, 1) returning id").split()[0])
    assert new_id > source_seq
    # Running it again is harmless: every step is recorded as done.
    again = pair.cdc("cutover")
    assert "drained" not in again.stdout and "cutover complete already" in again.stdout
    pair.src.psql(f"alter database {pair.db} reset default_transaction_read_only", db="postgres")


def test_bad_input_gives_clear_errors_and_loses_nothing(pair, clusters):
    src, tgt = clusters
    # Wrong password, wrong CA, unknown sslmode, no database: a clear message, a non-zero exit, no password echoed.
    bad = dict(pair.env, PASSERELLE_CDC_SOURCE=src.url(db=pair.db, password="wrong-pw"))
    r = pair.cdc("check", env=bad, check=False)
    assert r.returncode != 0 and "password authentication failed" in r.stderr and "wrong-pw" not in r.stderr + r.stdout, r.stderr
    bad = dict(pair.env, PASSERELLE_CDC_SOURCE=src.url(db=pair.db).replace(src.ca, tgt.ca))
    r = pair.cdc("check", env=bad, check=False)
    assert r.returncode != 0 and "cannot connect" in r.stderr, r.stderr
    bad = dict(pair.env, PASSERELLE_CDC_SOURCE="postgres://u:secretpw@127.0.0.1/x?sslmode=sometimes")
    r = pair.cdc("check", env=bad, check=False)
    assert r.returncode != 0 and "unknown sslmode" in r.stderr and "secretpw" not in r.stderr
    r = pair.cdc("check", env={k: v for k, v in pair.env.items() if k != "PASSERELLE_CDC_TARGET"}, check=False)
    assert r.returncode != 0 and "PASSERELLE_CDC_TARGET" in r.stderr
    r = pair.cdc("run", check=False)
    assert r.returncode != 0 and "cdc init" in r.stderr
    # A target table whose columns differ from the source's is refused by the pre-flight.
    pair.sql("tgt", "create table moves (k text primary key, v text)")
    r = pair.cdc("check", check=False)
    assert r.returncode != 0 and "columns differ" in r.stdout and "public.moves (source: k bigint, v text; target: k text, v text)" in r.stdout, r.stdout
    pair.sql("tgt", "drop table moves")

    pair.cdc("init", "--create-schema")
    # A second replicator of the same slot is refused while the first runs.
    runner = pair.run_bg()
    time.sleep(1.5)
    r = pair.cdc("run", "--until-caught-up", check=False)
    assert r.returncode != 0 and "another replicator" in r.stderr, r.stderr
    runner.send_signal(signal.SIGKILL)
    runner.wait()

    # A target constraint the source does not have: the transaction is refused whole, the
    # replicator stops with the server's message, and resumes once the constraint is lifted.
    pair.sql("tgt", "alter table moves add constraint short_v check (length(v) < 20)")
    pair.sql("src", "begin; insert into moves values (-5, 'fine'); insert into moves values (-6, repeat('x', 30)); commit;")
    r = pair.cdc("run", "--until-caught-up", check=False)
    assert r.returncode != 0 and "short_v" in r.stderr and "23514" in r.stderr, r.stderr
    assert pair.sql("tgt", "select count(*) from moves where k in (-5, -6)").strip() == "0"
    applied = pair.sql("tgt", "select applied_commit_lsn from passerelle_cdc.stream")
    pair.sql("tgt", "alter table moves drop constraint short_v")
    pair.cdc("run", "--until-caught-up")
    assert pair.sql("tgt", "select count(*) from moves where k in (-5, -6)").strip() == "2"
    assert pair.sql("tgt", "select applied_commit_lsn from passerelle_cdc.stream") != applied

    # The connection to the target cut in the middle of a large transaction: nothing of it is
    # on the target, and the next run applies it whole.
    pair.sql("src", "insert into events (account, delta) select i, i from generate_series(1, 150000) i")
    runner = pair.run_bg()
    deadline = time.time() + 60
    cut = False
    while time.time() < deadline and not cut:
        cut = pair.sql("tgt", """
            select count(pg_terminate_backend(pid)) from pg_stat_activity
            where application_name = 'passerelle-cdc-stream' and state = 'active' and query like 'DO %'
        """).strip() != "0"
        time.sleep(0.05)
    assert cut
    assert runner.wait(timeout=30) != 0
    assert "terminating connection" in runner.stderr.read()
    assert pair.sql("tgt", "select count(*) from events").strip() == "0"  # all or nothing
    pair.cdc("run", "--until-caught-up")
    assert int(pair.sql("tgt", "select count(*) from events")) == 150000
    pair.verify_clean()

    # `cdc drop` leaves no slot retaining WAL; `cdc run` then says so.
    pair.cdc("drop")
    assert pair.sql("src", f"select count(*) from pg_replication_slots where database = '{pair.db}'").strip() == "0"
    r = pair.cdc("run", check=False)
    assert r.returncode != 0 and "cdc init" in r.stderr


def test_source_without_logical_wal_is_refused():
    plain = PostgresCluster("plain", tls=False)
    with open(os.path.join(plain.data, "postgresql.conf"), "a") as f:
        f.write("wal_level = replica\n")
    plain.start()
    try:
        env = dict(os.environ, PASSERELLE_CDC_SOURCE=plain.url(verify=False), PASSERELLE_CDC_TARGET=plain.url(db="postgres", verify=False))
        plain.psql("create table t (id int primary key)")
        r = subprocess.run([BINARY, "cdc", "init"], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "wal_level = replica" in r.stdout and "ALTER SYSTEM SET wal_level = logical" in r.stdout, r.stdout + r.stderr
        assert plain.psql("select count(*) from pg_replication_slots").strip() == "0"
    finally:
        plain.cleanup()


def test_cutover_with_a_manual_gate(pair):
    pair.cdc("init", "--create-schema")
    pair.sql("src", "insert into moves values (-20, 'last write before the gate')")
    r = pair.cdc("cutover", "--manual-gate")
    assert "manual gate" in r.stdout and "verified: 5 table(s) identical" in r.stdout and "cutover complete" in r.stdout, r.stdout
    assert pair.sql("tgt", "select v from moves where k = -20").strip() == "last write before the gate"
    # The source was not altered; the slot is gone.
    pair.sql("src", "insert into moves values (-21, 'still writable')")
    assert pair.sql("src", f"select count(*) from pg_replication_slots where slot_name = '{pair.db}'").strip() == "0"
