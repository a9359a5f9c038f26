import os
import sys

import boto3
import pytest
from botocore.config import Config

sys.path.insert(0, os.path.dirname(__file__))
from gateway import ACCESS_KEY, SECRET_KEY, Gateway  # noqa: E402


@pytest.fixture(scope="session")
def gateway():
    g = Gateway().start()
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
