"""Supervision on a real gateway: a scripted mass download, repeated bad signatures and
off-hours access each fire their rule (audit entry, metric, webhook); ordinary traffic fires
nothing."""
import datetime
import http.server
import json
import threading
import time

import boto3
import botocore
import pytest
import requests

from gateway import ACCESS_KEY, SECRET_KEY, Gateway, free_port, run_cli
from trust import add_user, audit_entries, next_code, session_client, sign_in


class Hook(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def supervised():
    port = free_port()
    server = http.server.HTTPServer(("127.0.0.1", port), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = f"""supervision:
  window_seconds: 120
  download_min_objects: 150
  download_factor: 5
  auth_failures: 5
  datasets: 5
  webhook: http://127.0.0.1:{port}/alerts
"""
    g = Gateway(config=config).start()
    root = boto3.client("s3", endpoint_url=g.endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, config=botocore.config.Config(s3={"addressing_style": "path"}))
    for b in ("records", "extra"):
        root.create_bucket(Bucket=b)
    for i in range(40):
        root.put_object(Bucket="records", Key=f"r{i}", Body=b"x" * 100)
    hour = datetime.datetime.now(datetime.timezone.utc).hour
    night = f"{(hour + 2) % 22}-{(hour + 2) % 22 + 2}"  # two hours that are not now
    g.secrets = {u: add_user(g, u) for u in ("ana", "ben", "nina")}
    run_cli("project", "create", "study", "--purpose", "registry study", "--expires", "30", "--members", "ana,ben", data_dir=g.data_dir)
    run_cli("project", "create", "night", "--purpose", "night shift", "--expires", "30", "--members", "nina", "--hours", night, data_dir=g.data_dir)
    for p in ("study", "night"):
        run_cli("project", "grant", p, "--dataset", "records", data_dir=g.data_dir)
    yield g
    g.cleanup()
    server.shutdown()


def session(g, user, project):
    status, creds = sign_in(g, user, next_code(g.secrets[user]), project)
    assert status == 200, creds
    return session_client(g, creds)


def anomalies(g):
    return [json.loads(e) for e in audit_entries(g).values() if json.loads(e)["action"].startswith("anomaly.")]


def wait_for(predicate, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_ordinary_traffic_fires_nothing_and_mass_download_fires_once(supervised):
    g = supervised
    ana = session(g, "ana", "study")
    for i in range(40):
        assert ana.get_object(Bucket="records", Key=f"r{i}")["Body"].read() == b"x" * 100
    ana.list_objects_v2(Bucket="records")
    time.sleep(1)
    assert [a for a in anomalies(g) if a["principal"] == "ana"] == []
    ben = session(g, "ben", "study")
    for _ in range(5):
        for i in range(40):
            ben.get_object(Bucket="records", Key=f"r{i}")
    assert wait_for(lambda: any(a["action"] == "anomaly.mass_download" and a["principal"] == "ben" for a in anomalies(g)))
    fired = [a for a in anomalies(g) if a["principal"] == "ben"]
    assert len(fired) == 1 and fired[0]["project"] == "study" and fired[0]["result"] == "alert"
    assert wait_for(lambda: any(h["rule"] == "mass_download" and h["principal"] == "ben" for h in Hook.received))
    metrics = requests.get(g.metrics_endpoint + "/metrics", timeout=10).text
    assert 'passerelle_anomalies_total{rule="mass_download"} 1' in metrics
    # Counted by result only: no project name in a label (they say who studies what).
    assert 'passerelle_requests_total{result="allowed"}' in metrics and 'project=' not in metrics
    assert [a for a in anomalies(g) if a["principal"] == "ana"] == []


def test_repeated_bad_signatures_fire(supervised):
    g = supervised
    bad = boto3.client("s3", endpoint_url=g.endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                       aws_secret_access_key="wrong", config=botocore.config.Config(retries={"max_attempts": 1}))
    for _ in range(6):
        with pytest.raises(botocore.exceptions.ClientError):
            bad.list_buckets()
    assert wait_for(lambda: any(a["action"] == "anomaly.auth_failures" and a["principal"] == "key:" + ACCESS_KEY for a in anomalies(g)))
    denied = [json.loads(e) for e in audit_entries(g).values() if json.loads(e).get("detail") == "authentication failed: SignatureDoesNotMatch"]
    assert len(denied) >= 6


def test_off_hours_access_fires(supervised):
    g = supervised
    nina = session(g, "nina", "night")
    nina.get_object(Bucket="records", Key="r1")
    assert wait_for(lambda: any(a["action"] == "anomaly.off_hours" and a["principal"] == "nina" for a in anomalies(g)))
