#!/usr/bin/env python3
"""Migration throughput, same run, same data, same SeaweedFS target:
- backfill of FILES files (1 GiB in 2,440 files) from the local store to SeaweedFS, plaintext
  (native layout) and sealed, vs `rclone copy` and `rclone copy` to a `crypt` remote of the
  same files (16 transfers each);
- the journal under a steady client load (RATE writes/s of 4 KiB for SECONDS s): achieved
  rate, queue depth and lag (oldest pending entry) sampled from /metrics, drain time.

    swift build -c release --product passerelle
    Benchmarks/migration-backfill.py            # QUICK=1: 256 MiB in 610 files, 10 s of load
    GATEWAY_ARGS=--no-audit Benchmarks/migration-backfill.py   # what the audit entry per copy costs
"""
import base64
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "clients"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("PASSERELLE_BIN", os.path.join(ROOT, ".build", "release", "passerelle"))
from gateway import Gateway, run_cli, s3_backend_config  # noqa: E402
from migration import client  # noqa: E402
from peers import SeaweedFS  # noqa: E402
from rclone_setup import write_config  # noqa: E402

QUICK = bool(os.environ.get("QUICK"))
TOTAL, FILES = ((256 << 20), 610) if QUICK else ((1 << 30), 2440)
RATE = int(os.environ.get("RATE", "200"))
SECONDS = int(os.environ.get("SECONDS", "10" if QUICK else "30"))
PARALLEL = 16


def make_files(src):
    size = TOTAL // FILES
    block = os.urandom(1 << 20)
    os.makedirs(src)
    for i in range(FILES):
        off = (i * 7919) % (len(block) - 1)
        data = (block[off:] + block[:off]) * (size // len(block) + 1)
        with open(os.path.join(src, f"f{i:05d}.bin"), "wb") as f:
            f.write(data[:size])
    return size * FILES


def cli(g, *args):
    return run_cli(*args, data_dir=g.data_dir, config_path=g.config_path, env=g.extra_env).stdout


def settled():
    """Each timed run starts with no dirty pages left by the previous step (2 GiB uploaded to the
    gateway, 1 GiB written by SeaweedFS): their writeback would otherwise slow whichever runs next."""
    os.sync()
    time.sleep(1)


def backfill(g, dataset, container, layout):
    settled()
    t = time.time()
    cli(g, "migrate", "start", dataset, "--backend", "sw", "--container", container, "--prefix", f"{dataset}/", "--layout", layout,
        "--parallelism", str(PARALLEL))
    # Polled through /metrics: a `migrate status` process every 0.1 s would take CPU from the
    # gateway that the rclone runs do not pay.
    while metrics(g, dataset).get("passerelle_backfill_done", 0) < 1:
        time.sleep(0.05)
    elapsed = time.time() - t
    out = cli(g, "migrate", "status", dataset)
    assert re.search(rf"{FILES} copied", out), out
    return elapsed


def timed(cmd, env):
    settled()
    t = time.time()
    subprocess.run(cmd, check=True, env=env)
    return time.time() - t


def metrics(g, dataset="load"):
    text = urllib.request.urlopen(g.metrics_endpoint + "/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        for name in ("passerelle_replication_queue_depth", "passerelle_replication_lag_seconds", "passerelle_backfill_done"):
            if line.startswith(name + "{") and f'dataset="{dataset}"' in line:
                out[name] = float(line.rsplit(" ", 1)[1])
    return out


def journal_load(g):
    c = client(g, retries=3)
    c.create_bucket(Bucket="load")
    c.put_object(Bucket="load", Key="seed", Body=b"x")
    cli(g, "migrate", "start", "load", "--backend", "sw", "--container", "bench-journal", "--prefix", "load/")
    while "backfill: done" not in cli(g, "migrate", "status", "load"):
        time.sleep(0.1)
    payload = os.urandom(4096)
    stop = threading.Event()
    done = [0]
    lock = threading.Lock()
    start = time.time()

    def writer(w):
        n = 0
        while not stop.is_set():
            due = start + (n * 8 + w) / RATE
            if due > time.time():
                time.sleep(due - time.time())
            c.put_object(Bucket="load", Key=f"k{w}-{n % 500}", Body=payload)
            n += 1
            with lock:
                done[0] += 1
    samples = []
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(writer, w) for w in range(8)]
        while time.time() - start < SECONDS:
            time.sleep(0.25)
            samples.append(metrics(g))
        stop.set()
        for f in futures:
            f.result()
    achieved = done[0] / (time.time() - start)
    t = time.time()
    while metrics(g).get("passerelle_replication_queue_depth", 0) > 0:
        time.sleep(0.05)
    drain = time.time() - t
    depths = sorted(s.get("passerelle_replication_queue_depth", 0) for s in samples)
    lags = sorted(s.get("passerelle_replication_lag_seconds", 0) for s in samples)
    return achieved, depths, lags, drain


def main():
    peer = SeaweedFS().start()
    workdir = tempfile.mkdtemp(prefix="migration-bench-")
    try:
        # Every run writes to a bucket of its own (SeaweedFS grows fresh volumes for each), and
        # in each pair rclone runs first, on a system that is otherwise the same.
        for b in ("bench-plain", "bench-sealed", "bench-rclone-plain", "bench-rclone-crypt", "bench-journal"):
            peer.create_bucket(b)
        src = os.path.join(workdir, "src")
        total = make_files(src)
        conf, renv = write_config(peer, workdir, "bench-rclone-crypt/crypt")
        base = ["rclone", "--config", conf, "--transfers", str(PARALLEL), "--checkers", str(PARALLEL)]
        config, env = s3_backend_config("sw", peer, "bench-plain", default=False)
        env["PASSERELLE_MASTER_KEY"] = base64.b64encode(os.urandom(32)).decode()
        g = Gateway(config=config, env=env, args=os.environ.get("GATEWAY_ARGS", "").split()).start()
        try:
            c = client(g, retries=3)
            for d in ("plain", "sealed"):
                c.create_bucket(Bucket=d)
                with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
                    list(pool.map(lambda n: c.upload_file(os.path.join(src, n), d, n), sorted(os.listdir(src))))
            rclone_plain = timed(base + ["copy", src, "sw:bench-rclone-plain/plain"], renv)
            plain = backfill(g, "plain", "bench-plain", "native")
            rclone_crypt = timed(base + ["copy", src, "cry:"], renv)
            sealed = backfill(g, "sealed", "bench-sealed", "sealed")
            achieved, depths, lags, drain = journal_load(g)
        finally:
            g.cleanup()
    finally:
        peer.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    mib = total / (1 << 20)
    print(f"Backfill of {mib:.0f} MiB in {FILES} files, local store → SeaweedFS, {PARALLEL} in flight (same run)")
    print(f"  gateway backfill, plaintext  {mib / plain:8.1f} MiB/s   rclone copy        {mib / rclone_plain:8.1f} MiB/s   ratio {rclone_plain / plain:5.2f}x")
    print(f"  gateway backfill, sealed     {mib / sealed:8.1f} MiB/s   rclone copy, crypt {mib / rclone_crypt:8.1f} MiB/s   ratio {rclone_crypt / sealed:5.2f}x")
    pct = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))] if xs else 0  # noqa: E731
    print(f"Journal under {RATE} writes/s of 4 KiB for {SECONDS} s: achieved {achieved:.0f} writes/s")
    print(f"  queue depth p50 {pct(depths, 0.5):.0f}, p99 {pct(depths, 0.99):.0f}, max {depths[-1] if depths else 0:.0f};"
          f" lag p50 {pct(lags, 0.5):.2f} s, max {lags[-1] if lags else 0:.2f} s; drained {drain:.2f} s after the load stopped")


if __name__ == "__main__":
    main()
