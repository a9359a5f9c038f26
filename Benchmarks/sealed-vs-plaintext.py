#!/usr/bin/env python3
"""Sealed vs plaintext datasets through the gateway, and rclone's `crypt` remote, over the
same SeaweedFS backend in one run: PUT/GET MiB/s on 1 GiB of 64 MiB objects (4 in flight),
and ranged GETs of 1 MiB at random offsets (ops/s).

    swift build -c release --product passerelle
    Benchmarks/sealed-vs-plaintext.py          # QUICK=1: 256 MiB, 50 ranged GETs
"""
import base64
import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "clients"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("PASSERELLE_BIN", os.path.join(ROOT, ".build", "release", "passerelle"))
from gateway import ACCESS_KEY, BINARY, SECRET_KEY, Gateway, s3_backend_config  # noqa: E402
from peers import SeaweedFS  # noqa: E402
from rclone_setup import write_config  # noqa: E402

QUICK = bool(os.environ.get("QUICK"))
TOTAL_MIB, OBJECT_MIB, RANGED = (256, 64, 50) if QUICK else (1024, 64, 200)
OBJECT_MIB = int(os.environ.get("OBJECT_MIB", OBJECT_MIB))


def gateway_bench(g, bucket):
    args = [BINARY, "bench", "s3", "--endpoint", g.endpoint, "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY,
            "--bucket", bucket, "--phases", "large,ranged", "--large-total-mib", str(TOTAL_MIB),
            "--large-object-mib", str(OBJECT_MIB), "--ranged-ops", str(RANGED)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def rclone_crypt_bench(peer, bucket, workdir):
    conf, env = write_config(peer, workdir, f"{bucket}/rclone-crypt")
    src, dst = os.path.join(workdir, "src"), os.path.join(workdir, "dst")
    os.makedirs(src)
    block = os.urandom(OBJECT_MIB << 20)
    count = TOTAL_MIB // OBJECT_MIB
    for i in range(count):
        with open(os.path.join(src, f"large-{i}"), "wb") as f:
            f.write(block[i:] + block[:i])
    base = ["rclone", "--config", conf, "--transfers", "4", "--s3-upload-concurrency", "4"]
    t = time.time()
    subprocess.run(base + ["copy", src, "cry:"], check=True, env=env)
    put = TOTAL_MIB / (time.time() - t)
    t = time.time()
    subprocess.run(base + ["copy", "cry:", dst], check=True, env=env)
    get = TOTAL_MIB / (time.time() - t)
    size = OBJECT_MIB << 20

    def cat(i):
        off = random.randrange(0, size - (1 << 20))
        out = subprocess.run(["rclone", "--config", conf, "cat", f"cry:large-{i % count}", "--offset", str(off), "--count", str(1 << 20)],
                             check=True, capture_output=True, env=env).stdout
        assert len(out) == 1 << 20
    t = time.time()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(cat, range(RANGED)))
    return {"put_mib_s": put, "get_mib_s": get, "ranged_get_ops": RANGED / (time.time() - t)}


def main():
    peer = SeaweedFS().start()
    workdir = tempfile.mkdtemp(prefix="sealed-bench-")
    try:
        container = peer.create_bucket("passerelle-bench")
        config, env = s3_backend_config("seaweedfs", peer, container, default=False)
        config += f"""datasets:
  plain:
    backend: seaweedfs
    container: {container}
    prefix: plain/
  sealed:
    backend: seaweedfs
    container: {container}
    prefix: sealed/
    layout: sealed
"""
        env["PASSERELLE_MASTER_KEY"] = base64.b64encode(os.urandom(32)).decode()
        g = Gateway(config=config, env=env).start()
        try:
            plain = gateway_bench(g, "plain")
            sealed = gateway_bench(g, "sealed")
        finally:
            g.cleanup()
        crypt = rclone_crypt_bench(peer, container, workdir)
    finally:
        peer.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"SeaweedFS backend, {TOTAL_MIB} MiB of {OBJECT_MIB} MiB objects, {RANGED} ranged GETs of 1 MiB (same run)")
    print(f"  {'':16s} {'plaintext':>10s} {'sealed':>10s} {'rclone crypt':>13s}  sealed/plain  sealed/crypt")
    for k in ("put_mib_s", "get_mib_s", "ranged_get_ops"):
        print(f"  {k:16s} {plain[k]:10.1f} {sealed[k]:10.1f} {crypt[k]:13.1f}  {sealed[k] / plain[k]:11.2f}x  {sealed[k] / crypt[k]:11.2f}x")


if __name__ == "__main__":
    main()
