"""Real S3 clients against a real gateway: each creates a bucket, puts a small and a multipart
(3 x 8 MiB + tail) object, lists with pagination and a delimiter, reads a range, copies, deletes
in a batch. Every byte read back is compared."""
import hashlib
import json
import os
import subprocess
import tempfile
import urllib.request
import uuid

import pytest
from minio import Minio
from minio.commonconfig import CopySource
from minio.deleteobjects import DeleteObject

from conftest import make_client
from gateway import ACCESS_KEY, SECRET_KEY

MiB = 1024 * 1024


@pytest.fixture(scope="session")
def gateway(placed_gateway):
    """Every client of the matrix runs once per placement (local, SeaweedFS, Swift's s3api)."""
    return placed_gateway


@pytest.fixture(scope="session")
def s3(gateway):
    return make_client(gateway.endpoint)

BIG = os.urandom(3 * 8 * MiB + 12345)
SMALL = b"hello, passerelle \xe2\x9c\x93\n" * 100


@pytest.fixture(scope="module")
def files():
    d = tempfile.mkdtemp(prefix="matrix-")
    big, small = os.path.join(d, "big.bin"), os.path.join(d, "small.txt")
    open(big, "wb").write(BIG)
    open(small, "wb").write(SMALL)
    return d, big, small


def bucket_name(client):
    return f"{client}-{uuid.uuid4().hex[:10]}"


def check_listing(s3, bucket, expected):
    """Paginated listing with max-keys 1 and a delimiter, checked with boto3 whatever wrote it."""
    keys, token = [], None
    while True:
        kw = {"Bucket": bucket, "MaxKeys": 1}
        if token:
            kw["ContinuationToken"] = token
        r = s3.list_objects_v2(**kw)
        keys += [o["Key"] for o in r.get("Contents", [])]
        if not r["IsTruncated"]:
            break
        token = r["NextContinuationToken"]
    assert sorted(keys) == sorted(expected)
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in r.get("CommonPrefixes", [])] == sorted({k.split("/")[0] + "/" for k in expected if "/" in k})


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_boto3(gateway, scheme):
    s3 = make_client(gateway.endpoint) if scheme == "http" else make_client(gateway.tls_endpoint, verify=gateway.certificate)
    from boto3.s3.transfer import TransferConfig
    b = bucket_name("boto3" + scheme)
    s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="dir/small.txt", Body=SMALL, ContentType="text/plain", Metadata={"origin": "matrix"})
    import io
    s3.upload_fileobj(io.BytesIO(BIG), b, "dir/big.bin", Config=TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB))
    head = s3.head_object(Bucket=b, Key="dir/big.bin", ChecksumMode="ENABLED")
    assert head["ETag"].endswith('-4"') and head["ContentLength"] == len(BIG)
    small = s3.get_object(Bucket=b, Key="dir/small.txt")
    assert small["Body"].read() == SMALL and small["Metadata"] == {"origin": "matrix"} and small["ContentType"] == "text/plain"
    r = s3.get_object(Bucket=b, Key="dir/big.bin", Range="bytes=1000000-1999999")
    assert r["Body"].read() == BIG[1000000:2000000] and r["ContentRange"] == f"bytes 1000000-1999999/{len(BIG)}"
    s3.copy_object(Bucket=b, Key="copy/big.bin", CopySource={"Bucket": b, "Key": "dir/big.bin"})
    assert hashlib.sha256(s3.get_object(Bucket=b, Key="copy/big.bin")["Body"].read()).digest() == hashlib.sha256(BIG).digest()
    s3.put_object(Bucket=b, Key="top.txt", Body=b"x")
    check_listing(s3, b, ["dir/small.txt", "dir/big.bin", "copy/big.bin", "top.txt"])
    signer = make_client(gateway.endpoint if scheme == "http" else gateway.tls_endpoint, signature_version="s3v4")
    url = signer.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "dir/small.txt"}, ExpiresIn=300)
    ctx = None
    if scheme == "https":
        import ssl
        ctx = ssl.create_default_context(cafile=gateway.certificate)
    with urllib.request.urlopen(url, context=ctx) as resp:
        assert resp.read() == SMALL
    # boto3's default presigner (SigV2 query authentication) too.
    url = s3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "dir/small.txt"}, ExpiresIn=300)
    assert "AWSAccessKeyId=" in url
    with urllib.request.urlopen(url, context=ctx) as resp:
        assert resp.read() == SMALL
    r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": k} for k in ["dir/small.txt", "dir/big.bin", "copy/big.bin", "top.txt"]]})
    assert len(r["Deleted"]) == 4 and not r.get("Errors")
    s3.delete_bucket(Bucket=b)


def run(cmd, env=None, **kw):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, **kw)
    assert p.returncode == 0, f"{cmd} failed: {p.stdout}\n{p.stderr}"
    return p.stdout


def test_awscli(gateway, s3, files):
    d, big, small = files
    cfg = os.path.join(d, "aws-config")
    open(cfg, "w").write("[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n  multipart_threshold = 8MB\n  multipart_chunksize = 8MB\n")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_CONFIG_FILE=cfg,
               AWS_SHARED_CREDENTIALS_FILE=os.path.join(d, "none"))
    env.pop("AWS_PROFILE", None)
    aws = ["aws", "--endpoint-url", gateway.endpoint]
    b = bucket_name("awscli")
    run(aws + ["s3", "mb", f"s3://{b}"], env)
    run(aws + ["s3", "cp", small, f"s3://{b}/dir/small.txt"], env)
    run(aws + ["s3", "cp", big, f"s3://{b}/dir/big.bin"], env)
    sync_dir = os.path.join(d, "sync")
    os.makedirs(sync_dir, exist_ok=True)
    open(os.path.join(sync_dir, "a.txt"), "w").write("a")
    run(aws + ["s3", "sync", sync_dir, f"s3://{b}/synced/"], env)
    assert "a.txt" in run(aws + ["s3", "ls", f"s3://{b}/synced/"], env)
    listing = json.loads(run(aws + ["s3api", "list-objects-v2", "--bucket", b, "--delimiter", "/"], env))
    assert sorted(p["Prefix"] for p in listing["CommonPrefixes"]) == ["dir/", "synced/"]
    # s3api multipart, by hand
    up = json.loads(run(aws + ["s3api", "create-multipart-upload", "--bucket", b, "--key", "manual.bin"], env))["UploadId"]
    parts = []
    for n, (lo, hi) in enumerate([(0, 8 * MiB), (8 * MiB, 16 * MiB), (16 * MiB, len(BIG))], start=1):
        part = os.path.join(d, f"part{n}")
        open(part, "wb").write(BIG[lo:hi])
        etag = json.loads(run(aws + ["s3api", "upload-part", "--bucket", b, "--key", "manual.bin", "--part-number", str(n),
                                     "--upload-id", up, "--body", part], env))["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    mpu = os.path.join(d, "mpu.json")
    json.dump({"Parts": parts}, open(mpu, "w"))
    run(aws + ["s3api", "complete-multipart-upload", "--bucket", b, "--key", "manual.bin", "--upload-id", up,
               "--multipart-upload", f"file://{mpu}"], env)
    out = os.path.join(d, "range.out")
    run(aws + ["s3api", "get-object", "--bucket", b, "--key", "manual.bin", "--range", "bytes=8388600-8388700", out], env)
    assert open(out, "rb").read() == BIG[8388600:8388701]
    run(aws + ["s3", "cp", f"s3://{b}/dir/big.bin", f"s3://{b}/copy.bin"], env)
    run(aws + ["s3", "cp", f"s3://{b}/copy.bin", os.path.join(d, "copy.out")], env)
    assert open(os.path.join(d, "copy.out"), "rb").read() == BIG
    check_listing(s3, b, ["dir/small.txt", "dir/big.bin", "synced/a.txt", "manual.bin", "copy.bin"])
    batch = os.path.join(d, "delete.json")
    json.dump({"Objects": [{"Key": "dir/small.txt"}, {"Key": "manual.bin"}]}, open(batch, "w"))
    deleted = json.loads(run(aws + ["s3api", "delete-objects", "--bucket", b, "--delete", f"file://{batch}"], env))
    assert len(deleted["Deleted"]) == 2
    run(aws + ["s3", "rm", "--recursive", f"s3://{b}/"], env)
    run(aws + ["s3", "rb", f"s3://{b}"], env)


def test_s3cmd(gateway, s3, files):
    d, big, small = files
    host = f"127.0.0.1:{gateway.port}"
    cfg = os.path.join(d, "s3cfg")
    open(cfg, "w").write(f"[default]\naccess_key = {ACCESS_KEY}\nsecret_key = {SECRET_KEY}\nhost_base = {host}\nhost_bucket = {host}\n"
                         "use_https = False\nsignature_v2 = False\nbucket_location = us-east-1\nmultipart_chunk_size_mb = 8\n")
    c = ["s3cmd", "-c", cfg]
    b = bucket_name("s3cmd")
    run(c + ["mb", f"s3://{b}"])
    run(c + ["put", small, f"s3://{b}/dir/small.txt"])
    run(c + ["put", big, f"s3://{b}/dir/big.bin"])
    assert s3.head_object(Bucket=b, Key="dir/big.bin")["ETag"].endswith('-4"')
    run(c + ["cp", f"s3://{b}/dir/big.bin", f"s3://{b}/copy.bin"])
    # `get --continue` on a partial file sends `Range: bytes=N-`
    partial = os.path.join(d, "partial.bin")
    open(partial, "wb").write(BIG[:5 * MiB])
    run(c + ["get", "--continue", f"s3://{b}/copy.bin", partial])
    assert open(partial, "rb").read() == BIG
    assert "small.txt" in run(c + ["ls", f"s3://{b}/dir/"])
    check_listing(s3, b, ["dir/small.txt", "dir/big.bin", "copy.bin"])
    run(c + ["del", "--recursive", "--force", f"s3://{b}/"])  # multi-object delete with Content-MD5
    assert s3.list_objects_v2(Bucket=b)["KeyCount"] == 0
    run(c + ["rb", f"s3://{b}"])


def test_rclone(gateway, s3, files):
    d, big, small = files
    env = dict(os.environ, RCLONE_CONFIG_GW_TYPE="s3", RCLONE_CONFIG_GW_PROVIDER="Other",
               RCLONE_CONFIG_GW_ENDPOINT=gateway.endpoint, RCLONE_CONFIG_GW_ACCESS_KEY_ID=ACCESS_KEY,
               RCLONE_CONFIG_GW_SECRET_ACCESS_KEY=SECRET_KEY, RCLONE_CONFIG_GW_REGION="us-east-1",
               RCLONE_CONFIG_GW_FORCE_PATH_STYLE="true", RCLONE_CONFIG="/dev/null")
    env.pop("AWS_CA_BUNDLE", None)
    rc = ["rclone", "--s3-upload-cutoff", "8M", "--s3-chunk-size", "8M"]
    b = bucket_name("rclone")
    run(rc + ["mkdir", f"gw:{b}"], env)
    run(rc + ["copyto", small, f"gw:{b}/dir/small.txt"], env)
    run(rc + ["copyto", big, f"gw:{b}/dir/big.bin"], env)
    assert s3.head_object(Bucket=b, Key="dir/big.bin")["ETag"].endswith('-4"')
    out = subprocess.run(rc + ["cat", "--offset", "1000000", "--count", "1000000", f"gw:{b}/dir/big.bin"], env=env,
                         capture_output=True, timeout=120)
    assert out.returncode == 0 and out.stdout == BIG[1000000:2000000]
    run(rc + ["copyto", f"gw:{b}/dir/big.bin", f"gw:{b}/copy.bin"], env)  # server-side copy
    got = subprocess.run(rc + ["cat", f"gw:{b}/copy.bin"], env=env, capture_output=True, timeout=120).stdout
    assert got == BIG
    listed = run(rc + ["lsf", "-R", f"gw:{b}"], env).split()
    assert sorted(listed) == sorted(["copy.bin", "dir/", "dir/big.bin", "dir/small.txt"])
    check_listing(s3, b, ["dir/small.txt", "dir/big.bin", "copy.bin"])
    run(rc + ["purge", f"gw:{b}"], env)
    assert b not in [x["Name"] for x in s3.list_buckets()["Buckets"]]


def test_minio(gateway, s3, files):
    d, big, small = files
    mc = Minio(f"127.0.0.1:{gateway.port}", access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False, region="us-east-1")
    b = bucket_name("minio")
    mc.make_bucket(b)
    assert mc.bucket_exists(b)
    mc.fput_object(b, "dir/small.txt", small)
    mc.fput_object(b, "dir/big.bin", big, part_size=8 * MiB)
    assert s3.head_object(Bucket=b, Key="dir/big.bin")["ETag"].endswith('-4"')
    r = mc.get_object(b, "dir/big.bin", offset=1000000, length=1000000)
    assert r.read() == BIG[1000000:2000000]
    r.close()
    mc.copy_object(b, "copy.txt", CopySource(b, "dir/small.txt"))
    assert mc.get_object(b, "copy.txt").read() == SMALL
    assert [o.object_name for o in mc.list_objects(b)] == ["copy.txt", "dir/"]
    assert sorted(o.object_name for o in mc.list_objects(b, recursive=True)) == ["copy.txt", "dir/big.bin", "dir/small.txt"]
    check_listing(s3, b, ["dir/small.txt", "dir/big.bin", "copy.txt"])
    errors = list(mc.remove_objects(b, [DeleteObject(k) for k in ["copy.txt", "dir/big.bin", "dir/small.txt"]]))
    assert errors == []
    mc.remove_bucket(b)


def test_duckdb(gateway, s3):
    """DuckDB writes with COPY … TO s3:// (always a multipart upload) and reads with ranged GETs."""
    import duckdb
    import duckdb_extension_httpfs
    ext = os.path.join(os.path.dirname(duckdb_extension_httpfs.__file__), "extensions", "v" + duckdb.__version__, "httpfs.duckdb_extension")
    b = bucket_name("duckdb")
    s3.create_bucket(Bucket=b)  # DuckDB cannot create buckets
    con = duckdb.connect()
    con.execute(f"LOAD '{ext}'")
    con.execute("CREATE SECRET gw (TYPE S3, KEY_ID ?, SECRET ?, REGION 'us-east-1', ENDPOINT ?, URL_STYLE 'path', USE_SSL false)",
                [ACCESS_KEY, SECRET_KEY, f"127.0.0.1:{gateway.port}"])
    con.execute("SET s3_uploader_max_filesize = '50MB'")  # 5 MiB parts: 24 MiB is a 5-part upload
    con.execute(f"COPY (SELECT i, md5(i::VARCHAR) AS h FROM range(600000) t(i)) TO 's3://{b}/data/t.csv'")
    con.execute(f"COPY (SELECT 1 AS one) TO 's3://{b}/data/small.csv'")
    assert s3.head_object(Bucket=b, Key="data/t.csv")["ContentLength"] > 20 * MiB
    files = sorted(r[0] for r in con.execute(f"SELECT file FROM glob('s3://{b}/data/*')").fetchall())
    assert files == [f"s3://{b}/data/small.csv", f"s3://{b}/data/t.csv"]
    assert con.execute(f"SELECT count(*), sum(i) FROM read_csv('s3://{b}/data/t.csv')").fetchone() == (600000, 599999 * 600000 // 2)
    s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "data/t.csv"}, {"Key": "data/small.csv"}]})
    s3.delete_bucket(Bucket=b)


def test_pyarrow(gateway, s3):
    """pyarrow's S3FileSystem (AWS C++ SDK: aws-chunked bodies with a CRC trailer, multipart)."""
    from pyarrow import fs
    s = fs.S3FileSystem(access_key=ACCESS_KEY, secret_key=SECRET_KEY, region="us-east-1", scheme="http",
                        endpoint_override=f"127.0.0.1:{gateway.port}", allow_bucket_creation=True,
                        allow_bucket_deletion=True, force_virtual_addressing=False)
    b = bucket_name("pyarrow")
    s.create_dir(b)
    with s.open_output_stream(f"{b}/small") as o:
        o.write(SMALL)
    with s.open_output_stream(f"{b}/dir/big") as o:
        for i in range(0, len(BIG), MiB):
            o.write(BIG[i:i + MiB])
    info = {i.path: i.size for i in s.get_file_info(fs.FileSelector(b, recursive=True)) if i.type == fs.FileType.File}
    assert info == {f"{b}/small": len(SMALL), f"{b}/dir/big": len(BIG)}
    with s.open_input_file(f"{b}/dir/big") as f:
        assert f.read_at(1000000, 1000000) == BIG[1000000:2000000]
    s.copy_file(f"{b}/small", f"{b}/copy")
    with s.open_input_stream(f"{b}/copy") as f:
        assert f.read() == SMALL
    s.delete_dir_contents(b)
    s.delete_dir(b)
