"""Start and stop a real `passerelle serve` on free loopback ports for the client tests."""
import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

from ports import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("PASSERELLE_BIN", os.path.join(ROOT, ".build", "debug", "passerelle"))
ACCESS_KEY = "PSRTESTACCESSKEY0001"
SECRET_KEY = "test-secret-key-for-the-client-matrix"


class PortInUse(RuntimeError):
    pass


class Gateway:
    """One gateway process; `restart()` keeps its data directory, `kill()` is SIGKILL."""

    def __init__(self, data_dir=None, config=None, env=None, args=(), metrics_listener=True):
        """`config`: YAML text for `serve --config`; `env`: extra environment (backend secrets);
        `metrics_listener` False for builds older than `serve --metrics-listen` (benchmarks)."""
        self.metrics_listener = metrics_listener
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="passerelle-test-")
        self.config_path = None
        if config is not None:
            self.config_path = os.path.join(self.data_dir, "passerelle.yaml")
            with open(self.config_path, "w") as f:
                f.write(config)
        self.extra_env = env or {}
        self.extra_args = list(args)
        self.port = free_port()
        self.tls_port = free_port()
        self.metrics_port = free_port()
        self.proc = None
        self.log_path = os.path.join(self.data_dir, "gateway.log")

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def tls_endpoint(self):
        return f"https://127.0.0.1:{self.tls_port}"

    @property
    def metrics_endpoint(self):
        """The metrics listener (loopback, unauthenticated): `GET /metrics`."""
        return f"http://127.0.0.1:{self.metrics_port}"

    @property
    def certificate(self):
        return os.path.join(self.data_dir, "tls-cert.pem")

    def start(self, timeout=30):
        """Starts the gateway. A port picked free can be taken before the gateway binds it (an
        outgoing connection's ephemeral port): the first start then picks other ports, a
        restart (which keeps its endpoint) waits for the port and tries again."""
        first = self.proc is None
        for attempt in range(5):
            try:
                return self._start(timeout)
            except PortInUse:
                if first:
                    self.port, self.tls_port, self.metrics_port = free_port(), free_port(), free_port()
                else:
                    time.sleep(1)
        return self._start(timeout)

    def _start(self, timeout):
        env = dict(os.environ, PASSERELLE_ROOT_ACCESS_KEY=ACCESS_KEY, PASSERELLE_ROOT_SECRET_KEY=SECRET_KEY, **self.extra_env)
        log = open(self.log_path, "ab")
        offset = log.tell()
        config = ["--config", self.config_path] if self.config_path else []
        self.proc = subprocess.Popen(
            [BINARY, "serve", "--data-dir", self.data_dir, "--listen", f"127.0.0.1:{self.port}",
             "--tls-listen", f"127.0.0.1:{self.tls_port}"]
            + (["--metrics-listen", f"127.0.0.1:{self.metrics_port}"] if self.metrics_listener else []) + config + self.extra_args,
            stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                with open(self.log_path) as f:
                    f.seek(offset)
                    tail = f.read()[-2000:]
                if "Address already in use" in tail:
                    with open(self.log_path, "a") as f:
                        f.write("\n[test harness: a port was taken before the gateway bound it; retrying]\n")
                    raise PortInUse(tail)
                raise RuntimeError(f"gateway exited: {tail}")
            try:
                with urllib.request.urlopen(self.endpoint + "/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("gateway did not become healthy")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def run_cli(*args, data_dir, config_path=None, env=None, check=True):
    """Runs `passerelle ARGS --data-dir … [--config …]`; returns the completed process."""
    cmd = [BINARY] + list(args) + ["--data-dir", data_dir] + (["--config", config_path] if config_path else [])
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **(env or {})), timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd} failed ({r.returncode}): {r.stdout}{r.stderr}")
    return r


def s3_backend_config(name, peer, container, profile="auto", default=True):
    """YAML declaring `peer` as S3 backend `name`, secrets by environment variable; returns (yaml, env)."""
    env_prefix = "PSR_" + name.upper().replace("-", "_")
    yaml = f"""backends:
  {name}:
    kind: s3
    endpoint: {peer.endpoint}
    region: us-east-1
    access_key_env: {env_prefix}_ACCESS
    secret_key_env: {env_prefix}_SECRET
    profile: {profile}
    read_timeout_seconds: 20
"""
    if default:
        yaml += default_placement_yaml(name, container)
    return yaml, {f"{env_prefix}_ACCESS": peer.access_key, f"{env_prefix}_SECRET": peer.secret_key}


def default_placement_yaml(name, container):
    return f"""default_placement:
  backend: {name}
  container: {container}
  prefix: "{{dataset}}/"
"""


def azure_backend_config(name, peer, container, default=True, sas_token=None):
    """YAML declaring the Azure test server `peer` as backend `name`, authorised by the
    account key or by `sas_token`, from an environment variable; returns (yaml, env)."""
    env_prefix = "PSR_" + name.upper().replace("-", "_")
    secret = ("sas_token_env", sas_token) if sas_token else ("account_key_env", peer.account_key)
    yaml = f"""backends:
  {name}:
    kind: azure
    endpoint: {peer.endpoint}
    account: {peer.account}
    {secret[0]}: {env_prefix}_SECRET
    read_timeout_seconds: 20
"""
    if default:
        yaml += default_placement_yaml(name, container)
    return yaml, {f"{env_prefix}_SECRET": secret[1]}


def backend_config(name, peer, container, default=True):
    """The backend YAML for any peer: Azure test server or S3."""
    if hasattr(peer, "account_key"):
        return azure_backend_config(name, peer, container, default=default)
    return s3_backend_config(name, peer, container, default=default)


def sealed_gateway(backend, peer=None, container="passerelle-sealed"):
    """A gateway whose new datasets are sealed, on the local store (`peer` None) or on `peer`,
    with a fresh master key in its environment (`g.master_key`)."""
    master = base64.b64encode(os.urandom(32)).decode()
    if peer is None:
        config, env = "default_placement:\n  backend: local\n  layout: sealed\n", {}
    else:
        config, env = backend_config(backend, peer, peer.create_bucket(container), default=False)
        config += default_placement_yaml(backend, container) + "  layout: sealed\n"
    g = Gateway(config=config, env=dict(env, PASSERELLE_MASTER_KEY=master))
    g.master_key = master
    return g.start()


def awscli(g, *args):
    """Runs `aws --endpoint-url <g> ARGS` with the root credentials and path-style addressing,
    in a configuration of its own; returns the JSON it printed (None for no output, the text
    itself when it is not JSON, as `aws s3` prints)."""
    d = tempfile.mkdtemp(prefix="awscli-")
    cfg = os.path.join(d, "config")
    with open(cfg, "w") as f:
        f.write("[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_CONFIG_FILE=cfg,
               AWS_SHARED_CREDENTIALS_FILE=os.path.join(d, "none"))
    env.pop("AWS_PROFILE", None)
    p = subprocess.run(["aws", "--endpoint-url", g.endpoint, *args], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"aws {args}: {p.stdout}\n{p.stderr}"
    if not p.stdout.strip():
        return None
    try:
        return json.loads(p.stdout)
    except ValueError:
        return p.stdout
