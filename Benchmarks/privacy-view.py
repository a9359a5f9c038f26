#!/usr/bin/env python3
"""What a privacy view costs (docs/privacy.md), in one run on one machine: a SIZE_MB CSV
(SNDS-like: a NIR-shaped identifier, sex, birth date, postcode, ICD-10 code, care date, cost,
and four columns the view drops) stored on a sealed identifying dataset, read by a project
through a view (pseudonym of the identifier, two generalisations, an opt-out registry of 10,000
patients), against:
- DuckDB on the same file from local disk (`read_csv` → the same transform with `sha256` for the
  pseudonym and an anti-join for the opt-out → `COPY … TO` CSV), 2 threads;
- a plain GET of the source by root (the sealed source decrypted and served).
Reported: the first read through the view (materialisation + transfer), the second (the
materialised output), their throughput as ratios, and the gateway's peak RSS while it
materialises (sampled from /proc every 20 ms).

    swift build -c release --product passerelle
    Benchmarks/privacy-view.py            # SIZE_MB=1024 by default; QUICK=1: 128 MB
"""
import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "clients"))
os.environ.setdefault("PASSERELLE_BIN", os.path.join(ROOT, ".build", "release", "passerelle"))
import boto3  # noqa: E402
import botocore  # noqa: E402
import duckdb  # noqa: E402
from boto3.s3.transfer import TransferConfig  # noqa: E402

from gateway import ACCESS_KEY, SECRET_KEY, Gateway, run_cli  # noqa: E402
from trust import add_user, next_code, session_client, sign_in  # noqa: E402

SIZE_MB = int(os.environ.get("SIZE_MB", "128" if os.environ.get("QUICK") else "1024"))
ROW_BYTES = 96
PATIENTS = 1_000_000
OPTOUT = 10_000

VIEW = """format: csv
patient: nir
columns:
  nir: pseudonym
  sex: keep
  birth_date: {generalise: year}
  postcode: departement
  icd10: keep
  care_date: keep
  cost: keep
"""

NIR = "printf('%d%014d', 1 + p % 2, (p * 7919) % 100000000000000)"


def generate(path, rows):
    con = duckdb.connect()
    con.execute(f"""COPY (
        SELECT {NIR} AS nir, 'Name' || (p % 1000) AS name, (1 + p % 2)::VARCHAR AS sex,
               strftime(DATE '1930-01-01' + (p % 27000)::INTEGER, '%Y-%m-%d') AS birth_date,
               printf('%02d%03d', 1 + p % 19, p % 1000) AS postcode,
               ['E11.9','I10','J45.0','C50.9','F32.1','K21.0','M54.5','N18.3'][1 + i % 8] AS icd10,
               strftime(DATE '2015-01-01' + (i % 3650)::INTEGER, '%Y-%m-%d') AS care_date,
               printf('%.2f', (i % 50000) / 100.0) AS cost, 'note ' || i AS note, (i * 3)::VARCHAR AS extra1,
               'x' || (i % 97) AS extra2, md5(i::VARCHAR)[1:8] AS extra3
        FROM (SELECT i, (i * 2654435761) % {PATIENTS} AS p FROM range({rows}) t(i)))
        TO '{path}' (HEADER, DELIMITER ',')""")


def duckdb_view(src, optout, out):
    con = duckdb.connect()
    con.execute("SET threads = 2")
    t = time.perf_counter()
    con.execute(f"""COPY (
        SELECT sha256(s.nir) AS nir, s.sex, strftime(s.birth_date::DATE, '%Y') AS birth_date, s.postcode[1:2] AS postcode,
               s.icd10, s.care_date, s.cost
        FROM read_csv('{src}', all_varchar = true) s
        ANTI JOIN read_csv('{optout}', header = false, columns = {{'id': 'VARCHAR'}}) o ON s.nir = o.id)
        TO '{out}' (HEADER)""")
    return time.perf_counter() - t


class RSSSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        self.peak = max(self.peak, int(line.split()[1]) * 1024)
            time.sleep(0.02)


def timed_get(s3, bucket, key):
    t = time.perf_counter()
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    n = 0
    while True:
        chunk = body.read(1 << 20)
        if not chunk:
            break
        n += len(chunk)
    return time.perf_counter() - t, n


def main():
    work = tempfile.mkdtemp(prefix="privacy-bench-")
    src, optout, out = (os.path.join(work, n) for n in ("source.csv", "optout.txt", "duck.csv"))
    rows = SIZE_MB * (1 << 20) // ROW_BYTES
    generate(src, rows)
    size = os.path.getsize(src)
    con = duckdb.connect()
    con.execute(f"COPY (SELECT {NIR} AS id FROM range({OPTOUT}) t(p)) TO '{optout}' (HEADER false)")

    master = base64.b64encode(os.urandom(32)).decode()
    # No background refresh: the first read is the one that materialises the view.
    g = Gateway(config="views:\n  refresh_seconds: 0\n", env={"PASSERELLE_MASTER_KEY": master}).start()
    env = {"PASSERELLE_MASTER_KEY": master}
    try:
        run_cli("dataset", "create", "pmsi", "--layout", "sealed", "--sensitivity", "identifying", data_dir=g.data_dir, env=env)
        root = boto3.client("s3", endpoint_url=g.endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, config=botocore.config.Config(s3={"addressing_style": "path"}))
        root.upload_file(src, "pmsi", "events.csv", Config=TransferConfig(multipart_chunksize=64 << 20))
        secret = add_user(g, "ana")
        run_cli("project", "create", "bench", "--purpose", "benchmark", "--expires", "2", "--members", "ana", data_dir=g.data_dir, env=env)
        run_cli("project", "grant", "bench", "--dataset", "pmsi", "--actions", "read,list", data_dir=g.data_dir, env=env)
        view = os.path.join(work, "view.yaml")
        with open(view, "w") as f:
            f.write(VIEW)
        run_cli("view", "set", "pmsi", "--project", "bench", "--file", view, data_dir=g.data_dir, env=env)
        t = time.perf_counter()
        run_cli("optout", "import", optout, data_dir=g.data_dir, env=env)
        import_s = time.perf_counter() - t
        status, creds = sign_in(g, "ana", next_code(secret), "bench")
        assert status == 200, creds
        s3 = session_client(g, creds)
        s3.meta.config.read_timeout = 3600

        duck_s = duckdb_view(src, optout, out)
        sampler = RSSSampler(g.proc.pid)
        base_rss = 0
        with open(f"/proc/{g.proc.pid}/status") as f:
            base_rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
        sampler.start()
        first_s, view_bytes = timed_get(s3, "pmsi", "events.csv")
        sampler.stop.set()
        sampler.join()
        second_s, _ = timed_get(s3, "pmsi", "events.csv")
        plain_s, plain_bytes = timed_get(root, "pmsi", "events.csv")
        duck_rows = duckdb.connect().execute(f"SELECT count(*) FROM read_csv('{out}')").fetchone()[0]
        figures = {
            "source_bytes": size, "rows": rows, "view_bytes": view_bytes, "duckdb_output_rows": duck_rows,
            "optout_import_s": round(import_s, 2),
            "duckdb_s": round(duck_s, 2), "view_first_read_s": round(first_s, 2), "view_second_read_s": round(second_s, 2),
            "plain_get_s": round(plain_s, 2),
            "view_vs_duckdb": round(duck_s / first_s, 3),
            "materialised_read_vs_plain_get_MBps": round((view_bytes / second_s) / (plain_bytes / plain_s), 3),
            "rss_before_MiB": round(base_rss / 2**20, 1), "rss_peak_while_materialising_MiB": round(sampler.peak / 2**20, 1),
        }
        print(json.dumps(figures, indent=1))
    finally:
        g.cleanup()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
