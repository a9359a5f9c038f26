"""Object and bucket tagging on every placement, with boto3 and awscli: tag sets on PUT,
multipart creation and copies (`x-amz-tagging-directive`), `x-amz-tagging-count` on GET and
HEAD, Put/Get/DeleteObjectTagging (with `versionId=null`), Put/Get/DeleteBucketTagging, and
S3's limits answered with S3's errors, nothing changed."""
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import make_client
from gateway import awscli


@pytest.fixture(scope="session")
def gateway(placed_gateway):
    return placed_gateway


@pytest.fixture(scope="session")
def s3(gateway):
    return make_client(gateway.endpoint)


@pytest.fixture()
def bucket(s3):
    b = f"tag-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=b)
    return b


def tagset(s3, b, k, **kw):
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=b, Key=k, **kw)["TagSet"]}


def error(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"]


def test_object_tags_through_writes_and_copies(s3, bucket):
    b = bucket
    s3.put_object(Bucket=b, Key="plain", Body=b"p")
    assert tagset(s3, b, "plain") == {}
    assert "x-amz-tagging-count" not in s3.head_object(Bucket=b, Key="plain")["ResponseMetadata"]["HTTPHeaders"]
    s3.put_object(Bucket=b, Key="t", Body=b"tagged", Tagging="class=pseudonymised&team=cohort%20a&empty=")
    assert tagset(s3, b, "t") == {"class": "pseudonymised", "team": "cohort a", "empty": ""}
    assert s3.head_object(Bucket=b, Key="t")["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "3"
    assert s3.get_object(Bucket=b, Key="t")["TagCount"] == 3
    # Copies keep the source's tags unless the tagging directive says REPLACE.
    s3.copy_object(Bucket=b, Key="copy", CopySource={"Bucket": b, "Key": "t"})
    assert tagset(s3, b, "copy") == tagset(s3, b, "t")
    s3.copy_object(Bucket=b, Key="copy2", CopySource={"Bucket": b, "Key": "t"}, TaggingDirective="REPLACE", Tagging="new=1")
    assert tagset(s3, b, "copy2") == {"new": "1"}
    s3.copy_object(Bucket=b, Key="copy3", CopySource={"Bucket": b, "Key": "t"}, MetadataDirective="REPLACE",
                   ContentType="text/plain")
    assert tagset(s3, b, "copy3") == tagset(s3, b, "t")
    # Multipart creation carries its tags to the completed object.
    up = s3.create_multipart_upload(Bucket=b, Key="mp", Tagging="stage=raw")["UploadId"]
    e = s3.upload_part(Bucket=b, Key="mp", UploadId=up, PartNumber=1, Body=b"m" * 1000)["ETag"]
    s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    assert tagset(s3, b, "mp") == {"stage": "raw"}
    # An overwrite replaces the tag set with its own (none here).
    s3.put_object(Bucket=b, Key="t", Body=b"again")
    assert tagset(s3, b, "t") == {}


def test_put_get_delete_object_tagging(s3, bucket):
    b = bucket
    s3.put_object(Bucket=b, Key="k", Body=b"bytes")
    etag = s3.head_object(Bucket=b, Key="k")["ETag"]
    tags = [{"Key": f"k{i}", "Value": f"v{i}"} for i in range(10)]
    s3.put_object_tagging(Bucket=b, Key="k", Tagging={"TagSet": tags})
    assert s3.get_object_tagging(Bucket=b, Key="k")["TagSet"] == tags
    r = s3.put_object_tagging(Bucket=b, Key="k", VersionId="null", Tagging={"TagSet": tags[:2]})
    assert r["VersionId"] == "null"
    assert tagset(s3, b, "k", VersionId="null") == {"k0": "v0", "k1": "v1"}
    # Tags do not change the object: same ETag, same bytes.
    assert s3.head_object(Bucket=b, Key="k")["ETag"] == etag
    assert s3.get_object(Bucket=b, Key="k")["Body"].read() == b"bytes"
    s3.delete_object_tagging(Bucket=b, Key="k")
    assert tagset(s3, b, "k") == {}
    assert error(lambda: s3.get_object_tagging(Bucket=b, Key="missing")) == (404, "NoSuchKey")
    assert error(lambda: s3.put_object_tagging(Bucket=b, Key="missing", Tagging={"TagSet": []})) == (404, "NoSuchKey")


def test_tag_limits_refused_nothing_changed(s3, bucket):
    b = bucket
    s3.put_object(Bucket=b, Key="k", Body=b"x", Tagging="keep=1")
    eleven = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
    cases = [
        (lambda: s3.put_object_tagging(Bucket=b, Key="k", Tagging={"TagSet": eleven}), (400, "BadRequest")),
        (lambda: s3.put_object_tagging(Bucket=b, Key="k", Tagging={"TagSet": [{"Key": "a" * 129, "Value": "v"}]}), (400, "InvalidTag")),
        (lambda: s3.put_object_tagging(Bucket=b, Key="k", Tagging={"TagSet": [{"Key": "a", "Value": "v" * 257}]}), (400, "InvalidTag")),
        (lambda: s3.put_object_tagging(Bucket=b, Key="k", Tagging={"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}),
         (400, "InvalidTag")),
        (lambda: s3.put_object_tagging(Bucket=b, Key="k", Tagging={"TagSet": [{"Key": "aws:reserved", "Value": "v"}]}), (400, "InvalidTag")),
        (lambda: s3.put_object(Bucket=b, Key="k", Body=b"overwrite", Tagging="&".join(f"k{i}=v" for i in range(11))), (400, "BadRequest")),
        (lambda: s3.put_object(Bucket=b, Key="k", Body=b"overwrite", Tagging="bad*key=v"), (400, "InvalidTag")),
        (lambda: s3.copy_object(Bucket=b, Key="k2", CopySource={"Bucket": b, "Key": "k"}, TaggingDirective="SOMETIMES"),
         (400, "InvalidArgument")),
        (lambda: s3.get_object_tagging(Bucket=b, Key="k", VersionId="v1"), (400, "InvalidArgument")),
    ]
    for call, expected in cases:
        assert error(call) == expected
    assert tagset(s3, b, "k") == {"keep": "1"}
    assert s3.get_object(Bucket=b, Key="k")["Body"].read() == b"x"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=b)["Contents"]] == ["k"]


def test_bucket_tagging(s3, bucket):
    b = bucket
    assert error(lambda: s3.get_bucket_tagging(Bucket=b)) == (404, "NoSuchTagSet")
    tags = [{"Key": f"cost-centre-{i}", "Value": str(i)} for i in range(50)]
    s3.put_bucket_tagging(Bucket=b, Tagging={"TagSet": tags})
    assert s3.get_bucket_tagging(Bucket=b)["TagSet"] == tags
    assert error(lambda: s3.put_bucket_tagging(Bucket=b, Tagging={"TagSet": tags + [{"Key": "one-more", "Value": "x"}]}))[1] == "BadRequest"
    assert s3.get_bucket_tagging(Bucket=b)["TagSet"] == tags
    s3.delete_bucket_tagging(Bucket=b)
    assert error(lambda: s3.get_bucket_tagging(Bucket=b)) == (404, "NoSuchTagSet")
    assert error(lambda: s3.get_bucket_tagging(Bucket="no-such-bucket-tags")) == (404, "NoSuchBucket")


def test_awscli_tagging(gateway, s3, bucket):
    def aws(*args):
        return awscli(gateway, "s3api", *args) or {}

    s3.put_object(Bucket=bucket, Key="obj", Body=b"x")
    aws("put-object-tagging", "--bucket", bucket, "--key", "obj", "--tagging", "TagSet=[{Key=retention,Value=30d}]")
    assert aws("get-object-tagging", "--bucket", bucket, "--key", "obj")["TagSet"] == [{"Key": "retention", "Value": "30d"}]
    aws("put-bucket-tagging", "--bucket", bucket, "--tagging", "TagSet=[{Key=project,Value=p1}]")
    assert aws("get-bucket-tagging", "--bucket", bucket)["TagSet"] == [{"Key": "project", "Value": "p1"}]
    aws("delete-object-tagging", "--bucket", bucket, "--key", "obj")
    assert aws("get-object-tagging", "--bucket", bucket, "--key", "obj")["TagSet"] == []
