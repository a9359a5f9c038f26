"""Shared pieces of the migration tests: a gateway with an Azure source and a SeaweedFS
target, a client loop that keeps writing, overwriting, deleting and reading through the
gateway while it remembers what every key must hold, and CLI helpers."""
import base64
import concurrent.futures
import hashlib
import os
import random
import re
import threading
import time
import urllib.request

from botocore.config import Config

import boto3
from gateway import ACCESS_KEY, SECRET_KEY, Gateway, azure_backend_config, run_cli, s3_backend_config

SOURCE_CONTAINER = "legacy"
TARGET_CONTAINER = "sovereign"


def body(key, generation):
    """Deterministic content of `key` at `generation`, 1-9 KiB."""
    seed = hashlib.sha256(f"{key}/{generation}".encode()).digest()
    size = 1024 + int.from_bytes(seed[:2], "big") % 8192
    return (seed * (size // 32 + 1))[:size]


def migration_gateway(azure, seaweedfs, dataset, data_dir=None):
    """A gateway with `azure` (source, native) and `seaweedfs` (target) backends and `dataset`
    declared on the Azure container, with a master key for sealed targets."""
    azure.create_bucket(SOURCE_CONTAINER)
    seaweedfs.create_bucket(TARGET_CONTAINER)
    az_yaml, az_env = azure_backend_config("az", azure, SOURCE_CONTAINER, default=False)
    sw_yaml, sw_env = s3_backend_config("sw", seaweedfs, TARGET_CONTAINER, default=False)
    config = az_yaml + sw_yaml.replace("backends:\n", "") + f"""datasets:
  {dataset}:
    backend: az
    container: {SOURCE_CONTAINER}
    prefix: {dataset}/
"""
    master = base64.b64encode(os.urandom(32)).decode()
    g = Gateway(data_dir=data_dir, config=config, env=dict(az_env, **sw_env, PASSERELLE_MASTER_KEY=master))
    g.master_key = master
    return g


def client(g, retries=1):
    return boto3.client("s3", endpoint_url=g.endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": retries, "mode": "standard"},
                                      max_pool_connections=32))


def cli(g, *args, check=True):
    return run_cli(*args, data_dir=g.data_dir, config_path=g.config_path, env=g.extra_env, check=check)


def populate(g, dataset, n):
    """n objects, generation 0; returns {key: generation}."""
    c = client(g, retries=3)
    keys = [f"obj/{i:05d}" for i in range(n)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: c.put_object(Bucket=dataset, Key=k, Body=body(k, 0)), keys))
    return {k: 0 for k in keys}


def status(g, dataset):
    return cli(g, "migrate", "status", dataset).stdout


def wait_backfill(g, dataset, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = status(g, dataset)
        if "backfill: done" in out:
            return out
        time.sleep(0.5)
    raise AssertionError(f"backfill did not finish: {status(g, dataset)}")


def metric(g, name):
    """Sum of the samples of metric `name` on /metrics."""
    text = urllib.request.urlopen(g.metrics_endpoint + "/metrics", timeout=5).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


class ClientLoop(threading.Thread):
    """Writes, overwrites, deletes and reads random keys through the gateway until stopped;
    remembers the acknowledged state of every key and checks every read against it. One
    thread, so each key's expected content is exact."""

    def __init__(self, g, dataset, expected, retries=3, pace=0.0, seed=1):
        super().__init__(daemon=True)
        self.c = client(g, retries=retries)
        self.dataset, self.expected = dataset, expected
        self.pace = pace
        self.rng = random.Random(seed)
        self.stopping = threading.Event()
        self.errors, self.ops = [], {"put": 0, "overwrite": 0, "delete": 0, "get": 0}
        self.lock = threading.Lock()

    def run(self):
        while not self.stopping.is_set():
            try:
                self.step()
            except Exception as e:  # a failed request is what the tests look for
                self.errors.append(repr(e))
            if self.pace:
                time.sleep(self.pace)

    def step(self):
        roll = self.rng.random()
        with self.lock:
            keys = list(self.expected)
        if roll < 0.25 or not keys:
            key = f"new/{self.rng.randrange(1 << 30):09d}"
            self.c.put_object(Bucket=self.dataset, Key=key, Body=body(key, 1))
            with self.lock:
                self.expected[key] = 1
            self.ops["put"] += 1
        elif roll < 0.5:
            key = self.rng.choice(keys)
            gen = self.expected[key] + 1
            self.c.put_object(Bucket=self.dataset, Key=key, Body=body(key, gen))
            with self.lock:
                self.expected[key] = gen
            self.ops["overwrite"] += 1
        elif roll < 0.6:
            key = self.rng.choice(keys)
            self.c.delete_object(Bucket=self.dataset, Key=key)
            with self.lock:
                del self.expected[key]
            self.ops["delete"] += 1
        else:
            key = self.rng.choice(keys)
            got = self.c.get_object(Bucket=self.dataset, Key=key)["Body"].read()
            if got != body(key, self.expected[key]):
                self.errors.append(f"read of {key} returned other bytes than generation {self.expected[key]}")
            self.ops["get"] += 1

    def wait_for(self, op, n, timeout=60):
        """Until `n` more operations of kind `op` were done."""
        target, deadline = self.ops[op] + n, time.time() + timeout
        while self.ops[op] < target:
            assert time.time() < deadline and self.is_alive(), f"client loop stalled: {self.ops} {self.errors[:3]}"
            time.sleep(0.02)

    def stop(self):
        self.stopping.set()
        self.join(timeout=60)


def check_state(g, dataset, expected):
    """Every expected key reads back with its content, and the listing is exactly them."""
    c = client(g, retries=3)
    listed = []
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=dataset):
        listed += [o["Key"] for o in page.get("Contents", [])]
    assert sorted(listed) == sorted(expected), f"{len(set(listed) - set(expected))} unexpected, {len(set(expected) - set(listed))} missing"

    def read(k):
        return k if c.get_object(Bucket=dataset, Key=k)["Body"].read() != body(k, expected[k]) else None
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        wrong = [k for k in pool.map(read, list(expected)) if k]
    assert not wrong, f"{len(wrong)} keys read back wrong, e.g. {wrong[:3]}"


def counts(status_text):
    """(copied, skipped, runs) from `migrate status`."""
    m = re.search(r"(\d+) copied .*?, (\d+) already current, (\d+) imported, (\d+) deferred, runs (\d+)", status_text)
    assert m, status_text
    return int(m.group(1)), int(m.group(2)), int(m.group(5))
