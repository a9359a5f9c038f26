"""Throwaway PostgreSQL 15 clusters for the CDC tests (Debian's postgresql-15, installed by
scripts/install-test-deps.sh): initdb in a temporary directory, TCP on a free loopback port,
wal_level=logical, TLS with a self-signed certificate (so sslmode=verify-full is exercised),
superuser `passerelle` with a password. As root, the server runs as the `postgres` user."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

from peers import free_port_block, wait_for

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
PASSWORD = "cdc-secret"


def _as_server_user():
    if os.geteuid() != 0:
        return []
    if subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--user-group", "--home-dir", "/var/lib/postgresql", "postgres"], check=True)
    return ["runuser", "-u", "postgres", "--"]


class PostgresCluster:
    def __init__(self, name, tls=True):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"pg-{name}-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port_block(1)
        self.tls = tls
        self.runas = _as_server_user()
        if self.runas:
            shutil.chown(self.dir, "postgres", "postgres")
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(PASSWORD + "\n")
        if self.runas:
            shutil.chown(pwfile, "postgres", "postgres")
        subprocess.run(self.runas + [f"{PG_BIN}/initdb", "-D", self.data, "-U", "passerelle", f"--pwfile={pwfile}", "-E", "UTF8",
                                     "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256"],
                       check=True, capture_output=True)
        os.unlink(pwfile)
        conf = [f"port = {self.port}", "listen_addresses = '127.0.0.1'", f"unix_socket_directories = '{self.dir}'",
                "wal_level = logical", "max_replication_slots = 16", "max_wal_senders = 16", "fsync = off",
                "full_page_writes = off", "max_connections = 200", "log_min_messages = warning"]
        if tls:
            self.ca = os.path.join(self.dir, "server.crt")
            key = os.path.join(self.data, "server.key")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", self.ca],
                           check=True, capture_output=True)
            shutil.copy(self.ca, os.path.join(self.data, "server.crt"))
            if self.runas:
                for f in (key, os.path.join(self.data, "server.crt")):
                    shutil.chown(f, "postgres", "postgres")
            os.chmod(key, 0o600)
            conf += ["ssl = on", "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'"]
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n" + "\n".join(conf) + "\n")
        if self.runas:
            shutil.chown(os.path.join(self.data, "postgresql.conf"), "postgres", "postgres")

    def url(self, user="passerelle", password=PASSWORD, db="passerelle", verify=True):
        u = f"postgres://{user}:{password}@127.0.0.1:{self.port}/{db}"
        if self.tls and verify:
            u += f"?sslmode=verify-full&sslrootcert={self.ca}"
        return u

    def start(self):
        subprocess.run(self.runas + [f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w", "-t", "60", "start"],
                       check=True, capture_output=True)
        wait_for(lambda: self.psql("select 1", db="postgres").strip() == "1", 30, f"postgres {self.name}")
        if self.psql("select 1 from pg_database where datname = 'passerelle'", db="postgres").strip() != "1":
            self.psql("create database passerelle", db="postgres")
        return self

    def psql(self, sql, db="passerelle", check=True, stdin=None):
        env = dict(os.environ, PGPASSWORD=PASSWORD)
        r = subprocess.run([f"{PG_BIN}/psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
                            "-U", "passerelle", "-d", db, "-c", sql], env=env, capture_output=True, text=True, input=stdin)
        if check and r.returncode != 0:
            raise RuntimeError(f"psql on {self.name}: {r.stderr}")
        return r.stdout if check else r

    def pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def stop(self, mode="fast"):
        subprocess.run(self.runas + [f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", mode, "-w", "stop"], capture_output=True)

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
