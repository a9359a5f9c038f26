#!/usr/bin/env python3
"""What auditing costs: small-object GET and PUT ops/s through two gateways in one run, one
recording every request in the audit log (durable and signed before the response) and one
started with `--no-audit`, with 16 and with 64 requests in flight (`passerelle bench s3
--phases small`); the two gateways are measured alternately, twice each, best kept.

    swift build -c release --product passerelle
    Benchmarks/audit-overhead.py           # QUICK=1: 1,000 objects instead of 4,000
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "clients"))
os.environ.setdefault("PASSERELLE_BIN", os.path.join(ROOT, ".build", "release", "passerelle"))
from gateway import ACCESS_KEY, BINARY, SECRET_KEY, Gateway  # noqa: E402

OPS = 1000 if os.environ.get("QUICK") else 4000


def bench(g, bucket, concurrency):
    out = subprocess.run([BINARY, "bench", "s3", "--endpoint", g.endpoint, "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY,
                          "--bucket", bucket, "--phases", "small", "--small-ops", str(OPS), "--small-size", "4096",
                          "--small-concurrency", str(concurrency)], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    audited, plain = Gateway().start(), Gateway(args=["--no-audit"]).start()
    try:
        best = {"audited": {}, "plain": {}}
        for rnd in range(2):
            for concurrency in (16, 64):
                for name, g in (("audited", audited), ("plain", plain)):
                    r = bench(g, f"bench-{rnd}-{concurrency}", concurrency)
                    for k in ("small_put_ops", "small_get_ops"):
                        key = f"{k}_{concurrency}"
                        best[name][key] = max(best[name].get(key, 0), r[k])
        entries = subprocess.run([BINARY, "audit", "verify", "--data-dir", audited.data_dir], capture_output=True, text=True).stdout
        print(f"audit log after the run: {entries.strip().splitlines()[0]}")
        print(f"{'':26}{'audited':>10}{'no audit':>10}{'ratio':>8}")
        result = {}
        for k, label in (("small_get_ops_16", "GET 4 KiB, 16 in flight"), ("small_put_ops_16", "PUT 4 KiB, 16 in flight"),
                         ("small_get_ops_64", "GET 4 KiB, 64 in flight"), ("small_put_ops_64", "PUT 4 KiB, 64 in flight")):
            a, p = best["audited"][k], best["plain"][k]
            result[k] = {"audited": round(a, 1), "plain": round(p, 1), "ratio": round(a / p, 3)}
            print(f"{label:26}{a:10.1f}{p:10.1f}{a / p:7.2f}x")
        print(json.dumps(result))
    finally:
        audited.cleanup()
        plain.cleanup()


if __name__ == "__main__":
    main()
