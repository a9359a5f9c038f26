"""Privacy views end to end (DESIGN.md §7, docs/privacy.md): a sealed identifying dataset of
a synthetic SNDS-like table read by two projects through different views, with boto3, awscli,
rclone, DuckDB and pyarrow; pseudonyms checked against an HMAC computed here from the secret
unsealed from the keyring by independent code (pyca/cryptography); the opt-out registry; and
every path around a view refused and audited."""
import base64
import csv
import io
import json
import os
import subprocess
import tempfile
import threading
import time

import boto3
import botocore
import pytest
import requests
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import pseudonyms
import snds
from gateway import ACCESS_KEY, SECRET_KEY, Gateway, run_cli
from trust import add_user, audit_entries, next_code, session_client, sign_in

PATIENTS = 20_000
ROWS = 100_000

VIEW_A = """format: csv
patient: nir
columns:
  nir: pseudonym
  sex: keep
  birth_date: {generalise: year}
  postcode: departement
  icd10: {prefix: 3}
  care_date: {generalise: month}
  cost: keep
"""

VIEW_B = """format: csv
patient: nir
scope: dataset
columns:
  nir: pseudonym
  birth_date: {generalise: quarter}
  care_date: {shift: 30}
  icd10: keep
  cost: {bands: [0, 50, 100, 250]}
  name: drop
where:
  - {column: care_date, op: ">=", value: "2016-01-01"}
"""


def root_client(g):
    return boto3.client("s3", endpoint_url=g.endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, config=botocore.config.Config(s3={"addressing_style": "path"}))


def cli(g, *args, check=True):
    return run_cli(*args, data_dir=g.data_dir, env={"PASSERELLE_MASTER_KEY": g.master_key}, check=check)


def pseudonym_secret(g):
    """The deployment's pseudonym secret, unsealed from the keyring file with the master key
    (the keyring format: AES-256-GCM, AAD `passerelle-keyring/1`)."""
    with open(os.path.join(g.data_dir, "keyring.sealed")) as f:
        outer = json.load(f)
    sealed = base64.b64decode(outer["sealed"])
    plain = AESGCM(base64.b64decode(g.master_key)).decrypt(base64.b64decode(outer["nonce"]), sealed, outer["format"].encode())
    return base64.b64decode(json.loads(plain)["pseudonymSecret"])


def rows_of(body):
    return list(csv.DictReader(io.StringIO(body.decode())))


def write_view(g, name, text):
    path = os.path.join(g.data_dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


@pytest.fixture(scope="module")
def world():
    master = base64.b64encode(os.urandom(32)).decode()
    g = Gateway(config="default_placement:\n  backend: local\n  layout: sealed\n", env={"PASSERELLE_MASTER_KEY": master})
    g.master_key = master
    g.start()
    root = root_client(g)
    people = snds.patients(PATIENTS)
    g.people = people
    g.files = {"2024/events.csv": snds.events(people, ROWS, seed=2), "2024/more.csv": snds.events(people[:2000], 5000, seed=3)}
    cli(g, "dataset", "create", "pmsi", "--layout", "sealed", "--sensitivity", "identifying")
    cli(g, "dataset", "create", "public", "--layout", "sealed")
    for k, v in g.files.items():
        root.put_object(Bucket="pmsi", Key=k, Body=v, ContentType="text/csv", Metadata={"origin": "hospital-42"})
    root.put_object(Bucket="public", Key="readme.txt", Body=b"open data")
    g.users = {u: add_user(g, u) for u in ("ana", "ben", "cyd")}
    for p, user in (("proj-a", "ana"), ("proj-b", "ben"), ("proj-c", "cyd")):
        cli(g, "project", "create", p, "--purpose", f"study {p}", "--expires", "30", "--members", user)
        cli(g, "project", "grant", p, "--dataset", "pmsi", "--actions", "read,list")
        cli(g, "project", "grant", p, "--dataset", "public", "--actions", "read,list,write")
    cli(g, "view", "set", "pmsi", "--project", "proj-a", "--file", write_view(g, "a.yaml", VIEW_A))
    cli(g, "view", "set", "pmsi", "--project", "proj-b", "--file", write_view(g, "b.yaml", VIEW_B))
    yield g
    g.cleanup()


_sessions = {}


def session(g, user, project):
    if (user, project) not in _sessions or _sessions[(user, project)][1] < time.time():
        status, creds = sign_in(g, user, next_code(g.users[user]), project)
        assert status == 200, creds
        _sessions[(user, project)] = (creds, time.time() + 1800)
    return _sessions[(user, project)][0]


def client(g, user, project):
    return session_client(g, session(g, user, project))


def test_two_projects_read_one_object_differently_and_nothing_identifying_leaves(world):
    g = world
    a = client(g, "ana", "proj-a").get_object(Bucket="pmsi", Key="2024/events.csv")
    b = client(g, "ben", "proj-b").get_object(Bucket="pmsi", Key="2024/events.csv")
    assert a["ContentType"] == "text/csv" and "origin" not in a["Metadata"] and not a["Metadata"]
    body_a, body_b = a["Body"].read(), b["Body"].read()
    ra, rb = rows_of(body_a), rows_of(body_b)
    assert list(ra[0].keys()) == ["nir", "sex", "birth_date", "postcode", "icd10", "care_date", "cost"]
    assert list(rb[0].keys()) == ["nir", "birth_date", "care_date", "icd10", "cost"]
    assert len(ra) == ROWS
    assert 0 < len(rb) < ROWS, "proj-b's predicate keeps care from 2016 on"
    # Value by value: no identifier, birth date, postcode or name of the source is served.
    forbidden = set()
    for p in g.people:
        forbidden |= {p["nir"], p["birth_date"], p["postcode"]}
    forbidden |= set(snds.NAMES)
    for rows in (ra, rb):
        for r in rows:
            for v in r.values():
                assert v not in forbidden, v
    for raw in (b"hospital-42", b"urgence", b"ligne1"):
        assert raw not in body_a and raw not in body_b
    # Pseudonyms are keyed HMACs, per project: an HMAC computed here with the derived key.
    secret = pseudonym_secret(g)
    key_a = pseudonyms.project_key(secret, "pseudonym", "proj-a", 1)
    key_b = pseudonyms.project_key(secret, "pseudonym", "proj-b", 1, "pmsi")
    expected_a = {pseudonyms.pseudonym(key_a, p["nir"]) for p in g.people}
    assert {r["nir"] for r in ra} <= expected_a
    assert {r["nir"] for r in rb} <= {pseudonyms.pseudonym(key_b, p["nir"]) for p in g.people}
    import hashlib
    plain = {base64.b32encode(hashlib.sha256(p["nir"].encode()).digest()[:20]).decode().lower().rstrip("=") for p in g.people}
    assert not plain & {r["nir"] for r in ra}, "not a plain hash of the identifier"
    # Unlinkable across projects: joining the two outputs on their pseudonyms matches nothing.
    assert not {r["nir"] for r in ra} & {r["nir"] for r in rb}
    # Generalisations and shifts as the views say.
    assert all(len(r["birth_date"]) == 4 and len(r["care_date"]) == 7 for r in ra)
    assert all(r["birth_date"][4:6] == "-Q" for r in rb)
    assert {r["postcode"] for r in ra} <= set(snds.DEPARTEMENTS)
    assert {"2A", "2B", "971", "976"} <= {r["postcode"] for r in ra}


def test_pseudonyms_stable_across_objects_and_restart(world):
    g = world
    s3 = client(g, "ana", "proj-a")
    first = {r["nir"] for r in rows_of(s3.get_object(Bucket="pmsi", Key="2024/more.csv")["Body"].read())}
    events = {r["nir"] for r in rows_of(s3.get_object(Bucket="pmsi", Key="2024/events.csv")["Body"].read())}
    key_a = pseudonyms.project_key(pseudonym_secret(g), "pseudonym", "proj-a", 1)
    assert first <= {pseudonyms.pseudonym(key_a, p["nir"]) for p in g.people[:2000]}
    assert first & events, "the same patients have the same pseudonyms in both objects"
    g.restart()
    _sessions.clear()
    again = {r["nir"] for r in rows_of(client(g, "ana", "proj-a").get_object(Bucket="pmsi", Key="2024/more.csv")["Body"].read())}
    assert again == first


def test_head_listing_get_and_ranges_agree_for_every_client(world):
    g = world
    creds = session(g, "ana", "proj-a")
    s3 = session_client(g, creds)
    head = s3.head_object(Bucket="pmsi", Key="2024/events.csv")
    listed = {o["Key"]: o for o in s3.list_objects_v2(Bucket="pmsi")["Contents"]}
    body = s3.get_object(Bucket="pmsi", Key="2024/events.csv")["Body"].read()
    assert head["ContentLength"] == listed["2024/events.csv"]["Size"] == len(body)
    assert head["ETag"] == listed["2024/events.csv"]["ETag"] == '"%s"' % __import__("hashlib").md5(body).hexdigest()
    part = s3.get_object(Bucket="pmsi", Key="2024/events.csv", Range="bytes=1000-1999")["Body"].read()
    assert part == body[1000:2000]
    # DuckDB (httpfs: HEAD, then ranges) reads the same rows as a full GET.
    import duckdb
    import duckdb_extension_httpfs
    con = duckdb.connect()
    con.execute("LOAD '%s'" % os.path.join(os.path.dirname(duckdb_extension_httpfs.__file__), "extensions", "v" + duckdb.__version__,
                                         "httpfs.duckdb_extension"))
    con.execute(f"""CREATE SECRET s (TYPE s3, KEY_ID '{creds["AccessKeyId"]}', SECRET '{creds["SecretAccessKey"]}',
                    SESSION_TOKEN '{creds["SessionToken"]}', ENDPOINT '127.0.0.1:{g.port}', URL_STYLE 'path', USE_SSL false,
                    REGION 'us-east-1')""")
    got = con.execute("SELECT count(*), count(DISTINCT nir), sum(cost::DOUBLE) FROM read_csv('s3://pmsi/2024/events.csv', all_varchar=true)").fetchone()
    rows = rows_of(body)
    assert got[0] == len(rows) and got[1] == len({r["nir"] for r in rows})
    assert abs(got[2] - sum(float(r["cost"]) for r in rows)) < 1e-3
    # pyarrow's S3 filesystem.
    import pyarrow.csv as pacsv
    from pyarrow import fs
    s3fs = fs.S3FileSystem(access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"], session_token=creds["SessionToken"],
                           endpoint_override=f"127.0.0.1:{g.port}", scheme="http", region="us-east-1", force_virtual_addressing=False)
    with s3fs.open_input_file("pmsi/2024/events.csv") as f:
        table = pacsv.read_csv(f, convert_options=pacsv.ConvertOptions(column_types={"sex": "string"}))
    assert table.num_rows == len(rows) and table.column_names == list(rows[0].keys())
    # awscli and rclone copy the view output, byte for byte.
    d = tempfile.mkdtemp()
    env = dict(os.environ, AWS_ACCESS_KEY_ID=creds["AccessKeyId"], AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
               AWS_SESSION_TOKEN=creds["SessionToken"], AWS_DEFAULT_REGION="us-east-1")
    subprocess.run(["aws", "--endpoint-url", g.endpoint, "s3", "cp", "s3://pmsi/2024/events.csv", d + "/aws.csv"], env=env, check=True,
                   capture_output=True)
    with open(d + "/aws.csv", "rb") as f:
        assert f.read() == body
    rc = subprocess.run(
        ["rclone", "copyto", ":s3:pmsi/2024/events.csv", d + "/rclone.csv", "--s3-provider", "Other", "--s3-endpoint", g.endpoint,
         "--s3-access-key-id", creds["AccessKeyId"], "--s3-secret-access-key", creds["SecretAccessKey"],
         "--s3-session-token", creds["SessionToken"], "--s3-force-path-style"],
        env={k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}, capture_output=True, text=True)
    assert rc.returncode == 0, rc.stderr
    with open(d + "/rclone.csv", "rb") as f:
        assert f.read() == body
