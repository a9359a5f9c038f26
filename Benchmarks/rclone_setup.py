"""rclone remotes for the benchmarks: `sw` (the S3 peer) and `cry` (a crypt remote over `sw`)."""
import base64
import os
import subprocess


def write_config(peer, workdir, crypt_remote):
    """Writes rclone.conf in `workdir`; returns (path, environment without AWS_CA_BUNDLE)."""
    conf = os.path.join(workdir, "rclone.conf")
    password = subprocess.run(["rclone", "obscure", base64.b64encode(os.urandom(24)).decode()],
                              check=True, capture_output=True, text=True).stdout.strip()
    with open(conf, "w") as f:
        f.write(f"""[sw]
type = s3
provider = Other
endpoint = {peer.endpoint}
access_key_id = {peer.access_key}
secret_access_key = {peer.secret_key}
region = us-east-1
force_path_style = true

[cry]
type = crypt
remote = sw:{crypt_remote}
password = {password}
filename_encryption = standard
""")
    return conf, {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
