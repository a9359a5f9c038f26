#!/usr/bin/env python3
"""What a sign-in flood costs the data path: latency of a signed 4 KiB GET (one client,
keep-alive, one request at a time) on a quiet gateway, then while 60 clients post bogus
sign-ins (`POST /session` for made-up users, each a full password hash by design) without
pause, from 60 different loopback addresses (so the per-address rate limit does not stop
them: only the bounded hashing queue does), then all from one address (refused by its rate
limit before any work), and, as a control, a flood of `GET /health` at the same rate (what any
connection flood from this machine costs). Also counts how many sign-ins were checked, refused
at once or rate limited, and the CPU the gateway and the flooders used.

    swift build -c release --product passerelle
    Benchmarks/sign-in-flood.py                 # SECONDS=20 per phase by default
    BASELINE_BIN=/path/to/older/passerelle Benchmarks/sign-in-flood.py   # the same run on another build too
"""
import http.client
import json
import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "clients"))
os.environ.setdefault("PASSERELLE_BIN", os.path.join(ROOT, ".build", "release", "passerelle"))
import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

import gateway as harness  # noqa: E402

SECONDS = float(os.environ.get("SECONDS_PER_PHASE", "20"))
FLOODERS = 60


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def measure_gets(g, seconds):
    s3 = boto3.client("s3", endpoint_url=g.endpoint, region_name="us-east-1", aws_access_key_id=harness.ACCESS_KEY,
                      aws_secret_access_key=harness.SECRET_KEY,
                      config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    s3.get_object(Bucket="bench", Key="obj")["Body"].read()
    latencies = []
    end = time.time() + seconds
    while time.time() < end:
        t = time.perf_counter()
        body = s3.get_object(Bucket="bench", Key="obj")["Body"].read()
        latencies.append((time.perf_counter() - t) * 1000)
        assert len(body) == 4096
    return latencies


def flood_process(port, addresses, seconds, kind):
    """The flooders, in a process of their own (they must not share the GET client's
    interpreter lock): prints the statuses as JSON when done. `kind` "health" floods with
    `GET /health` instead, a control: what any connection flood of that rate costs."""
    counts, lock = {}, threading.Lock()
    end = time.time() + seconds

    def worker(i):
        address = addresses[i % len(addresses)]
        n = 0
        while time.time() < end:
            n += 1
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(address, 0))
                if kind == "health":
                    conn.request("GET", "/health")
                else:
                    body = json.dumps({"user": f"nobody-{i}-{n}", "password": "guess-guess-guess", "totp": "000000", "project": "p"})
                    conn.request("POST", "/session", body=body, headers={"Content-Type": "application/json"})
                status = conn.getresponse().status
                conn.close()
            except OSError:
                status = "error"
            with lock:
                counts[status] = counts.get(status, 0) + 1
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(FLOODERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({str(k): v for k, v in sorted(counts.items(), key=str)}))


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def phase(g, addresses, kind="sign-in"):
    """GET latencies with or without a flood, and the CPU (in cores) the gateway and the
    flooders used meanwhile: on a 2-core machine the flooders' own CPU slows everyone."""
    flooders = None
    if addresses:
        flooders = subprocess.Popen([sys.executable, __file__, "--flood", str(g.port), ",".join(addresses), str(SECONDS + 2), kind],
                                    stdout=subprocess.PIPE, text=True)
        time.sleep(1)
    t0, g0, f0 = time.time(), cpu_seconds(g.proc.pid), cpu_seconds(flooders.pid) if flooders else 0
    latencies = measure_gets(g, SECONDS)
    elapsed = time.time() - t0
    cores = {"gateway": round((cpu_seconds(g.proc.pid) - g0) / elapsed, 2),
             "flooders": round((cpu_seconds(flooders.pid) - f0) / elapsed, 2) if flooders else 0}
    counts = json.loads(flooders.communicate(timeout=300)[0]) if flooders else {}
    return latencies, counts, cores


def run(binary):
    harness.BINARY = binary
    g = harness.Gateway(metrics_listener=binary == os.environ["PASSERELLE_BIN"]).start()
    try:
        s3 = boto3.client("s3", endpoint_url=g.endpoint, region_name="us-east-1", aws_access_key_id=harness.ACCESS_KEY,
                          aws_secret_access_key=harness.SECRET_KEY, config=Config(s3={"addressing_style": "path"}))
        s3.create_bucket(Bucket="bench")
        s3.put_object(Bucket="bench", Key="obj", Body=os.urandom(4096))
        results = {}
        for name, addresses, kind in (("quiet", [], ""), ("flood, 60 addresses", [f"127.0.1.{i + 1}" for i in range(FLOODERS)], "sign-in"),
                                      ("flood, 1 address", ["127.0.2.1"], "sign-in"), ("control: /health, 1 address", ["127.0.3.1"], "health")):
            latencies, counts, cores = phase(g, addresses, kind)
            results[name] = {"gets": len(latencies), "p50_ms": round(percentile(latencies, 50), 2),
                             "p99_ms": round(percentile(latencies, 99), 2), "max_ms": round(max(latencies), 2),
                             "sign_ins": counts, "cores": cores}
        return results
    finally:
        g.cleanup()


def main():
    builds = [("this build", os.environ["PASSERELLE_BIN"])]
    if os.environ.get("BASELINE_BIN"):
        builds.append(("baseline", os.environ["BASELINE_BIN"]))
    out = {}
    for label, binary in builds:
        results = run(binary)
        out[label] = results
        quiet = results["quiet"]["p99_ms"]
        print(f"{label}: {binary}")
        print(f"  {'phase':30}{'GETs':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'p99/quiet':>11}  {'cores gw/flood':>15}  sign-ins by status")
        for name, r in results.items():
            c = f"{r['cores']['gateway']:.2f}/{r['cores']['flooders']:.2f}"
            print(f"  {name:30}{r['gets']:7}{r['p50_ms']:9.2f}{r['p99_ms']:9.2f}{r['max_ms']:9.2f}{r['p99_ms'] / quiet:10.2f}x  {c:>15}  {r['sign_ins']}")
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--flood"]:
        flood_process(int(sys.argv[2]), sys.argv[3].split(","), float(sys.argv[4]), sys.argv[5])
    else:
        main()
