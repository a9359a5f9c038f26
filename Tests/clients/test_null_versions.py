"""Versions as S3 reports them for buckets that were never versioned, on every placement: each
object is its `null` version, listed by ListObjectVersions and named by `versionId=null`, so
the cleanup tools that list versions to delete them empty a bucket (boto3's
`object_versions.delete()`, `aws s3api list-object-versions` + `delete-objects`,
`aws s3 rb --force`). Also the owner-only ACLs, ListBuckets pagination and the re-creation of
one's own bucket, as AWS answers them."""
import json
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import make_client
from gateway import ACCESS_KEY, SECRET_KEY, awscli
from rawsigv4 import send


@pytest.fixture(scope="session")
def gateway(placed_gateway):
    return placed_gateway


@pytest.fixture(scope="session")
def s3(gateway):
    return make_client(gateway.endpoint)


def fill(s3, keys):
    b = f"nv-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=b)
    for k in keys:
        s3.put_object(Bucket=b, Key=k, Body=k.encode() * 3)
    return b


def code(e):
    return e.value.response["Error"]["Code"]


def status(e):
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"]


KEYS = ["a", "d/1", "d/2", "e/x/1", "k\nnewline", "k\ttab", "z"]


def test_list_object_versions_pages_like_list_objects(gateway, s3):
    b = fill(s3, KEYS)
    assert s3.get_bucket_versioning(Bucket=b).get("Status") is None
    r = s3.list_object_versions(Bucket=b)
    assert [v["Key"] for v in r["Versions"]] == sorted(KEYS)
    assert {v["VersionId"] for v in r["Versions"]} == {"null"} and all(v["IsLatest"] for v in r["Versions"])
    assert not r.get("DeleteMarkers") and r["IsTruncated"] is False
    heads = {k: s3.head_object(Bucket=b, Key=k) for k in KEYS}
    for v in r["Versions"]:
        assert v["ETag"] == heads[v["Key"]]["ETag"] and v["Size"] == len(v["Key"]) * 3
    # key-marker / version-id-marker pagination, one version a page, through every key.
    seen, kw = [], {}
    while True:
        r = s3.list_object_versions(Bucket=b, MaxKeys=2, **kw)
        seen += [v["Key"] for v in r.get("Versions", [])]
        if not r["IsTruncated"]:
            break
        assert r["NextVersionIdMarker"] == "null"
        kw = {"KeyMarker": r["NextKeyMarker"], "VersionIdMarker": r["NextVersionIdMarker"]}
    assert seen == sorted(KEYS)
    # The paginator (what the resource API and the CLI use) agrees.
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=b, PaginationConfig={"PageSize": 3})
    assert [v["Key"] for p in pages for v in p.get("Versions", [])] == sorted(KEYS)
    # Delimiter and prefix: common prefixes roll up and are not returned twice across pages.
    r = s3.list_object_versions(Bucket=b, Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["d/", "e/"]
    assert [v["Key"] for v in r["Versions"]] == ["a", "k\ttab", "k\nnewline", "z"]
    prefixes, kw = [], {}
    while True:
        r = s3.list_object_versions(Bucket=b, Delimiter="/", MaxKeys=1, **kw)
        prefixes += [p["Prefix"] for p in r.get("CommonPrefixes", [])] + [v["Key"] for v in r.get("Versions", [])]
        if not r["IsTruncated"]:
            break
        kw = {"KeyMarker": r["NextKeyMarker"]}
        if "NextVersionIdMarker" in r:
            kw["VersionIdMarker"] = r["NextVersionIdMarker"]
    assert prefixes == ["a", "d/", "e/", "k\ttab", "k\nnewline", "z"]
    r = s3.list_object_versions(Bucket=b, Prefix="d/")
    assert [v["Key"] for v in r["Versions"]] == ["d/1", "d/2"]
    # Asked for explicitly, encoding-type=url is left to the caller to decode (botocore decodes
    # only when it added the parameter itself, as above).
    r = s3.list_object_versions(Bucket=b, EncodingType="url")
    assert [v["Key"] for v in r["Versions"]] == [urllib.parse.quote(k, safe="/") for k in sorted(KEYS)]
    # Without encoding-type the control characters travel as XML text and parse back unchanged.
    for query in ("versions", "versions&delimiter=%2F"):
        r = send(gateway, "GET", f"/{b}?{query}")
        assert r.status == 200, r.body
        ns = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
        keys = [k.text for k in ET.fromstring(r.body).findall("s3:Version/s3:Key", ns)]
        assert keys == (sorted(KEYS) if "delimiter" not in query else ["a", "k\ttab", "k\nnewline", "z"])


def test_null_version_named_everywhere(s3):
    b = fill(s3, ["obj", "src"])
    r = s3.get_object(Bucket=b, Key="obj", VersionId="null")
    assert r["Body"].read() == b"objobjobj" and r["VersionId"] == "null"
    assert s3.head_object(Bucket=b, Key="obj", VersionId="null")["VersionId"] == "null"
    r = s3.copy_object(Bucket=b, Key="copy", CopySource={"Bucket": b, "Key": "src", "VersionId": "null"})
    assert r["CopySourceVersionId"] == "null"
    assert s3.get_object(Bucket=b, Key="copy")["Body"].read() == b"srcsrcsrc"
    # An id this gateway never issued: InvalidArgument, nothing read or changed.
    for call in (lambda: s3.get_object(Bucket=b, Key="obj", VersionId="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"),
                 lambda: s3.delete_object(Bucket=b, Key="obj", VersionId="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"),
                 lambda: s3.copy_object(Bucket=b, Key="copy2", CopySource={"Bucket": b, "Key": "src", "VersionId": "v1"})):
        with pytest.raises(ClientError) as e:
            call()
        assert (status(e), code(e)) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="missing", VersionId="null")
    assert (status(e), code(e)) == (404, "NoSuchVersion")
    with pytest.raises(ClientError) as e:
        s3.list_object_versions(Bucket=b, VersionIdMarker="null")
    assert code(e) == "InvalidArgument"
    assert [v["Key"] for v in s3.list_object_versions(Bucket=b)["Versions"]] == ["copy", "obj", "src"]
    r = s3.delete_object(Bucket=b, Key="obj", VersionId="null")
    assert r["VersionId"] == "null"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=b, Key="obj")
    assert status(e) == 404


def test_boto3_resource_object_versions_delete(gateway, s3):
    b = fill(s3, KEYS)
    resource = boto3.resource(
        "s3", endpoint_url=gateway.endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
    bucket = resource.Bucket(b)
    r = bucket.object_versions.delete()
    assert sorted(d["Key"] for page in r for d in page["Deleted"]) == sorted(KEYS)
    assert all(d["VersionId"] == "null" for page in r for d in page["Deleted"])
    assert s3.list_objects_v2(Bucket=b)["KeyCount"] == 0
    bucket.delete()
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=b)
    assert status(e) == 404


def test_awscli_empties_and_removes_buckets(gateway, s3):
    b = fill(s3, KEYS)
    listing = awscli(gateway, "s3api", "list-object-versions", "--bucket", b)
    objects = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in listing["Versions"]]
    assert len(objects) == len(KEYS)
    r = awscli(gateway, "s3api", "delete-objects", "--bucket", b, "--delete", json.dumps({"Objects": objects}))
    assert sorted(d["Key"] for d in r["Deleted"]) == sorted(KEYS) and not r.get("Errors")
    assert "Versions" not in (awscli(gateway, "s3api", "list-object-versions", "--bucket", b) or {})
    awscli(gateway, "s3api", "delete-bucket", "--bucket", b)
    b = fill(s3, KEYS)
    awscli(gateway, "s3", "rb", "--force", f"s3://{b}")
    assert b not in [x["Name"] for x in s3.list_buckets()["Buckets"]]


def test_acls_owner_only(gateway, s3):
    b = fill(s3, ["obj"])
    for acl in (s3.get_bucket_acl(Bucket=b), s3.get_object_acl(Bucket=b, Key="obj")):
        assert [(g["Grantee"]["Type"], g["Permission"]) for g in acl["Grants"]] == [("CanonicalUser", "FULL_CONTROL")]
        assert acl["Grants"][0]["Grantee"]["ID"] == acl["Owner"]["ID"]
    s3.put_bucket_acl(Bucket=b, ACL="private")
    s3.put_object_acl(Bucket=b, Key="obj", ACL="private")
    s3.put_object(Bucket=b, Key="owned", Body=b"x", ACL="bucket-owner-full-control")
    owner = s3.get_bucket_acl(Bucket=b)["Owner"]
    s3.put_object_acl(Bucket=b, Key="obj", AccessControlPolicy={
        "Owner": owner, "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"}]})
    # Anything granting more than the owner's full control is refused, and nothing is stored.
    refusals = [
        lambda: s3.put_bucket_acl(Bucket=b, ACL="public-read"),
        lambda: s3.put_object_acl(Bucket=b, Key="obj", ACL="public-read-write"),
        lambda: s3.put_object_acl(Bucket=b, Key="obj", GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"'),
        lambda: s3.put_object_acl(Bucket=b, Key="obj", AccessControlPolicy={"Owner": owner, "Grants": [
            {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}]}),
        lambda: s3.put_object(Bucket=b, Key="public", Body=b"x", ACL="public-read"),
        lambda: s3.copy_object(Bucket=b, Key="public", CopySource={"Bucket": b, "Key": "obj"}, ACL="authenticated-read"),
        lambda: s3.create_multipart_upload(Bucket=b, Key="public", ACL="public-read"),
    ]
    for call in refusals:
        with pytest.raises(ClientError) as e:
            call()
        assert (status(e), code(e)) == (400, "AccessControlListNotSupported")
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=b)["Contents"]) == ["obj", "owned"]
    assert not s3.list_multipart_uploads(Bucket=b).get("Uploads")
    with pytest.raises(ClientError) as e:
        s3.get_object_acl(Bucket=b, Key="missing")
    assert code(e) == "NoSuchKey"


def test_list_buckets_pagination_and_recreation(gateway, s3):
    tag = uuid.uuid4().hex[:8]
    names = [f"lb-{tag}-{i}" for i in range(5)]
    for n in names:
        s3.create_bucket(Bucket=n)
    s3.put_object(Bucket=names[0], Key="keep", Body=b"kept")
    # us-east-1 answers the re-creation of one's own bucket 200 and keeps its objects.
    s3.create_bucket(Bucket=names[0])
    assert s3.get_object(Bucket=names[0], Key="keep")["Body"].read() == b"kept"
    got, kw = [], {}
    while True:
        r = s3.list_buckets(MaxBuckets=2, Prefix=f"lb-{tag}-", **kw)
        assert r["Prefix"] == f"lb-{tag}-" and len(r["Buckets"]) <= 2
        got += [x["Name"] for x in r["Buckets"]]
        if "ContinuationToken" not in r:
            break
        kw = {"ContinuationToken": r["ContinuationToken"]}
    assert got == names
    assert [x["Name"] for p in s3.get_paginator("list_buckets").paginate(Prefix=f"lb-{tag}-", PaginationConfig={"PageSize": 3})
            for x in p["Buckets"]] == names
    assert len(s3.list_buckets(BucketRegion="eu-west-3", Prefix=f"lb-{tag}-")["Buckets"]) == 0
    for bad in ("0", "10001", "x"):
        r = send(gateway, "GET", f"/?max-buckets={bad}")
        assert (r.status, r.code) == (400, "InvalidArgument"), bad
    r = send(gateway, "GET", "/?continuation-token=%21%21")
    assert (r.status, r.code) == (400, "InvalidArgument")
    s3.delete_object(Bucket=names[0], Key="keep")
    for n in names:
        s3.delete_bucket(Bucket=n)
