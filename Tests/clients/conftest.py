import os
import sys
import uuid

import boto3
import pytest
from botocore.config import Config

sys.path.insert(0, os.path.dirname(__file__))
from gateway import ACCESS_KEY, SECRET_KEY, Gateway, backend_config, sealed_gateway  # noqa: E402
from peers import AzureFake, SeaweedFS, SwiftS3  # noqa: E402

# Where the client matrix places its datasets: the local store and each real backend, and
# sealed datasets (encrypted, opaque names) on the local store and on SeaweedFS.
PLACEMENTS = os.environ.get("PASSERELLE_PLACEMENTS", "local,seaweedfs,swift,azure,local-sealed,seaweedfs-sealed").split(",")


@pytest.fixture(scope="session")
def local_gateway():
    g = Gateway().start()
    yield g
    g.cleanup()


@pytest.fixture(scope="session")
def gateway(local_gateway):
    return local_gateway


@pytest.fixture(scope="session")
def seaweedfs():
    p = SeaweedFS().start()
    yield p
    p.cleanup()


@pytest.fixture(scope="session")
def swift():
    p = SwiftS3().start()
    yield p
    p.cleanup()


@pytest.fixture(scope="session")
def azure():
    p = AzureFake().start()
    yield p
    p.cleanup()


def start_placed(request, placement, container=None):
    """A gateway whose new datasets are placed on `placement`: `local` (the session's own
    gateway), a peer's name (native layout, in `container`) or NAME-sealed. Returns (gateway,
    the gateway the caller cleans up, None for the session's own)."""
    if placement == "local":
        return request.getfixturevalue("local_gateway"), None
    if placement.endswith("-sealed"):
        base = placement[:-len("-sealed")]
        peer = None if base == "local" else request.getfixturevalue(base)
        g = sealed_gateway(base, peer, **({"container": container} if container else {}))
        return g, g
    peer = request.getfixturevalue(placement)
    container = peer.create_bucket(container or "passerelle-matrix")
    config, env = backend_config(placement, peer, container)
    g = Gateway(config=config, env=env).start()
    g.peer, g.container = peer, container
    return g, g


@pytest.fixture(scope="session", params=PLACEMENTS)
def placed_gateway(request):
    """A gateway whose new datasets are placed on the local store, SeaweedFS, Swift's s3api or Azure."""
    g, owned = start_placed(request, request.param)
    yield g
    if owned:
        owned.cleanup()


def new_bucket(s3, status="Enabled", prefix="ver"):
    """A fresh bucket, its versioning `status` (None: never versioned)."""
    b = f"{prefix}-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=b)
    if status:
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": status})
    return b


def make_client(endpoint, verify=None, **config):
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1", verify=verify,
        config=Config(**{"s3": {"addressing_style": "path"}, "retries": {"max_attempts": 1}, **config}))


@pytest.fixture(scope="session")
def s3(gateway):
    return make_client(gateway.endpoint)


@pytest.fixture(scope="session")
def s3_tls(gateway):
    return make_client(gateway.tls_endpoint, verify=gateway.certificate)
