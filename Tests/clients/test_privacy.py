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


def events(g):
    """The audit log's entries, decoded, by index."""
    return {i: json.loads(e) for i, e in audit_entries(g).items()}


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
    g = Gateway(config="default_placement:\n  backend: local\n  layout: sealed\nviews:\n  refresh_seconds: 1\n",
                env={"PASSERELLE_MASTER_KEY": master})
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


def served_patients(g, user, project, key="2024/events.csv"):
    s3 = client(g, user, project)
    return {r["nir"] for r in rows_of(s3.get_object(Bucket="pmsi", Key=key)["Body"].read())}


def test_opt_out_removes_patients_from_the_next_read(world):
    g = world
    key_a = pseudonyms.project_key(pseudonym_secret(g), "pseudonym", "proj-a", 1)
    alias = {pseudonyms.pseudonym(key_a, p["nir"]): p["nir"] for p in g.people}
    before = served_patients(g, "ana", "proj-a")
    objected = [p["nir"] for p in g.people[:10_000]]
    path = os.path.join(g.data_dir, "optout.txt")
    with open(path, "w") as f:
        # As registries hold them: some typed with spaces, one per line.
        f.write("\n".join(snds.spaced(__import__("random").Random(i), n) for i, n in enumerate(objected)) + "\n")
    t = time.time()
    out = cli(g, "optout", "import", path).stdout
    g.objected = set(objected)
    assert "10000 of 10000 added" in out, out
    assert time.time() - t < 30
    assert cli(g, "optout", "count").stdout.strip() == "10000"
    after = served_patients(g, "ana", "proj-a")
    assert not {alias[x] for x in after} & set(objected), "no patient who objected is served"
    assert {alias[x] for x in before} - set(objected) == {alias[x] for x in after}, "every other patient still is"
    # The registry holds keyed hashes only, and the audit log no identifier.
    import sqlite3
    db = sqlite3.connect(os.path.join(g.data_dir, "access.sqlite"))
    stored = {bytes(h) for (h,) in db.execute("SELECT hash FROM optout")}
    assert pseudonyms.optout_hash(pseudonym_secret(g), objected[0]) in stored
    assert not any(objected[0].encode() in h for h in stored)
    log = json.dumps(audit_entries(g))
    assert not any(n in log for n in objected[:100])

    # One more objection while a reader loops: the first read that starts after the command
    # returns no longer serves that patient.
    target = next(p["nir"] for p in g.people[10_000:] if pseudonyms.pseudonym(key_a, p["nir"]) in after)
    pseudo = pseudonyms.pseudonym(key_a, target)
    s3 = client(g, "ana", "proj-a")
    stop, reads = threading.Event(), []

    def reader():
        while not stop.is_set():
            started = time.time()
            body = s3.get_object(Bucket="pmsi", Key="2024/more.csv")["Body"].read()
            reads.append((started, pseudo.encode() in body))

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for th in threads:
        th.start()
    time.sleep(1)
    cli(g, "optout", "add", target)
    returned = time.time()
    time.sleep(2)
    stop.set()
    for th in threads:
        th.join()
    assert any(started < returned for started, _ in reads)
    late = [present for started, present in reads if started > returned]
    assert late and not any(late), "a read started after `optout add` returned served the patient"
    cli(g, "optout", "remove", target)
    assert pseudo in served_patients(g, "ana", "proj-a", "2024/more.csv") or target not in {p["nir"] for p in g.people[:2000]}


def test_rotating_pseudonyms_changes_them_and_outputs_follow_in_the_background(world):
    g = world
    before = served_patients(g, "ben", "proj-b")
    mark = max(events(g))

    def refreshes():
        with open(g.log_path) as f:
            return f.read().count("outputs computed in the background")

    seen = refreshes()
    cli(g, "project", "rotate-pseudonyms", "proj-b")
    deadline = time.time() + 60
    while refreshes() == seen and time.time() < deadline:
        time.sleep(0.2)
    assert refreshes() > seen, "the refresher recomputed the outputs of the new epoch"
    time.sleep(1)
    after = served_patients(g, "ben", "proj-b")
    read = [e for i, e in events(g).items() if i > mark and e.get("action") == "GetObject" and e.get("project") == "proj-b"]
    assert read and "epoch 2" in read[-1]["detail"] and "computed for this read" not in read[-1]["detail"], read[-1]
    assert before and after and not before & after
    key = pseudonyms.project_key(pseudonym_secret(g), "pseudonym", "proj-b", 2, "pmsi")
    assert after <= {pseudonyms.pseudonym(key, p["nir"]) for p in g.people}


def denied(fn):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn()
    assert e.value.response["Error"]["Code"] == "AccessDenied", e.value.response
    return e


def test_every_path_around_a_view_is_refused_and_audited(world):
    g = world
    root = root_client(g)
    c = client(g, "cyd", "proj-c")  # granted read, but no view
    a = client(g, "ana", "proj-a")
    before = max(events(g))
    # A project without a view: GET, ranged GET, HEAD, listing, presigned URL.
    denied(lambda: c.get_object(Bucket="pmsi", Key="2024/more.csv"))
    denied(lambda: c.get_object(Bucket="pmsi", Key="2024/more.csv", Range="bytes=0-99"))
    with pytest.raises(botocore.exceptions.ClientError):
        c.head_object(Bucket="pmsi", Key="2024/more.csv")
    denied(lambda: c.list_objects_v2(Bucket="pmsi"))
    url = c.generate_presigned_url("get_object", Params={"Bucket": "pmsi", "Key": "2024/more.csv"})
    r = requests.get(url, timeout=30)
    assert r.status_code == 403 and b"AccessDenied" in r.content and b"nir" not in r.content
    # A project with a view: anything but GET, HEAD and listings of the view output.
    version = root.head_object(Bucket="pmsi", Key="2024/more.csv").get("VersionId", "null")
    denied(lambda: a.get_object(Bucket="pmsi", Key="2024/more.csv", PartNumber=1))
    denied(lambda: a.get_object(Bucket="pmsi", Key="2024/more.csv", ResponseContentType="text/plain"))
    denied(lambda: a.get_object(Bucket="pmsi", Key="2024/more.csv", VersionId=version))
    denied(lambda: a.copy_object(Bucket="public", Key="stolen.csv", CopySource={"Bucket": "pmsi", "Key": "2024/more.csv"}))
    up = a.create_multipart_upload(Bucket="public", Key="stolen.bin")["UploadId"]
    denied(lambda: a.upload_part_copy(Bucket="public", Key="stolen.bin", UploadId=up, PartNumber=1,
                                      CopySource={"Bucket": "pmsi", "Key": "2024/more.csv"}))
    root.abort_multipart_upload(Bucket="public", Key="stolen.bin", UploadId=up)
    denied(lambda: a.list_object_versions(Bucket="pmsi"))
    denied(lambda: a.get_object_tagging(Bucket="pmsi", Key="2024/more.csv"))
    denied(lambda: a.get_object_acl(Bucket="pmsi", Key="2024/more.csv"))
    denied(lambda: a.list_multipart_uploads(Bucket="pmsi"))
    denied(lambda: a.put_object(Bucket="pmsi", Key="x.csv", Body=b"nir\n1\n"))
    # Another project's view output is not addressable: outputs live under opaque names on
    # the local store, not in any dataset.
    listed = [o["Key"] for o in a.list_objects_v2(Bucket="pmsi")["Contents"]]
    assert listed == sorted(g.files)
    blobs = [n for _, _, names in os.walk(os.path.join(g.data_dir, "objects")) for n in names][:5]
    for name in blobs:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            a.get_object(Bucket="pmsi", Key=name)
        assert e.value.response["Error"]["Code"] in ("NoSuchKey", "AccessDenied")
    assert not os.path.exists(os.path.join(g.data_dir, "objects", "stolen.csv"))
    # A raw read grant is refused at grant time.
    r = cli(g, "project", "grant", "proj-c", "--dataset", "pmsi", "--actions", "read", "--raw", check=False)
    assert r.returncode != 0 and "identifying" in r.stderr
    entries = events(g)
    refusals = [e for i, e in entries.items() if i > before and e.get("result") == "denied"]
    assert len(refusals) >= 14, refusals
    reasons = " ".join(e.get("detail", "") for e in refusals)
    assert "only through a view, and has none" in reasons and "copies from dataset pmsi" in reasons
    assert "partNumber" in reasons and "response-content-type" in reasons and "versionId" in reasons
    assert any(e.get("action") == "grant" and e.get("result") == "denied" for e in refusals)
    # Root keeps raw access, audited like every request.
    assert root.get_object(Bucket="pmsi", Key="2024/more.csv")["Body"].read() == g.files["2024/more.csv"]


def test_view_reads_are_audited_with_what_the_view_did(world):
    g = world
    before = max(events(g))
    client(g, "ana", "proj-a").get_object(Bucket="pmsi", Key="2024/more.csv")["Body"].read()
    mine = [e for i, e in events(g).items() if i > before and e.get("action") == "GetObject"]
    assert mine, "the read is in the log"
    e = mine[-1]
    assert e["project"] == "proj-a" and e["purpose"] == "study proj-a" and e["dataset"] == "pmsi"
    assert "view of proj-a view 1" in e["detail"] and "rows read 5000" in e["detail"] and "removed by the opt-out registry" in e["detail"]


def test_bad_sources_and_bad_views_fail_clearly_and_change_nothing(world):
    g = world
    root = root_client(g)
    bad = {
        "bad/quote.csv": b"nir,sex,birth_date,postcode,icd10,care_date,cost\n1,1,2000-01-01,75001,I10,2020-01-01,\"3\n",
        "bad/ragged.csv": b"nir,sex,birth_date,postcode,icd10,care_date,cost\n1,1,2000-01-01,75001,I10,2020-01-01,3\n2,1\n",
        "bad/utf8.csv": b"nir,sex,birth_date,postcode,icd10,care_date,cost\n1,1,2000-01-01,75001,I\xff10,2020-01-01,3\n",
        "bad/missing.csv": b"nir,sex,birth_date\n1,1,2000-01-01\n",
        "bad/date.csv": b"nir,sex,birth_date,postcode,icd10,care_date,cost\n1,1,2000-13-01,75001,I10,2020-01-01,3\n",
    }
    for k, v in bad.items():
        root.put_object(Bucket="pmsi", Key=k, Body=v)
    a = client(g, "ana", "proj-a")
    for k, (line, what) in {"bad/quote.csv": (2, "unterminated"), "bad/ragged.csv": (3, "row has 2 fields"),
                            "bad/utf8.csv": (2, "invalid UTF-8"), "bad/missing.csv": (1, "\"postcode\" is not in the file"),
                            "bad/date.csv": (2, "birth_date")}.items():
        with pytest.raises(botocore.exceptions.ClientError) as e:
            a.get_object(Bucket="pmsi", Key=k)
        err = e.value.response["Error"]
        assert err["Code"] == "InvalidObjectState", err
        assert f"line {line}" in err["Message"] and what in err["Message"], err
        assert "2000-13-01" not in err["Message"]
        assert root.get_object(Bucket="pmsi", Key=k)["Body"].read() == bad[k], "nothing stored changed"
    with open(g.log_path) as f:
        log = f.read()
    assert "view failed" in log and "bad/ragged.csv" in log
    # A listing leaves out what it cannot show, so no size it shows is contradicted by a GET.
    assert not any(o["Key"].startswith("bad/") for o in a.list_objects_v2(Bucket="pmsi")["Contents"])
    for k in bad:
        root.delete_object(Bucket="pmsi", Key=k)
    # An invalid view file is refused with its line; the current view stays.
    for text, line in (("format: csv\npatient: nir\ncolumns:\n  nir: pseudonym\n  sex: kepe\n", 5),
                       ("format: csv\npatient: nir\ncolumns:\n  nir: pseudonym\n  cost: {bands: [3, 1]}\n", 5)):
        r = cli(g, "view", "set", "pmsi", "--project", "proj-a", "--file", write_view(g, "bad.yaml", text), check=False)
        assert r.returncode != 0 and f"line {line}" in r.stderr, r.stderr
    shown = cli(g, "view", "show", "pmsi", "--project", "proj-a").stdout
    assert "version 1" in shown and "postcode: departement" in shown
    assert "pmsi\tproj-a\tversion 1" in cli(g, "view", "list").stdout


VIEW_D = VIEW_A + """aggregates:
  - name: sex_by_dept
    group_by: {sex: keep, postcode: departement}
    measures: [patients, rows, {sum: cost}, {mean: cost}]
  - name: sex_by_decade
    group_by: {sex: keep, birth_date: {prefix: 3}}
    measures: [patients]
"""


def lp_intervals(cells, shown, groups, links=()):
    """The attacker's view (sdcTable's `attack()`): every inner cell a variable ≥ 0, every shown
    cell (inner or margin) an equation on the inner cells it covers, `links` equations between
    sums of inner cells (margins two tables share); returns, for each masked cell, the min and
    max of what it covers, by linear programming."""
    import numpy as np
    from scipy.optimize import linprog
    index = {c: i for i, c in enumerate(cells)}
    a_eq, b_eq = [], []
    for covered, value in shown:
        row = np.zeros(len(cells))
        for c in covered:
            row[index[c]] = 1
        a_eq.append(row)
        b_eq.append(value)
    for left, right in links:
        row = np.zeros(len(cells))
        for c in left:
            row[index[c]] += 1
        for c in right:
            row[index[c]] -= 1
        a_eq.append(row)
        b_eq.append(0)
    out = {}
    for name, covered in groups.items():
        obj = np.zeros(len(cells))
        for c in covered:
            obj[index[c]] = 1
        lo = linprog(obj, A_eq=np.array(a_eq), b_eq=np.array(b_eq), bounds=(0, None), method="highs")
        hi = linprog(-obj, A_eq=np.array(a_eq), b_eq=np.array(b_eq), bounds=(0, None), method="highs")
        assert lo.status == 0 and hi.status in (0, 3), (lo.message, hi.message)
        out[name] = (lo.fun, float("inf") if hi.status == 3 else -hi.fun)
    return out


def test_aggregates_suppressed_and_checked_against_an_independent_computation_and_an_lp_attack(world):
    import pandas as pd
    g = world
    root = root_client(g)
    # A few rare combinations, so some cells are small.
    rng = __import__("random").Random(9)
    rare = ([dict(p, postcode="48000", birth_date="1925-03-04") for p in snds.patients(7, seed=11)]
            + [dict(p, postcode="23000") for p in snds.patients(3, seed=12)])
    g.files["2024/rare.csv"] = snds.events(rare, 40, seed=13)
    root.put_object(Bucket="pmsi", Key="2024/rare.csv", Body=g.files["2024/rare.csv"])
    user = add_user(g, "dee")
    g.users["dee"] = user
    cli(g, "project", "create", "proj-d", "--purpose", "aggregate statistics", "--expires", "30", "--members", "dee")
    cli(g, "project", "grant", "proj-d", "--dataset", "pmsi", "--actions", "read,list")
    cli(g, "view", "set", "pmsi", "--project", "proj-d", "--file", write_view(g, "d.yaml", VIEW_D))
    s3 = client(g, "dee", "proj-d")
    listed = {o["Key"]: o for o in s3.list_objects_v2(Bucket="pmsi", Prefix="_aggregates/")["Contents"]}
    assert sorted(listed) == ["_aggregates/sex_by_decade.csv", "_aggregates/sex_by_decade.json", "_aggregates/sex_by_dept.csv",
                              "_aggregates/sex_by_dept.json"]
    got = {}
    for name in ("sex_by_dept", "sex_by_decade"):
        obj = s3.get_object(Bucket="pmsi", Key=f"_aggregates/{name}.csv")
        body = obj["Body"].read()
        assert len(body) == listed[f"_aggregates/{name}.csv"]["Size"] and obj["ETag"] == listed[f"_aggregates/{name}.csv"]["ETag"]
        got[name] = pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False)
        js = json.loads(s3.get_object(Bucket="pmsi", Key=f"_aggregates/{name}.json")["Body"].read())
        assert js["aggregate"] == name and js["min_cell"] == 11 and len(js["cells"]) == len(got[name])

    # The ground truth, computed here from the sources: every row of every object, minus the
    # patients who objected (the registry is read back through the CLI count and the ids the
    # tests put in), with each patient counted once per cell.
    frames = [pd.read_csv(io.BytesIO(v), dtype=str, keep_default_na=False) for v in g.files.values()]
    src = pd.concat(frames)
    src["id"] = src["nir"].str.replace(r"\s", "", regex=True).str.upper()
    objected = getattr(g, "objected", set())
    assert cli(g, "optout", "count").stdout.strip() == str(len(objected))
    src = src[~src["id"].isin(objected)]
    dept = lambda pc: "2A" if "20000" <= pc < "20200" else "2B" if "20200" <= pc < "20700" else pc[:3] if pc[:2] in ("97", "98") else pc[:2]
    src["postcode"] = src["postcode"].map(dept)
    src["birth_date"] = src["birth_date"].str[:3]
    src["cost"] = src["cost"].astype(float)

    for name, dims in (("sex_by_dept", ["sex", "postcode"]), ("sex_by_decade", ["sex", "birth_date"])):
        table = got[name]
        shown = table[table["suppressed"] == ""]
        assert not any(1 <= int(v) <= 10 for v in shown["patients"]), "no shown cell below the threshold"
        assert (table["suppressed"] == "primary").any(), "the rare rows make small cells"
        for _, row in shown.iterrows():
            sel = src
            for d in dims:
                if row[d] != "*":
                    sel = sel[sel[d] == row[d]]
            assert int(row["patients"]) == sel["id"].nunique(), (name, dict(row))
            if name == "sex_by_dept":
                assert int(row["rows"]) == len(sel)
                assert abs(float(row["sum_cost"]) - sel["cost"].sum()) < 0.01 * max(1, len(sel))
        for _, row in table[table["suppressed"] != ""].iterrows():
            assert all(row[m] == "" for m in ("patients", "rows", "sum_cost", "mean_cost") if m in row), "masked cells mask every measure"

    # The LP attack, on each table and on both together (their `sex` margins count the same
    # patients): every primary cell keeps an interval at least the threshold wide and ±10 %.
    def model(name, dims):
        t = got[name]
        inner = [tuple(r[d] for d in dims) for _, r in t.iterrows() if "*" not in [r[d] for d in dims]]
        cells = [(name,) + c for c in inner]
        equations, masked = [], {}
        for _, r in t.iterrows():
            key = tuple(r[d] for d in dims)
            covered = [(name,) + c for c in inner if all(k == "*" or k == v for k, v in zip(key, c))]
            if r["suppressed"] == "":
                equations.append((covered, int(r["patients"])))
            elif r["suppressed"] == "primary":
                masked[(name,) + key] = covered
        return cells, equations, masked

    def truth(name, dims, key):
        sel = src
        for d, k in zip(dims, key):
            if k != "*":
                sel = sel[sel[d] == k]
        return sel["id"].nunique()
    models = {n: model(n, d) for n, d in (("sex_by_dept", ["sex", "postcode"]), ("sex_by_decade", ["sex", "birth_date"]))}
    links = []
    for s in ("1", "2"):
        links.append(([c for c in models["sex_by_dept"][0] if c[1] == s], [c for c in models["sex_by_decade"][0] if c[1] == s]))
    runs = [(models[n][0], models[n][1], models[n][2], ()) for n in models]
    runs.append((models["sex_by_dept"][0] + models["sex_by_decade"][0], models["sex_by_dept"][1] + models["sex_by_decade"][1],
                 {**models["sex_by_dept"][2], **models["sex_by_decade"][2]}, links))
    dims_of = {"sex_by_dept": ["sex", "postcode"], "sex_by_decade": ["sex", "birth_date"]}
    for cells, equations, masked, link in runs:
        assert masked
        for key, (lo, hi) in lp_intervals(cells, equations, masked, link).items():
            value = truth(key[0], dims_of[key[0]], key[1:])
            assert lo <= value + 1e-6 and value <= hi + 1e-6, (key, lo, hi, value)
            assert hi - lo >= max(11, 0.2 * value) - 1e-6, f"{key}: the attacker narrows {value} to [{lo}, {hi}]"


def test_outputs_of_deleted_objects_and_datasets_are_dropped(world):
    import sqlite3
    g = world
    root = root_client(g)
    root.put_object(Bucket="pmsi", Key="2024/gone.csv", Body=snds.events(g.people[-50:], 60, seed=21))
    root.create_bucket(Bucket="scratch")
    cli(g, "dataset", "set", "scratch", "--sensitivity", "identifying")
    cli(g, "project", "grant", "proj-a", "--dataset", "scratch", "--actions", "read,list")
    cli(g, "view", "set", "scratch", "--project", "proj-a", "--file", write_view(g, "s.yaml", VIEW_A))
    root.put_object(Bucket="scratch", Key="t.csv", Body=snds.events(g.people[-50:], 60, seed=22))
    a = client(g, "ana", "proj-a")
    a.get_object(Bucket="pmsi", Key="2024/gone.csv")["Body"].read()
    a.get_object(Bucket="scratch", Key="t.csv")["Body"].read()

    def outputs(bucket, key=None):
        db = sqlite3.connect(os.path.join(g.data_dir, "catalog.sqlite"))
        rows = db.execute("SELECT key, blob FROM view_outputs WHERE bucket = ?", (bucket,)).fetchall()
        db.close()
        return [(bytes(k).decode() if isinstance(k, bytes) else k, b) for k, b in rows if key is None or (bytes(k).decode() if isinstance(k, bytes) else k) == key]

    assert outputs("pmsi", "2024/gone.csv") and outputs("scratch")
    blobs = {b for _, b in outputs("pmsi", "2024/gone.csv") + outputs("scratch")}
    root.delete_object(Bucket="pmsi", Key="2024/gone.csv")
    root.delete_object(Bucket="scratch", Key="t.csv")
    root.delete_bucket(Bucket="scratch")
    assert not outputs("scratch"), "a deleted dataset's outputs go with it"
    deadline = time.time() + 30
    while outputs("pmsi", "2024/gone.csv") and time.time() < deadline:
        time.sleep(0.5)
    assert not outputs("pmsi", "2024/gone.csv"), "the refresher drops the outputs of deleted objects"
    on_disk = {n for _, _, names in os.walk(os.path.join(g.data_dir, "objects")) for n in names}
    assert not blobs & on_disk, "and their sealed blobs"
    cli(g, "view", "remove", "scratch", "--project", "proj-a")
