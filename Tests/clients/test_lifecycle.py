"""Bucket lifecycle configurations with boto3 and awscli (Put/Get/DeleteBucketLifecycleConfiguration,
S3's validation errors), and the sweeper that applies them, on the local store and on a sealed
dataset on SeaweedFS: a rule whose date has passed expires what it selects (prefix, tag, size)
within a sweep, leaves everything else, and records each expiry in the audit log."""
import json
import os
import tempfile
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import make_client
from gateway import Gateway, awscli, backend_config, default_placement_yaml
from trust import audit_entries

SWEEP = "lifecycle:\n  interval_seconds: 0.5\n"


@pytest.fixture(scope="module", params=["local", "seaweedfs-sealed"])
def g(request):
    if request.param == "local":
        gw = Gateway(config=SWEEP).start()
    else:
        import base64
        peer = request.getfixturevalue("seaweedfs")
        config, env = backend_config("seaweedfs", peer, peer.create_bucket("passerelle-lifecycle"), default=False)
        config += default_placement_yaml("seaweedfs", "passerelle-lifecycle") + "  layout: sealed\n" + SWEEP
        gw = Gateway(config=config, env=dict(env, PASSERELLE_MASTER_KEY=base64.b64encode(os.urandom(32)).decode())).start()
    yield gw
    gw.cleanup()


@pytest.fixture(scope="module")
def s3(g):
    return make_client(g.endpoint)


def error(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"]


def rule(id, filter, **actions):
    return {"ID": id, "Status": "Enabled", "Filter": filter, **actions}


def test_configuration_round_trip_and_refusals(s3):
    b = f"lc-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=b)
    assert error(lambda: s3.get_bucket_lifecycle_configuration(Bucket=b)) == (404, "NoSuchLifecycleConfiguration")
    rules = [
        rule("tmp", {"Prefix": "tmp/"}, Expiration={"Days": 7}),
        rule("scratch", {"And": {"Prefix": "s/", "Tags": [{"Key": "class", "Value": "scratch"}], "ObjectSizeGreaterThan": 100}},
             Expiration={"Date": "2030-01-01T00:00:00Z"}),
        rule("uploads", {"Prefix": ""}, AbortIncompleteMultipartUpload={"DaysAfterInitiation": 3}),
        rule("versions", {"Prefix": "v/"}, NoncurrentVersionExpiration={"NoncurrentDays": 30, "NewerNoncurrentVersions": 3}),
    ]
    s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": rules})
    got = s3.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]
    assert [r["ID"] for r in got] == ["tmp", "scratch", "uploads", "versions"]
    assert got[0]["Filter"] == {"Prefix": "tmp/"} and got[0]["Expiration"] == {"Days": 7}
    assert got[1]["Filter"]["And"]["Tags"] == [{"Key": "class", "Value": "scratch"}]
    assert got[1]["Filter"]["And"]["ObjectSizeGreaterThan"] == 100
    assert got[1]["Expiration"]["Date"].year == 2030
    assert got[2]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 3}
    assert got[3]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30, "NewerNoncurrentVersions": 3}
    bad = [
        ([rule("x", {"Prefix": ""}, Expiration={"Days": 0})], (400, "InvalidArgument")),
        ([rule("x", {"Prefix": ""}, Expiration={"Date": "2030-01-01T12:00:00Z"})], (400, "InvalidArgument")),
        ([rule("x", {"Prefix": ""}, Expiration={"Days": 1}), rule("x", {"Prefix": "a"}, Expiration={"Days": 1})], (400, "InvalidArgument")),
        ([rule("x", {"Prefix": ""}, Transitions=[{"Days": 1, "StorageClass": "GLACIER"}])], (400, "InvalidRequest")),
        ([rule("x", {"Tag": {"Key": "k", "Value": "v"}}, AbortIncompleteMultipartUpload={"DaysAfterInitiation": 1})],
         (400, "InvalidArgument")),
        ([{"ID": "x", "Status": "Enabled", "Filter": {"Prefix": ""}}], (400, "InvalidArgument")),
    ]
    for rules_, expected in bad:
        assert error(lambda: s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": rules_})) == expected
    # Nothing refused replaced the stored configuration.
    assert [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]] == ["tmp", "scratch", "uploads", "versions"]
    s3.delete_bucket_lifecycle(Bucket=b)
    assert error(lambda: s3.get_bucket_lifecycle_configuration(Bucket=b)) == (404, "NoSuchLifecycleConfiguration")
    assert error(lambda: s3.get_bucket_lifecycle_configuration(Bucket="no-such-lifecycle-bucket")) == (404, "NoSuchBucket")


def test_awscli_lifecycle(g, s3):
    b = f"lc-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=b)
    doc = os.path.join(tempfile.mkdtemp(prefix="lc-"), "lc.json")
    json.dump({"Rules": [rule("tmp", {"Prefix": "tmp/"}, Expiration={"Days": 2})]}, open(doc, "w"))
    awscli(g, "s3api", "put-bucket-lifecycle-configuration", "--bucket", b, "--lifecycle-configuration", f"file://{doc}")
    assert awscli(g, "s3api", "get-bucket-lifecycle-configuration", "--bucket", b)["Rules"][0]["Expiration"] == {"Days": 2}
    awscli(g, "s3api", "delete-bucket-lifecycle", "--bucket", b)


def test_expiration_header(s3):
    """GET, HEAD and PUT report when a rule expires the object (`x-amz-expiration`), by the
    earliest rule; objects no rule selects carry no header."""
    b = f"lc-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=b)
    s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": [
        rule("week", {"Prefix": "tmp/"}, Expiration={"Days": 7}),
        rule("day", {"Prefix": "tmp/short/"}, Expiration={"Days": 1}),
        rule("date", {"Prefix": "d/"}, Expiration={"Date": "2031-01-01T00:00:00Z"}),
    ]})
    put = s3.put_object(Bucket=b, Key="tmp/short/x", Body=b"x")
    head = s3.head_object(Bucket=b, Key="tmp/short/x")
    assert put["Expiration"] == head["Expiration"]
    assert head["Expiration"].endswith('rule-id="day"') and head["Expiration"].startswith('expiry-date="')
    assert "00:00:00 GMT" in head["Expiration"]
    s3.put_object(Bucket=b, Key="d/y", Body=b"y")
    assert s3.get_object(Bucket=b, Key="d/y")["Expiration"] == 'expiry-date="Wed, 01 Jan 2031 00:00:00 GMT", rule-id="date"'
    s3.put_object(Bucket=b, Key="kept", Body=b"k")
    assert "Expiration" not in s3.head_object(Bucket=b, Key="kept")


def test_sweeper_expires_what_the_rules_select(g, s3):
    b = f"lc-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=b)
    for k in ("tmp/a", "tmp/b", "keep/c"):
        s3.put_object(Bucket=b, Key=k, Body=k.encode())
    s3.put_object(Bucket=b, Key="s/big", Body=b"x" * 200, Tagging="class=scratch")
    s3.put_object(Bucket=b, Key="s/small", Body=b"x" * 10, Tagging="class=scratch")
    s3.put_object(Bucket=b, Key="s/untagged", Body=b"x" * 200)
    past = "2020-01-01T00:00:00Z"
    s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": [
        rule("tmp", {"Prefix": "tmp/"}, Expiration={"Date": past}),
        rule("scratch", {"And": {"Prefix": "s/", "Tags": [{"Key": "class", "Value": "scratch"}], "ObjectSizeGreaterThan": 100}},
             Expiration={"Date": past}),
        {"ID": "off", "Status": "Disabled", "Filter": {"Prefix": "keep/"}, "Expiration": {"Date": past}},
    ]})
    deadline = time.time() + 30
    while time.time() < deadline:
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=b).get("Contents", []))
        if keys == ["keep/c", "s/small", "s/untagged"]:
            break
        time.sleep(0.5)
    assert keys == ["keep/c", "s/small", "s/untagged"]
    for k in ("keep/c", "s/small", "s/untagged"):
        assert s3.get_object(Bucket=b, Key=k)["Body"].read()
    # Each expiry is an audit entry of its own, naming the object, its version and the rule.
    deadline = time.time() + 10
    while True:
        expiries = [json.loads(e) for e in audit_entries(g).values()]
        expiries = [e for e in expiries if e.get("action") == "Lifecycle.Expiration" and e.get("dataset") == b]
        if len(expiries) == 3 or time.time() > deadline:
            break
        time.sleep(0.5)
    assert sorted(e["key"] for e in expiries) == ["s/big", "tmp/a", "tmp/b"]
    assert all(e["principal"] == "lifecycle" and e.get("version") for e in expiries)
    assert {e["detail"] for e in expiries} == {"rule tmp", "rule scratch"}


def test_sigterm_stops_the_gateway_promptly():
    """The background services (the lifecycle sweeper between its hourly sweeps, audit
    retention) end on a graceful shutdown instead of holding the process."""
    gw = Gateway(config="lifecycle:\n  interval_seconds: 3600\naudit:\n  retention_days: 30\n").start()
    try:
        time.sleep(1)
        t = time.time()
        gw.proc.terminate()
        assert gw.proc.wait(timeout=8) == 0
        assert time.time() - t < 5
    finally:
        gw.cleanup()
