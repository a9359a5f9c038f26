"""Conformance of the Azure test server with the official `azure-storage-blob` SDK: what the
SDK does against Azure must work here, and what Azure refuses must be refused (a wrong key,
a tampered or expired SAS, a missing permission), or the backend tests prove nothing."""
import hashlib
import os
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from azure.core.exceptions import (ClientAuthenticationError, HttpResponseError, ResourceExistsError,
                                   ResourceModifiedError, ResourceNotFoundError)
from azure.storage.blob import (AccountSasPermissions, BlobServiceClient, BlobSasPermissions, ContainerClient,
                                ContainerSasPermissions, ContentSettings, ResourceTypes, generate_account_sas,
                                generate_blob_sas, generate_container_sas)


@pytest.fixture
def container(azure):
    name = "conf-" + uuid.uuid4().hex[:12]
    c = azure.service().create_container(name)
    yield c
    try:
        c.delete_container()
    except ResourceNotFoundError:
        pass


def small_blocks(azure, container):
    """A container client whose uploads above 1 MiB go as 256 KiB blocks and whose downloads
    are ranged GETs of 300 000 bytes."""
    return ContainerClient(azure.endpoint, container.container_name,
                           credential={"account_name": azure.account, "account_key": azure.account_key},
                           max_single_put_size=1 << 20, max_block_size=256 << 10, max_chunk_get_size=300_000,
                           max_single_get_size=300_000)


def test_containers(azure, container):
    names = [c.name for c in azure.service().list_containers()]
    assert container.container_name in names
    with pytest.raises(ResourceExistsError):
        azure.service().create_container(container.container_name)
    assert container.get_container_properties().etag


def test_single_put_properties_metadata(container):
    data = os.urandom(100_000)
    b = container.upload_blob("dir/one.bin", data, metadata={"project": "p1", "Purpose": "study"},
                              content_settings=ContentSettings(content_type="application/x-test"))
    props = b.get_blob_properties()
    assert props.size == len(data)
    assert props.content_settings.content_type == "application/x-test"
    assert bytes(props.content_settings.content_md5) == hashlib.md5(data).digest()
    assert props.metadata == {"project": "p1", "purpose": "study"}
    assert props.blob_type == "BlockBlob"
    assert b.download_blob().readall() == data
    b.set_blob_metadata({"k": "v"})
    assert b.get_blob_properties().metadata == {"k": "v"}
    b.set_http_headers(ContentSettings(content_type="text/plain"))
    assert b.get_blob_properties().content_settings.content_type == "text/plain"


def test_block_list_upload_and_ranged_downloads(azure, container):
    data = os.urandom(3 * (1 << 20) + 12345)
    c = small_blocks(azure, container)
    b = c.upload_blob("big.bin", data)
    committed, uncommitted = c.get_blob_client("big.bin").get_block_list("all")
    assert len(committed) == 13 and not uncommitted
    assert c.download_blob("big.bin").readall() == data  # 11 ranged GETs
    for offset, length in ((0, 1), (1_000_000, 1_000_000), (len(data) - 10, 10), (5, None)):
        got = c.download_blob("big.bin", offset=offset, length=length).readall()
        assert got == data[offset:offset + length if length else None]
    assert b.get_blob_properties().size == len(data)


def test_uncommitted_blocks_replace_and_commit(container):
    b = container.get_blob_client("blocks")
    b.stage_block("AAAA", b"first")
    b.stage_block("AAAB", b"second")
    b.stage_block("AAAA", b"FIRST")  # the same id replaces the staged block
    b.commit_block_list(["AAAA", "AAAB"])
    assert b.download_blob().readall() == b"FIRSTsecond"
    with pytest.raises(HttpResponseError) as e:
        b.commit_block_list(["AAAC"])
    assert e.value.error_code == "InvalidBlockList"
    assert b.download_blob().readall() == b"FIRSTsecond"


def test_listing_prefix_delimiter_pages(container):
    names = ["a/1", "a/2", "a/b/3", "b/4", "c", "c2"]
    for n in names:
        container.upload_blob(n, n.encode())
    assert [b.name for b in container.list_blobs()] == names
    assert [b.name for b in container.list_blobs(name_starts_with="a/")] == ["a/1", "a/2", "a/b/3"]
    assert [b.name for b in container.walk_blobs(delimiter="/")] == ["a/", "b/", "c", "c2"]
    # The SDK yields a page's prefixes before its blobs.
    assert [b.name for b in container.walk_blobs(name_starts_with="a/", delimiter="/")] == ["a/b/", "a/1", "a/2"]
    pages = list(container.list_blobs(results_per_page=4).by_page())
    got = [[b.name for b in p] for p in pages]
    assert got == [names[:4], names[4:]]
    listed = {b.name: b for b in container.list_blobs(include=["metadata"])}
    assert listed["c"].size == 1 and listed["c"].etag


def test_delete_and_conditions(container):
    b = container.upload_blob("x", b"one")
    etag = b.get_blob_properties().etag
    with pytest.raises(ResourceExistsError):
        container.upload_blob("x", b"two", overwrite=False)
    b.upload_blob(b"three", overwrite=True)
    from azure.core import MatchConditions
    with pytest.raises(ResourceModifiedError):
        b.download_blob(etag=etag, match_condition=MatchConditions.IfNotModified).readall()
    b.delete_blob()
    with pytest.raises(ResourceNotFoundError):
        b.get_blob_properties()
    with pytest.raises(ResourceNotFoundError):
        b.delete_blob()
    with pytest.raises(ResourceNotFoundError):
        container.get_blob_client("never").download_blob().readall()


def test_copy_within_account(container):
    container.upload_blob("src", b"copy me", metadata={"a": "1"}, content_settings=ContentSettings(content_type="text/x"))
    dst = container.get_blob_client("dst")
    result = dst.start_copy_from_url(container.get_blob_client("src").url)
    assert result["copy_status"] == "success"
    props = dst.get_blob_properties()
    assert dst.download_blob().readall() == b"copy me"
    assert props.metadata == {"a": "1"} and props.content_settings.content_type == "text/x"


def test_empty_blob(container):
    b = container.upload_blob("empty", b"")
    assert b.get_blob_properties().size == 0
    assert b.download_blob().readall() == b""


def test_wrong_key_is_refused_and_writes_nothing(azure, container):
    wrong = BlobServiceClient(azure.endpoint, credential={"account_name": azure.account,
                                                          "account_key": "d3JvbmcgYWNjb3VudCBrZXkgZm9yIHRoZSB0ZXN0cyEh"})
    with pytest.raises(ClientAuthenticationError) as e:
        wrong.get_container_client(container.container_name).upload_blob("nope", b"data")
    assert e.value.error_code == "AuthenticationFailed"
    with pytest.raises(ClientAuthenticationError):
        list(wrong.get_container_client(container.container_name).list_blobs())
    assert [b.name for b in container.list_blobs()] == []


def test_anonymous_and_unsigned_requests_are_refused(azure, container):
    container.upload_blob("secret", b"health data")
    r = requests.get(f"{azure.endpoint}/{container.container_name}/secret")
    assert r.status_code == 401 and r.headers["x-ms-error-code"] == "NoAuthenticationInformation"
    assert b"health data" not in r.content
    r = requests.get(f"{azure.endpoint}/{container.container_name}/secret",
                     headers={"Authorization": f"SharedKey {azure.account}:AAAA", "x-ms-version": "2023-11-03",
                              "x-ms-date": datetime.now(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")})
    assert r.status_code == 403 and r.headers["x-ms-error-code"] == "AuthenticationFailed"
    assert b"<Code>AuthenticationFailed</Code>" in r.content


def expiry(hours=1):
    return datetime.now(timezone.utc) + timedelta(hours=hours)


def test_container_sas_permissions(azure, container):
    container.upload_blob("r", b"readable")
    token = generate_container_sas(azure.account, container.container_name, account_key=azure.account_key,
                                   permission=ContainerSasPermissions(read=True, list=True), expiry=expiry())
    c = ContainerClient(azure.endpoint, container.container_name, credential=token)
    assert c.download_blob("r").readall() == b"readable"
    assert [b.name for b in c.list_blobs()] == ["r"]
    with pytest.raises(HttpResponseError) as e:
        c.upload_blob("w", b"no")
    assert e.value.status_code == 403 and e.value.error_code == "AuthorizationPermissionMismatch"
    with pytest.raises(HttpResponseError) as e:
        c.delete_blob("r")
    assert e.value.status_code == 403


def test_blob_sas_is_bound_to_its_blob(azure, container):
    container.upload_blob("one", b"1")
    container.upload_blob("two", b"2")
    token = generate_blob_sas(azure.account, container.container_name, "one", account_key=azure.account_key,
                              permission=BlobSasPermissions(read=True), expiry=expiry())
    assert ContainerClient(azure.endpoint, container.container_name, credential=token).download_blob("one").readall() == b"1"
    with pytest.raises(ClientAuthenticationError):
        ContainerClient(azure.endpoint, container.container_name, credential=token).download_blob("two").readall()


def test_account_sas_and_tampering(azure):
    token = generate_account_sas(azure.account, azure.account_key, ResourceTypes(service=True, container=True, object=True),
                                 AccountSasPermissions(read=True, write=True, list=True, create=True, delete=True), expiry=expiry())
    svc = BlobServiceClient(azure.endpoint, credential=token)
    name = "sas-" + uuid.uuid4().hex[:8]
    c = svc.create_container(name)
    c.upload_blob("f", b"via account sas")
    assert c.download_blob("f").readall() == b"via account sas"
    c.delete_container()
    tampered = token.replace("sp=", "sp=d", 1) if "sp=" in token else token + "x"
    with pytest.raises(ClientAuthenticationError):
        BlobServiceClient(azure.endpoint, credential=tampered).create_container("sas-tampered")
    expired = generate_account_sas(azure.account, azure.account_key, ResourceTypes(container=True, object=True),
                                   AccountSasPermissions(read=True, list=True), expiry=expiry(-1))
    with pytest.raises(ClientAuthenticationError):
        list(BlobServiceClient(azure.endpoint, credential=expired).get_container_client("anything").list_blobs())
    assert "sas-tampered" not in [x.name for x in azure.service().list_containers()]


def test_server_restart_keeps_committed_blobs(azure, container):
    data = os.urandom(2 << 20)
    container.upload_blob("kept", data)
    azure.kill()
    azure.start()
    assert container.download_blob("kept").readall() == data
