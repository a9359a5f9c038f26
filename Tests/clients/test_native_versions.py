"""Versions on native datasets (objects under their own keys on SeaweedFS and the Azure test
server), seen from the backend itself: the object under a key is always the current version
(absent when the latest is a delete marker), every noncurrent version is a copy of its own
under `.passerelle-versions/`, a version made current again (its successor deleted by id) is
copied back under the key, keys under the reserved folder are refused, a suspended bucket
overwrites its `null` version in place, and deleting every version leaves nothing behind."""
import pytest
from botocore.exceptions import ClientError

from conftest import make_client, new_bucket, start_placed

VERSIONS = ".passerelle-versions/"


@pytest.fixture(scope="module", params=["seaweedfs", "azure"])
def gateway(request):
    g, owned = start_placed(request, request.param, container="passerelle-native-versions")
    yield g
    owned.cleanup()


@pytest.fixture(scope="module")
def s3(gateway):
    return make_client(gateway.endpoint)


def bucket(s3, status="Enabled"):
    return new_bucket(s3, status, prefix="nv")


def backend(gateway, b):
    """What the backend holds of dataset `b`: {name under the dataset's prefix: bytes}."""
    peer, c = gateway.peer, gateway.container
    return {n[len(b) + 1:]: peer.read_direct(c, n) for n in peer.list_direct(c, b + "/")}


def copies(held):
    return sorted(v for n, v in held.items() if n.startswith(VERSIONS))


def test_current_under_the_key_versions_aside(s3, gateway):
    b = bucket(s3)
    ids = [s3.put_object(Bucket=b, Key="dir/k", Body=f"v{i}".encode() * 100)["VersionId"] for i in range(3)]
    held = backend(gateway, b)
    assert held["dir/k"] == b"v2" * 100
    assert copies(held) == [b"v0" * 100, b"v1" * 100]
    assert len(held) == 3
    # A delete writes a marker: the key's backend object goes, the versions stay.
    marker = s3.delete_object(Bucket=b, Key="dir/k")["VersionId"]
    held = backend(gateway, b)
    assert "dir/k" not in held and copies(held) == [b"v0" * 100, b"v1" * 100, b"v2" * 100]
    # Removing the marker makes v2 current again, under its key.
    s3.delete_object(Bucket=b, Key="dir/k", VersionId=marker)
    assert backend(gateway, b)["dir/k"] == b"v2" * 100
    # Removing the current version makes v1 current, copied back under the key.
    s3.delete_object(Bucket=b, Key="dir/k", VersionId=ids[2])
    held = backend(gateway, b)
    assert held["dir/k"] == b"v1" * 100
    assert s3.get_object(Bucket=b, Key="dir/k")["Body"].read() == b"v1" * 100
    # A noncurrent version deleted by id loses its copy; the current one is untouched.
    s3.delete_object(Bucket=b, Key="dir/k", VersionId=ids[0])
    held = backend(gateway, b)
    assert held["dir/k"] == b"v1" * 100 and b"v0" * 100 not in held.values()
    s3.delete_object(Bucket=b, Key="dir/k", VersionId=ids[1])
    assert backend(gateway, b) == {}
    assert s3.list_object_versions(Bucket=b).get("Versions") is None
    s3.delete_bucket(Bucket=b)


def test_copy_multipart_and_restore_by_copy(s3, gateway):
    b = bucket(s3)
    first = s3.put_object(Bucket=b, Key="k", Body=b"first", ContentType="text/x-first")["VersionId"]
    s3.put_object(Bucket=b, Key="k", Body=b"second")
    # Restoring an old version the way the S3 documentation says: copy it over the key.
    s3.copy_object(Bucket=b, Key="k", CopySource={"Bucket": b, "Key": "k", "VersionId": first})
    assert backend(gateway, b)["k"] == b"first"
    got = s3.get_object(Bucket=b, Key="k")
    assert got["Body"].read() == b"first" and got["ContentType"] == "text/x-first"
    # A metadata-only self-copy is a new version; the bytes under the key stay.
    s3.copy_object(Bucket=b, Key="k", CopySource={"Bucket": b, "Key": "k"}, MetadataDirective="REPLACE", Metadata={"m": "1"})
    up = s3.create_multipart_upload(Bucket=b, Key="k")["UploadId"]
    part = s3.upload_part(Bucket=b, Key="k", UploadId=up, PartNumber=1, Body=b"multi")
    s3.complete_multipart_upload(Bucket=b, Key="k", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    held = backend(gateway, b)
    assert held["k"] == b"multi"
    assert copies(held) == [b"first", b"first", b"first", b"second"]
    listed = s3.list_object_versions(Bucket=b)["Versions"]
    bodies = [s3.get_object(Bucket=b, Key="k", VersionId=v["VersionId"])["Body"].read() for v in listed]
    assert bodies == [b"multi", b"first", b"first", b"second", b"first"]


def test_suspended_overwrites_the_null_version_in_place(s3, gateway):
    b = bucket(s3)
    kept = s3.put_object(Bucket=b, Key="k", Body=b"versioned")["VersionId"]
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=b, Key="k", Body=b"null-1")
    s3.put_object(Bucket=b, Key="k", Body=b"null-2")
    held = backend(gateway, b)
    assert held["k"] == b"null-2" and copies(held) == [b"versioned"]
    assert [v["VersionId"] for v in s3.list_object_versions(Bucket=b)["Versions"]] == ["null", kept]
    # A delete on a suspended bucket replaces the null version with a null marker.
    s3.delete_object(Bucket=b, Key="k")
    held = backend(gateway, b)
    assert "k" not in held and copies(held) == [b"versioned"]
    assert s3.get_object(Bucket=b, Key="k", VersionId=kept)["Body"].read() == b"versioned"


def test_objects_written_before_versioning(s3, gateway):
    b = bucket(s3, status=None)
    s3.put_object(Bucket=b, Key="old", Body=b"before")
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=b, Key="old", Body=b"after")
    assert [v["VersionId"] for v in s3.list_object_versions(Bucket=b)["Versions"]][1] == "null"
    assert s3.get_object(Bucket=b, Key="old", VersionId="null")["Body"].read() == b"before"
    assert backend(gateway, b)["old"] == b"after"


def test_reserved_folder_is_refused(s3, gateway):
    b = bucket(s3)
    s3.put_object(Bucket=b, Key="k", Body=b"one")
    s3.put_object(Bucket=b, Key="k", Body=b"two")
    before = backend(gateway, b)
    name = next(n for n in before if n.startswith(VERSIONS))
    for call in (lambda: s3.put_object(Bucket=b, Key=name, Body=b"x"),
                 lambda: s3.copy_object(Bucket=b, Key=name, CopySource={"Bucket": b, "Key": "k"}),
                 lambda: s3.create_multipart_upload(Bucket=b, Key=VERSIONS + "new")):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "InvalidArgument"
        assert "reserved" in e.value.response["Error"]["Message"]
    assert backend(gateway, b) == before
    assert s3.list_multipart_uploads(Bucket=b).get("Uploads") is None
