"""Object Lock with boto3 and awscli on the local store, sealed datasets on SeaweedFS and the
Azure test server, and native datasets on both: a bucket created with Object Lock is versioned for good; retention (GOVERNANCE, COMPLIANCE) and
legal holds come from the write's headers, the bucket's default or Put*Retention/LegalHold; a
locked version survives every delete by root, lifecycle rules and a catalog restore, GOVERNANCE
gives way only to the bypass header from a principal allowed to bypass (never a project's
session); the S3 errors for bad input, nothing changed."""
import datetime
import os
import shutil
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import make_client, start_placed
from gateway import awscli, run_cli
from trust import add_user, next_code, session_client, sign_in


@pytest.fixture(scope="module", params=["local", "seaweedfs-sealed", "azure-sealed", "seaweedfs", "azure"])
def gateway(request):
    g, owned = start_placed(request, request.param, container="passerelle-lock")
    yield g
    if owned:
        owned.cleanup()


@pytest.fixture(scope="module")
def s3(gateway):
    return make_client(gateway.endpoint)


def locked_bucket(s3):
    b = f"lock-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    return b


def error(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"]


def soon(**delta):
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(**delta)


def test_bucket_configuration(s3):
    b = locked_bucket(s3)
    assert s3.get_bucket_versioning(Bucket=b)["Status"] == "Enabled"
    assert s3.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"] == {"ObjectLockEnabled": "Enabled"}
    assert error(lambda: s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})) == (409, "InvalidBucketState")
    s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    rule = s3.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"]["Rule"]
    assert rule == {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}
    v = s3.put_object(Bucket=b, Key="k", Body=b"default")["VersionId"]
    h = s3.head_object(Bucket=b, Key="k")
    assert h["ObjectLockMode"] == "GOVERNANCE" and h.get("ObjectLockLegalHoldStatus", "OFF") == "OFF"
    assert abs((h["ObjectLockRetainUntilDate"] - soon(days=1)).total_seconds()) < 120
    assert s3.get_object_retention(Bucket=b, Key="k", VersionId=v)["Retention"]["Mode"] == "GOVERNANCE"
    # Refusals: a bucket without Object Lock, malformed documents; nothing changed.
    plain = f"nolock-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=plain)
    assert error(lambda: s3.get_object_lock_configuration(Bucket=plain)) == (404, "ObjectLockConfigurationNotFoundError")
    assert error(lambda: s3.put_object_lock_configuration(Bucket=plain, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})) == (
        409, "InvalidBucketState")
    assert error(lambda: s3.put_object(Bucket=plain, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                                       ObjectLockRetainUntilDate=soon(days=1))) == (400, "InvalidRequest")
    assert error(lambda: s3.get_object_retention(Bucket=plain, Key="k")) == (400, "InvalidRequest")
    assert "Contents" not in s3.list_objects_v2(Bucket=plain)
    assert error(lambda: s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1, "Years": 1}}})) == (400, "MalformedXML")
    assert error(lambda: s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 0}}})) == (400, "InvalidArgument")
    assert s3.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"]["Rule"] == rule


def test_compliance_survives_root_and_bypass(s3, gateway):
    b = locked_bucket(s3)
    v = s3.put_object(Bucket=b, Key="audit-export", Body=b"immutable", ObjectLockMode="COMPLIANCE",
                      ObjectLockRetainUntilDate=soon(hours=1))["VersionId"]
    for bypass in (False, True):
        assert error(lambda: s3.delete_object(Bucket=b, Key="audit-export", VersionId=v, BypassGovernanceRetention=bypass)) == (
            403, "AccessDenied")
    r = s3.delete_objects(Bucket=b, BypassGovernanceRetention=True, Delete={"Objects": [{"Key": "audit-export", "VersionId": v}]})
    assert r["Errors"][0]["Code"] == "AccessDenied"
    # It cannot be shortened, weakened or removed; it can be extended.
    for retention in ({"Mode": "COMPLIANCE", "RetainUntilDate": soon(minutes=30)}, {"Mode": "GOVERNANCE", "RetainUntilDate": soon(hours=2)}):
        assert error(lambda: s3.put_object_retention(Bucket=b, Key="audit-export", VersionId=v, Retention=retention,
                                                     BypassGovernanceRetention=True)) == (403, "AccessDenied")
    s3.put_object_retention(Bucket=b, Key="audit-export", VersionId=v, Retention={"Mode": "COMPLIANCE", "RetainUntilDate": soon(hours=3)})
    assert s3.get_object_retention(Bucket=b, Key="audit-export", VersionId=v)["Retention"]["RetainUntilDate"] > soon(hours=2)
    # A delete without a version id writes a marker; the locked version stays readable.
    assert s3.delete_object(Bucket=b, Key="audit-export")["DeleteMarker"] is True
    assert s3.get_object(Bucket=b, Key="audit-export", VersionId=v)["Body"].read() == b"immutable"
    # awscli sees the same refusal (it exits non-zero).
    with pytest.raises(AssertionError, match="AccessDenied"):
        awscli(gateway, "s3api", "delete-object", "--bucket", b, "--key", "audit-export", "--version-id", v, "--bypass-governance-retention")
    # Retention in the past is refused; the version is unchanged.
    assert error(lambda: s3.put_object_retention(Bucket=b, Key="audit-export", VersionId=v, Retention={
        "Mode": "COMPLIANCE", "RetainUntilDate": soon(days=-1)})) == (400, "InvalidArgument")
    assert s3.get_object_retention(Bucket=b, Key="audit-export", VersionId=v)["Retention"]["Mode"] == "COMPLIANCE"


def test_governance_gives_way_to_the_bypass_only(s3, gateway):
    b = locked_bucket(s3)
    v = s3.put_object(Bucket=b, Key="backup", Body=b"g", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=soon(hours=1))["VersionId"]
    assert error(lambda: s3.delete_object(Bucket=b, Key="backup", VersionId=v)) == (403, "AccessDenied")
    assert error(lambda: s3.put_object_retention(Bucket=b, Key="backup", VersionId=v, Retention={})) == (403, "AccessDenied")
    # Root with the bypass header may shorten, remove, and delete.
    s3.put_object_retention(Bucket=b, Key="backup", VersionId=v, Retention={"Mode": "GOVERNANCE", "RetainUntilDate": soon(minutes=5)},
                            BypassGovernanceRetention=True)
    s3.delete_object(Bucket=b, Key="backup", VersionId=v, BypassGovernanceRetention=True)
    assert error(lambda: s3.get_object(Bucket=b, Key="backup", VersionId=v)) == (404, "NoSuchVersion")


def test_session_cannot_bypass_governance(s3, gateway):
    user = f"lock{uuid.uuid4().hex[:6]}"
    secret = add_user(gateway, user)
    project = f"lp{uuid.uuid4().hex[:6]}"
    b = locked_bucket(s3)
    run_cli("project", "create", project, "--purpose", "lock test", "--expires", "30", "--members", user, data_dir=gateway.data_dir)
    run_cli("project", "grant", project, "--dataset", b, "--actions", "read,list,write,delete", data_dir=gateway.data_dir)
    v = s3.put_object(Bucket=b, Key="k", Body=b"g", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=soon(hours=1))["VersionId"]
    status, creds = sign_in(gateway, user, next_code(secret), project)
    assert status == 200, creds
    session = session_client(gateway, creds)
    assert error(lambda: session.delete_object(Bucket=b, Key="k", VersionId=v, BypassGovernanceRetention=True)) == (403, "AccessDenied")
    assert error(lambda: session.put_object_retention(Bucket=b, Key="k", VersionId=v, Retention={}, BypassGovernanceRetention=True)) == (
        403, "AccessDenied")
    assert s3.get_object(Bucket=b, Key="k", VersionId=v)["Body"].read() == b"g"


def test_legal_hold(s3):
    b = locked_bucket(s3)
    v = s3.put_object(Bucket=b, Key="k", Body=b"held", ObjectLockLegalHoldStatus="ON")["VersionId"]
    assert s3.get_object_legal_hold(Bucket=b, Key="k", VersionId=v)["LegalHold"]["Status"] == "ON"
    # A version whose legal hold was never set has none to report, as S3 answers it.
    plain = s3.put_object(Bucket=b, Key="plain", Body=b"p")["VersionId"]
    assert error(lambda: s3.get_object_legal_hold(Bucket=b, Key="plain", VersionId=plain)) == (404, "NoSuchObjectLockConfiguration")
    assert "ObjectLockLegalHoldStatus" not in s3.head_object(Bucket=b, Key="plain")
    s3.delete_object(Bucket=b, Key="plain", VersionId=plain)
    assert error(lambda: s3.delete_object(Bucket=b, Key="k", VersionId=v, BypassGovernanceRetention=True)) == (403, "AccessDenied")
    s3.put_object_legal_hold(Bucket=b, Key="k", VersionId=v, LegalHold={"Status": "OFF"})
    assert s3.head_object(Bucket=b, Key="k", VersionId=v)["ObjectLockLegalHoldStatus"] == "OFF"
    assert s3.get_object_legal_hold(Bucket=b, Key="k", VersionId=v)["LegalHold"]["Status"] == "OFF"
    s3.delete_object(Bucket=b, Key="k", VersionId=v)
    assert error(lambda: s3.put_object_legal_hold(Bucket=b, Key="k", VersionId=v, LegalHold={"Status": "ON"})) == (404, "NoSuchVersion")
    # Copies and multipart uploads get the request's lock (or the default), not the source's.
    src = s3.put_object(Bucket=b, Key="src", Body=b"s", ObjectLockLegalHoldStatus="ON")["VersionId"]
    c = s3.copy_object(Bucket=b, Key="copy", CopySource={"Bucket": b, "Key": "src", "VersionId": src})
    assert s3.head_object(Bucket=b, Key="copy").get("ObjectLockLegalHoldStatus", "OFF") == "OFF"
    s3.delete_object(Bucket=b, Key="copy", VersionId=c["VersionId"])
    up = s3.create_multipart_upload(Bucket=b, Key="mp", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=soon(hours=1))["UploadId"]
    e = s3.upload_part(Bucket=b, Key="mp", UploadId=up, PartNumber=1, Body=b"m")["ETag"]
    done = s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    assert s3.head_object(Bucket=b, Key="mp", VersionId=done["VersionId"])["ObjectLockMode"] == "COMPLIANCE"
    assert error(lambda: s3.delete_object(Bucket=b, Key="mp", VersionId=done["VersionId"])) == (403, "AccessDenied")


def test_lock_survives_catalog_backup_and_restore(s3, gateway):
    b = locked_bucket(s3)
    v = s3.put_object(Bucket=b, Key="k", Body=b"kept", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=soon(hours=1))["VersionId"]
    backup = gateway.data_dir + f"-backup-{uuid.uuid4().hex[:6]}"
    run_cli("catalog", "backup", backup, data_dir=gateway.data_dir, config_path=gateway.config_path, env=gateway.extra_env)
    gateway.stop()
    shutil.copy(os.path.join(backup, "catalog.sqlite"), os.path.join(gateway.data_dir, "catalog.sqlite"))
    for suffix in ("-wal", "-shm"):
        if os.path.exists(os.path.join(gateway.data_dir, "catalog.sqlite" + suffix)):
            os.remove(os.path.join(gateway.data_dir, "catalog.sqlite" + suffix))
    gateway.start()
    s3 = make_client(gateway.endpoint)
    assert s3.head_object(Bucket=b, Key="k", VersionId=v)["ObjectLockMode"] == "COMPLIANCE"
    assert error(lambda: s3.delete_object(Bucket=b, Key="k", VersionId=v, BypassGovernanceRetention=True)) == (403, "AccessDenied")
    assert s3.get_object(Bucket=b, Key="k", VersionId=v)["Body"].read() == b"kept"
