"""Migration plans: `migrate run plan.yaml` drives waves of datasets to their targets
(resumable, --dry-run), and the backfill imports objects written straight to the source."""
import subprocess

from gateway import BINARY
from migration import SOURCE_CONTAINER, TARGET_CONTAINER, body, check_state, cli, client, migration_gateway, populate


def test_plan_runs_waves_and_imports_objects_written_behind_the_gateway(azure, seaweedfs):
    g = migration_gateway(azure, seaweedfs, "waveone").start()
    try:
        c = client(g)
        c.create_bucket(Bucket="wavetwo")
        expected_one = populate(g, "waveone", 30)
        expected_two = {f"k{i}": 0 for i in range(10)}
        for k in expected_two:
            c.put_object(Bucket="wavetwo", Key=k, Body=body(k, 0))
        # Written to Azure directly, never through the gateway: found by listing and imported.
        for k in ["behind/a", "behind/b"]:
            azure.write_direct(SOURCE_CONTAINER, f"waveone/{k}", body(k, 0))
            expected_one[k] = 0
        plan = f"""
defaults: {{mode: journaled, verify: full, cutover: manual}}
waves:
  - name: first
    datasets:
      - dataset: waveone
        target: {{backend: sw, bucket: {TARGET_CONTAINER}, prefix: waveone/, layout: sealed}}
        cutover: auto
        retire: true
        bandwidth: 20MiB
  - name: second
    datasets:
      - dataset: wavetwo
        target: {{backend: sw, bucket: {TARGET_CONTAINER}, prefix: wavetwo/}}
        mode: sync
"""
        path = g.data_dir + "/plan.yaml"
        open(path, "w").write(plan)
        dry = cli(g, "migrate", "run", path, "--dry-run").stdout
        assert "waveone: now legacy; next: start" in dry and "stop at verified" in dry, dry
        assert cli(g, "dataset", "phase", "waveone").stdout.strip() == "legacy"

        run = cli(g, "migrate", "run", path, "--interval", "0.2")
        out = run.stdout
        assert "waveone: mirroring to" in out and "waveone: verification clean" in out and "waveone: source retired" in out, out
        assert "waiting for `passerelle migrate cutover` of wavetwo" in out, out
        assert cli(g, "dataset", "phase", "waveone").stdout.strip() == "retired"
        assert cli(g, "dataset", "phase", "wavetwo").stdout.strip() == "verified"
        assert "2 imported" in cli(g, "migrate", "status", "waveone").stdout
        check_state(g, "waveone", expected_one)
        check_state(g, "wavetwo", expected_two)
        # Native target: wavetwo's objects under their own names on SeaweedFS.
        assert sorted(seaweedfs.list_direct(TARGET_CONTAINER, "wavetwo/")) == sorted(f"wavetwo/{k}" for k in expected_two)
        # Running the plan again resumes: nothing left to do but the operator's cutover.
        again = cli(g, "migrate", "run", path, "--interval", "0.2").stdout
        assert "mirroring to" not in again, again

        # A plan that does not parse is refused with the reason.
        open(path, "w").write("waves: [{datasets: [{dataset: waveone, target: {backend: sw}, mode: eventually}]}]")
        bad = cli(g, "migrate", "run", path, check=False)
        assert bad.returncode != 0 and "does not parse" in bad.stderr
        # Bad commands are refused with a clear message.
        for args, want in [(["migrate", "start", "nope", "--backend", "sw"], "no dataset named 'nope'"),
                           (["migrate", "start", "wavetwo", "--backend", "sw", "--container", TARGET_CONTAINER], "already migrating"),
                           (["migrate", "rollback", "wavetwo"], "only a dataset in cutover"),
                           (["migrate", "start", "waveone", "--backend", "nowhere", "--container", "x"], "cannot be used"),
                           (["migrate", "start", "waveone", "--backend", "sw", "--mode", "eventually"], "--mode")]:
            r = cli(g, *args, check=False)
            assert r.returncode != 0 and want in r.stderr, (args, r.stdout, r.stderr)
    finally:
        g.cleanup()
