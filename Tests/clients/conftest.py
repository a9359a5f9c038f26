import os
import sys

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


@pytest.fixture(scope="session", params=PLACEMENTS)
def placed_gateway(request):
    """A gateway whose new datasets are placed on the local store, SeaweedFS, Swift's s3api or Azure."""
    if request.param == "local":
        yield request.getfixturevalue("local_gateway")
        return
    if request.param.endswith("-sealed"):
        base = request.param[:-len("-sealed")]
        g = sealed_gateway(base, None if base == "local" else request.getfixturevalue(base))
        yield g
        g.cleanup()
        return
    peer = request.getfixturevalue(request.param)
    container = peer.create_bucket("passerelle-matrix")
    config, env = backend_config(request.param, peer, container)
    g = Gateway(config=config, env=env).start()
    yield g
    g.cleanup()


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
