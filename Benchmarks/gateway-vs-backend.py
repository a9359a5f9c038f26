#!/usr/bin/env python3
"""Throughput through the gateway to a real backend vs a client talking to that backend
directly, in one run: PUT/GET MiB/s on 1 GiB of 64 MiB objects, 4 KiB PUT/GET ops/s. The
direct client is `passerelle bench s3` for the S3 peers and `passerelle bench azure` (Put
Blob / Get Blob over the same HTTP stack) for the Azure test server.

    swift build -c release --product passerelle
    Benchmarks/gateway-vs-backend.py [seaweedfs|swift|azure ...]   # default: all three
    QUICK=1 Benchmarks/gateway-vs-backend.py                 # 256 MiB, 1000 small ops
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "clients"))
os.environ.setdefault("PASSERELLE_BIN", os.path.join(ROOT, ".build", "release", "passerelle"))
from gateway import ACCESS_KEY, BINARY, SECRET_KEY, Gateway, backend_config  # noqa: E402
from peers import AzureFake, SeaweedFS, SwiftS3  # noqa: E402

ARGS = ["--large-total-mib", "256", "--small-ops", "1000"] if os.environ.get("QUICK") else []


def run(args, env=None):
    out = subprocess.run([BINARY, "bench"] + args + ["--phases", "large,small"] + ARGS, check=True, capture_output=True, text=True,
                         env=dict(os.environ, **(env or {}))).stdout
    return json.loads(out.strip().splitlines()[-1])


def bench(endpoint, access, secret, bucket):
    return run(["s3", "--endpoint", endpoint, "--access-key", access, "--secret-key", secret, "--bucket", bucket])


def bench_direct(peer):
    if isinstance(peer, AzureFake):
        return run(["azure", "--endpoint", peer.endpoint, "--account", peer.account, "--container", "direct-bench"],
                   env={"AZURE_STORAGE_KEY": peer.account_key})
    return bench(peer.endpoint, peer.access_key, peer.secret_key, "direct-bench")


def main():
    kinds = sys.argv[1:] or ["seaweedfs", "swift", "azure"]
    for kind in kinds:
        peer = {"seaweedfs": SeaweedFS, "swift": SwiftS3, "azure": AzureFake}[kind]().start()
        try:
            container = peer.create_bucket("passerelle-bench")
            config, env = backend_config(kind, peer, container)
            g = Gateway(config=config, env=env).start()
            try:
                direct = bench_direct(peer)
                through = bench(g.endpoint, ACCESS_KEY, SECRET_KEY, "gateway-bench")
            finally:
                g.cleanup()
        finally:
            peer.cleanup()
        print(f"{kind}: gateway / direct (same run)")
        for k in ("put_mib_s", "get_mib_s", "small_put_ops", "small_get_ops"):
            print(f"  {k:14s} {through[k]:9.1f} vs {direct[k]:9.1f}  = {through[k] / direct[k]:.2f}x")


if __name__ == "__main__":
    main()
