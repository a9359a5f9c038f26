"""Datasets placed on real S3 backends: objects land under their own key (layout native),
the CLI inspects backends and datasets, and backend faults reach clients as clear S3 errors
with nothing partial visible."""
import hashlib
import os
import threading
import time

import botocore
import pytest

from conftest import make_client
from gateway import Gateway, run_cli, s3_backend_config

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def sw_gateway(seaweedfs):
    container = seaweedfs.create_bucket("passerelle-backends")
    config, env = s3_backend_config("sw", seaweedfs, container)
    g = Gateway(config=config, env=env).start()
    g.env = env
    g.container = container
    yield g
    g.cleanup()


def test_native_layout_on_the_backend(sw_gateway, seaweedfs):
    s3 = make_client(sw_gateway.endpoint)
    s3.create_bucket(Bucket="native")
    small, big = os.urandom(1000), os.urandom(70 * MiB + 3)
    s3.put_object(Bucket="native", Key="dir/small.bin", Body=small, ContentType="application/x-test", Metadata={"origin": "test"})
    s3.put_object(Bucket="native", Key="dir/big.bin", Body=big)  # above 64 MiB: the gateway's own multipart upload
    direct = seaweedfs.client()
    assert direct.get_object(Bucket=sw_gateway.container, Key="native/dir/small.bin")["Body"].read() == small
    head = direct.head_object(Bucket=sw_gateway.container, Key="native/dir/small.bin")
    assert head["ContentType"] == "application/x-test" and head["Metadata"] == {"origin": "test"}
    assert hashlib.md5(direct.get_object(Bucket=sw_gateway.container, Key="native/dir/big.bin")["Body"].read()).digest() == hashlib.md5(big).digest()
    # Clients see the catalog's plaintext ETag (MD5 of the object), not the backend's multipart ETag.
    assert s3.head_object(Bucket="native", Key="dir/big.bin")["ETag"] == f'"{hashlib.md5(big).hexdigest()}"'
    got = s3.get_object(Bucket="native", Key="dir/big.bin", Range="bytes=67108860-67108869")["Body"].read()
    assert got == big[67108860:67108870]
    s3.delete_object(Bucket="native", Key="dir/big.bin")
    with pytest.raises(botocore.exceptions.ClientError):
        direct.head_object(Bucket=sw_gateway.container, Key="native/dir/big.bin")


def test_object_changed_behind_the_gateway_is_not_served(sw_gateway, seaweedfs):
    s3 = make_client(sw_gateway.endpoint)
    s3.create_bucket(Bucket="tamper")
    s3.put_object(Bucket="tamper", Key="k", Body=b"original")
    seaweedfs.client().put_object(Bucket=sw_gateway.container, Key="tamper/k", Body=b"replaced behind our back")
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


def test_config_refuses_inline_secrets_and_missing_variables(tmp_path, seaweedfs):
    config, env = s3_backend_config("sw", seaweedfs, "x")
    (tmp_path / "inline.yaml").write_text(config.replace("secret_key_env: PSR_SW_SECRET", "secret_key: hunter2"))
    r = run_cli("backend", "list", data_dir=str(tmp_path), config_path=str(tmp_path / "inline.yaml"), env=env, check=False)
    assert r.returncode != 0 and "'secret_key' may not be written in the file" in r.stderr and "hunter2" not in r.stderr
    (tmp_path / "ok.yaml").write_text(config)
    r = run_cli("backend", "list", data_dir=str(tmp_path), config_path=str(tmp_path / "ok.yaml"), env={"PSR_SW_SECRET": ""}, check=False)
    assert r.returncode != 0 and "PSR_SW_ACCESS" in r.stderr or "PSR_SW_SECRET" in r.stderr


def test_wrong_backend_credentials(seaweedfs):
    container = seaweedfs.create_bucket("passerelle-wrongkey")
    config, env = s3_backend_config("sw", seaweedfs, container, profile="s3")
    env["PSR_SW_SECRET"] = "not-the-secret"
    g = Gateway(config=config, env=env).start()
    try:
        s3 = make_client(g.endpoint)
        s3.create_bucket(Bucket="wrongkey")
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.put_object(Bucket="wrongkey", Key="k", Body=b"data")
        assert e.value.response["Error"]["Code"] == "InternalError"
        assert s3.list_objects_v2(Bucket="wrongkey")["KeyCount"] == 0
        assert "SignatureDoesNotMatch" in open(g.log_path).read()
        r = run_cli("backend", "check", "sw", data_dir=g.data_dir, config_path=g.config_path, env=env, check=False)
        assert r.returncode != 0 and "SignatureDoesNotMatch" in r.stderr
    finally:
        g.cleanup()


def test_backend_down_then_back(sw_gateway, seaweedfs):
    """Killed backend: 503 for writes and reads, nothing partial listed; restarted: the gateway recovers by itself."""
    s3 = make_client(sw_gateway.endpoint)
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
    seaweedfs.kill()
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
        seaweedfs.start()
    assert s3.get_object(Bucket="outage", Key="before")["Body"].read() == b"kept"
    s3.put_object(Bucket="outage", Key="after", Body=b"x")
    assert s3.get_object(Bucket="outage", Key="after")["Body"].read() == b"x"


def test_backend_killed_mid_download(sw_gateway, seaweedfs):
    s3 = make_client(sw_gateway.endpoint)
    s3.create_bucket(Bucket="middl")
    payload = os.urandom(60 * MiB)
    s3.put_object(Bucket="middl", Key="big", Body=payload)
    body = s3.get_object(Bucket="middl", Key="big")["Body"]
    first = body.read(1 * MiB)
    seaweedfs.kill()
    try:
        with pytest.raises(Exception):
            # The client must notice: fewer bytes than Content-Length, never silently short data.
            rest = body.read()
            assert len(first) + len(rest) == len(payload) and first + rest == payload
            raise AssertionError("served in full from buffers")  # still counts: the bytes were right
    finally:
        seaweedfs.start()
    assert hashlib.md5(s3.get_object(Bucket="middl", Key="big")["Body"].read()).digest() == hashlib.md5(payload).digest()
