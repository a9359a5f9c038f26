"""Datasets placed on real backends (SeaweedFS, Swift's s3api, the Azure test server): objects
land under their own key (layout native), the CLI inspects backends and datasets, and backend
faults reach clients as clear S3 errors with nothing partial visible."""
import hashlib
import os
import threading
import time

import botocore
import pytest

from conftest import make_client
from gateway import Gateway, azure_backend_config, backend_config, run_cli, s3_backend_config

MiB = 1024 * 1024


def start_gateway(name, peer, container_name):
    container = peer.create_bucket(container_name)
    config, env = backend_config(name, peer, container)
    g = Gateway(config=config, env=env).start()
    g.env = env
    g.container = container
    g.peer = peer
    return g


@pytest.fixture(scope="module")
def sw_gateway(seaweedfs):
    g = start_gateway("sw", seaweedfs, "passerelle-backends")
    yield g
    g.cleanup()


@pytest.fixture(scope="module", params=["seaweedfs", "azure"])
def placed(request):
    """A gateway whose datasets live on SeaweedFS, then on the Azure test server."""
    g = start_gateway(request.param, request.getfixturevalue(request.param), "passerelle-faults")
    yield g
    g.cleanup()


def test_native_layout_on_the_backend(placed):
    s3, peer, container = make_client(placed.endpoint), placed.peer, placed.container
    s3.create_bucket(Bucket="native")
    small, big = os.urandom(1000), os.urandom(70 * MiB + 3)
    s3.put_object(Bucket="native", Key="dir/small.bin", Body=small, ContentType="application/x-test", Metadata={"origin": "test"})
    s3.put_object(Bucket="native", Key="dir/big.bin", Body=big)  # above 65 MiB: the gateway's own multipart/block upload
    assert peer.read_direct(container, "native/dir/small.bin") == small
    assert peer.attributes_direct(container, "native/dir/small.bin") == ("application/x-test", {"origin": "test"})
    assert hashlib.md5(peer.read_direct(container, "native/dir/big.bin")).digest() == hashlib.md5(big).digest()
    # Clients see the catalog's plaintext ETag (MD5 of the object), not the backend's own.
    assert s3.head_object(Bucket="native", Key="dir/big.bin")["ETag"] == f'"{hashlib.md5(big).hexdigest()}"'
    got = s3.get_object(Bucket="native", Key="dir/big.bin", Range="bytes=67108860-67108869")["Body"].read()
    assert got == big[67108860:67108870]
    # A client's multipart upload maps onto the backend's parts (S3 multipart, Azure blocks).
    mpu = s3.create_multipart_upload(Bucket="native", Key="dir/parts.bin", ContentType="text/csv")
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), b"tail"]
    etags = [s3.upload_part(Bucket="native", Key="dir/parts.bin", UploadId=mpu["UploadId"], PartNumber=i + 1, Body=p)["ETag"]
             for i, p in enumerate(parts)]
    etags[1] = s3.upload_part(Bucket="native", Key="dir/parts.bin", UploadId=mpu["UploadId"], PartNumber=2, Body=parts[1])["ETag"]
    s3.complete_multipart_upload(Bucket="native", Key="dir/parts.bin", UploadId=mpu["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
    assert peer.read_direct(container, "native/dir/parts.bin") == b"".join(parts)
    assert peer.attributes_direct(container, "native/dir/parts.bin")[0] == "text/csv"
    s3.copy_object(Bucket="native", Key="dir/copy.bin", CopySource="native/dir/small.bin", MetadataDirective="REPLACE",
                   ContentType="text/plain", Metadata={"copied": "yes"})
    assert peer.read_direct(container, "native/dir/copy.bin") == small
    assert peer.attributes_direct(container, "native/dir/copy.bin") == ("text/plain", {"copied": "yes"})
    s3.delete_objects(Bucket="native", Delete={"Objects": [{"Key": "dir/big.bin"}, {"Key": "dir/copy.bin"}]})
    assert not peer.exists_direct(container, "native/dir/big.bin") and not peer.exists_direct(container, "native/dir/copy.bin")


def test_object_changed_behind_the_gateway_is_not_served(placed):
    s3 = make_client(placed.endpoint)
    s3.create_bucket(Bucket="tamper")
    s3.put_object(Bucket="tamper", Key="k", Body=b"original")
    placed.peer.write_direct(placed.container, "tamper/k", b"replaced behind our back")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket="tamper", Key="k")["Body"].read()
    assert e.value.response["Error"]["Code"] == "InternalError"


def test_backend_and_dataset_commands(sw_gateway):
    d, cfg, env = sw_gateway.data_dir, sw_gateway.config_path, sw_gateway.env
    out = run_cli("backend", "list", data_dir=d, config_path=cfg, env=env).stdout
    assert "sw\ts3\thttp://127.0.0.1:" in out and "local\tfilesystem" in out
    assert "passerelle-secret" not in out
    out = run_cli("backend", "check", "sw", data_dir=d, config_path=cfg, env=env).stdout
    assert "credentials accepted" in out and "needs Content-MD5: false" in out and out.rstrip().endswith("OK")
    assert "wrong x-amz-checksum-crc32c: 400 → checked: true" in out, out
    run_cli("dataset", "create", "cohort-a", "--backend", "sw", "--container", sw_gateway.container, "--prefix", "cohorts/a/",
            data_dir=d, config_path=cfg, env=env)
    assert "cohort-a\tsw:passerelle-backends/cohorts/a/" in run_cli("dataset", "list", data_dir=d, config_path=cfg, env=env).stdout
    # The running gateway sees a dataset created by the CLI.
    s3 = make_client(sw_gateway.endpoint)
    time.sleep(1.1)
    s3.put_object(Bucket="cohort-a", Key="x.csv", Body=b"a,b\n")
    show = run_cli("dataset", "show", "cohort-a", data_dir=d, config_path=cfg, env=env).stdout
    assert "objects:   1" in show and "bytes:     4" in show and "prefix:    cohorts/a/" in show
    bad = run_cli("dataset", "create", "cohort-b", "--backend", "nowhere", data_dir=d, config_path=cfg, env=env, check=False)
    assert bad.returncode != 0 and "unknown backend 'nowhere'" in bad.stderr


def test_swift_profile_is_probed(swift, tmp_path):
    container = swift.create_bucket("passerelle-probe")
    config, env = s3_backend_config("old", swift, container)
    (tmp_path / "c.yaml").write_text(config)
    out = run_cli("backend", "check", "old", data_dir=str(tmp_path), config_path=str(tmp_path / "c.yaml"), env=env).stdout
    assert "needs Content-MD5: true" in out and "accepted: false" in out and "highest part number: 1000" in out
    assert "wrong x-amz-checksum-crc32c: 200 → checked: false" in out, out  # ignored: Content-MD5 stays


def test_config_refuses_inline_secrets_and_missing_variables(tmp_path, seaweedfs):
    config, env = s3_backend_config("sw", seaweedfs, "x")
    (tmp_path / "inline.yaml").write_text(config.replace("secret_key_env: PSR_SW_SECRET", "secret_key: hunter2"))
    r = run_cli("backend", "list", data_dir=str(tmp_path), config_path=str(tmp_path / "inline.yaml"), env=env, check=False)
    assert r.returncode != 0 and "'secret_key' may not be written in the file" in r.stderr and "hunter2" not in r.stderr
    (tmp_path / "ok.yaml").write_text(config)
    r = run_cli("backend", "list", data_dir=str(tmp_path), config_path=str(tmp_path / "ok.yaml"), env={"PSR_SW_SECRET": ""}, check=False)
    assert r.returncode != 0 and "PSR_SW_ACCESS" in r.stderr or "PSR_SW_SECRET" in r.stderr


@pytest.mark.parametrize("kind", ["seaweedfs", "azure"])
def test_wrong_backend_credentials(kind, request):
    peer = request.getfixturevalue(kind)
    container = peer.create_bucket("passerelle-wrongkey")
    config, env = backend_config("bad", peer, container)
    # A well-formed secret, but not the backend's.
    env["PSR_BAD_SECRET"] = "d3JvbmcgYWNjb3VudCBrZXkgZm9yIHRoZSB0ZXN0cyEh"
    expected = "AuthenticationFailed" if kind == "azure" else "SignatureDoesNotMatch"
    g = Gateway(config=config, env=env).start()
    try:
        s3 = make_client(g.endpoint)
        s3.create_bucket(Bucket="wrongkey")
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.put_object(Bucket="wrongkey", Key="k", Body=b"data")
        assert e.value.response["Error"]["Code"] == "InternalError"
        assert s3.list_objects_v2(Bucket="wrongkey")["KeyCount"] == 0
        assert expected in open(g.log_path).read()
        r = run_cli("backend", "check", "bad", data_dir=g.data_dir, config_path=g.config_path, env=env, check=False)
        assert r.returncode != 0 and expected in r.stderr
    finally:
        g.cleanup()


def test_backend_down_then_back(placed):
    """Killed backend: 503 for writes and reads, nothing partial listed; restarted: the gateway recovers by itself."""
    s3, peer = make_client(placed.endpoint), placed.peer
    s3.create_bucket(Bucket="outage")
    s3.put_object(Bucket="outage", Key="before", Body=b"kept")
    payload = os.urandom(40 * MiB)
    errors = []

    def upload():
        try:
            s3.put_object(Bucket="outage", Key="during", Body=payload)
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    t = threading.Thread(target=upload)
    t.start()
    time.sleep(0.3)
    peer.kill()
    t.join(timeout=120)
    try:
        if not errors:  # the upload won the race; it must then be complete
            assert s3.get_object(Bucket="outage", Key="during")["Body"].read() == payload
        else:
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket="outage").get("Contents", [])]
            assert keys == ["before"]
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.put_object(Bucket="outage", Key="after", Body=b"x")
        assert e.value.response["Error"]["Code"] == "ServiceUnavailable"
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.get_object(Bucket="outage", Key="before")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    finally:
        peer.start()
    assert s3.get_object(Bucket="outage", Key="before")["Body"].read() == b"kept"
    s3.put_object(Bucket="outage", Key="after", Body=b"x")
    assert s3.get_object(Bucket="outage", Key="after")["Body"].read() == b"x"


def test_backend_killed_mid_download(placed):
    s3, peer = make_client(placed.endpoint), placed.peer
    s3.create_bucket(Bucket="middl")
    payload = os.urandom(60 * MiB)
    s3.put_object(Bucket="middl", Key="big", Body=payload)
    body = s3.get_object(Bucket="middl", Key="big")["Body"]
    first = body.read(1 * MiB)
    peer.kill()
    try:
        with pytest.raises(Exception):
            # The client must notice: fewer bytes than Content-Length, never silently short data.
            rest = body.read()
            assert len(first) + len(rest) == len(payload) and first + rest == payload
            raise AssertionError("served in full from buffers")  # still counts: the bytes were right
    finally:
        peer.start()
    assert hashlib.md5(s3.get_object(Bucket="middl", Key="big")["Body"].read()).digest() == hashlib.md5(payload).digest()


def test_azure_backend_commands_and_sas(azure, tmp_path):
    container = azure.create_bucket("passerelle-sas")
    config, env = azure_backend_config("az", azure, container)
    (tmp_path / "key.yaml").write_text(config)
    out = run_cli("backend", "list", data_dir=str(tmp_path), config_path=str(tmp_path / "key.yaml"), env=env).stdout
    assert "az\tazure\thttp://127.0.0.1:" in out and azure.account_key not in out
    out = run_cli("backend", "check", "az", data_dir=str(tmp_path), config_path=str(tmp_path / "key.yaml"), env=env).stdout
    assert "credentials accepted" in out and "ranged Get Blob" in out and out.rstrip().endswith("OK")
    # A container SAS (read, add, create, write, delete, list) is enough to serve a dataset.
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas
    from datetime import datetime, timedelta, timezone
    sas = generate_container_sas(azure.account, container, account_key=azure.account_key,
                                 permission=ContainerSasPermissions(read=True, add=True, create=True, write=True, delete=True, list=True),
                                 expiry=datetime.now(timezone.utc) + timedelta(hours=2))
    config, env = azure_backend_config("az", azure, container, sas_token=sas)
    g = Gateway(config=config, env=env).start()
    try:
        s3 = make_client(g.endpoint)
        s3.create_bucket(Bucket="viasas")
        data = os.urandom(3 * MiB)
        s3.put_object(Bucket="viasas", Key="f", Body=data)
        assert s3.get_object(Bucket="viasas", Key="f")["Body"].read() == data
        s3.copy_object(Bucket="viasas", Key="g", CopySource="viasas/f")
        assert azure.read_direct(container, "viasas/g") == data
        assert sas not in open(g.log_path).read()
    finally:
        g.cleanup()
    # A read-only SAS: reads work, writes get a clear error and leave nothing behind.
    ro = generate_container_sas(azure.account, container, account_key=azure.account_key,
                                permission=ContainerSasPermissions(read=True, list=True),
                                expiry=datetime.now(timezone.utc) + timedelta(hours=2))
    config, env = azure_backend_config("az", azure, container, sas_token=ro)
    g = Gateway(config=config, env=env, data_dir=None).start()
    try:
        s3 = make_client(g.endpoint)
        s3.create_bucket(Bucket="readonly")
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.put_object(Bucket="readonly", Key="k", Body=b"x")
        assert e.value.response["Error"]["Code"] == "InternalError"
        assert "AuthorizationPermissionMismatch" in open(g.log_path).read()
        assert not azure.exists_direct(container, "readonly/k")
    finally:
        g.cleanup()


def test_interrupted_in_place_writes_are_reconciled_at_start(placed):
    """A crash between the backend write (or delete) and the catalog commit leaves an intent;
    the next start makes the catalog describe what the backend holds. The crash outcomes are
    produced directly (the backend changed, the intent row written) while the gateway is down."""
    import sqlite3
    s3, peer, container = make_client(placed.endpoint), placed.peer, placed.container
    s3.create_bucket(Bucket="intents")
    for k in ("intact", "replaced", "deleted", "tampered"):
        s3.put_object(Bucket="intents", Key=k, Body=k.encode())
    placed.kill()
    peer.write_direct(container, "intents/replaced", b"an unacknowledged write")
    peer.write_direct(container, "intents/new", b"an unacknowledged new object")
    peer.write_direct(container, "intents/tampered", b"changed without any intent")
    peer.delete_direct(container, "intents/deleted")
    db = sqlite3.connect(os.path.join(placed.data_dir, "catalog.sqlite"))
    for k in ("intact", "replaced", "deleted", "new"):
        db.execute("INSERT INTO intents (bucket, key, started) VALUES (?, ?, ?)", ("intents", k.encode(), time.time()))
    db.commit()
    db.close()
    placed.start()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="intents").get("Contents", [])]
    assert keys == ["intact", "tampered"]
    assert s3.get_object(Bucket="intents", Key="intact")["Body"].read() == b"intact"
    assert not peer.exists_direct(container, "intents/replaced") and not peer.exists_direct(container, "intents/new")
    # Without an intent, a changed backend object is still refused, never silently adopted.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket="intents", Key="tampered")["Body"].read()
    assert e.value.response["Error"]["Code"] == "InternalError"
    db = sqlite3.connect(os.path.join(placed.data_dir, "catalog.sqlite"))
    assert db.execute("SELECT COUNT(*) FROM intents").fetchone()[0] == 0
    db.close()
    assert "reconciled an interrupted write" in open(placed.log_path).read()

