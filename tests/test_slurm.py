"""The SLURM profile against a real single-node Slurm, not a mock (see slurm_cluster.py).

The smoke-sized pipeline runs with `--profile profiles/slurm --workflow-profile none` (the
local profile's one-GPU cap must not rewrite cluster requests); the test overlay is the account
and partitions in the environment the profile reads, and a short first status check. Its
outputs must equal those of a local run of the same config: the jobs use the same thread
counts (1), so the probe and training numbers are compared exactly, byte for byte.
"""

import os
import subprocess
import time

import pytest
from slurm_cluster import ACCOUNT, DAEMONS, PARTITION, SlurmCluster, missing

from conftest import PARQUET_OUTPUTS, book_text, prepare_run, snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]

ENV = {
    "UNUSED_TOKENS_ACCOUNT": ACCOUNT,
    "UNUSED_TOKENS_PARTITION": PARTITION,
    "UNUSED_TOKENS_GPU_PARTITION": PARTITION,
}
PROFILE = ["--profile", "profiles/slurm", "--workflow-profile", "none"]
OVERLAY = ["--slurm-init-seconds-before-status-checks", "2"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = missing()
    if reason:
        if os.environ.get("UNUSED_TOKENS_REQUIRE_SLURM") == "1":
            pytest.fail(f"Slurm test cluster: {reason} (UNUSED_TOKENS_REQUIRE_SLURM=1)")
        pytest.skip(f"Slurm test cluster: {reason}")
    slurm = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        slurm.start()
        yield slurm
    finally:
        slurm.stop()


def on_slurm(workdir, *args, check=True):
    return snakemake(workdir, *PROFILE, *OVERLAY, *args, check=check, env=ENV)


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    local = prepare_run(tmp_path_factory.mktemp("local"), book_text())
    snakemake(local)
    remote = prepare_run(tmp_path_factory.mktemp("remote"), book_text())
    _, output = on_slurm(remote)
    return local, remote, output


def sacct(*fields):
    result = subprocess.run(
        ["sacct", "-X", "-n", "-P", f"--format={','.join(fields)}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return [dict(zip(fields, line.split("|"), strict=True)) for line in result.stdout.splitlines()]


def test_training_ran_as_a_slurm_job_with_a_gpu(runs):
    jobs = {job["Comment"]: job for job in sacct("JobID", "Comment", "State", "AllocTRES")}
    train = jobs["rule_train"]
    assert train["State"] == "COMPLETED"
    assert "gres/gpu=1" in train["AllocTRES"]
    assert {"rule_tokenize", "rule_probe_untrained", "rule_probe_vocab", "rule_report"} <= set(jobs)
    assert not any(c.startswith("rule_download") for c in jobs)  # localrules stay local
    log = (runs[1] / "results/e2e/logs/train.log").read_text()
    assert "WARNING no usable CUDA device: training on the CPU" in log  # the GPU is /dev/null


@pytest.mark.parametrize("path", PARQUET_OUTPUTS)
def test_outputs_equal_a_local_run(runs, path):
    local, remote, _ = runs
    assert (remote / "results/e2e" / path).read_bytes() == (
        local / "results/e2e" / path
    ).read_bytes()


def test_an_impossible_gpu_request_fails_fast_with_slurms_reason(runs, tmp_path):
    work = prepare_run(tmp_path, book_text(), {"train": {"gpus": 4}})
    started = time.monotonic()
    code, output = on_slurm(work, check=False)
    assert code != 0
    assert "Requested node configuration is not available" in output
    assert time.monotonic() - started < 180


def test_the_daemons_are_stopped_afterwards(cluster, runs):
    cluster.stop()
    assert cluster.running() == []
    for daemon in DAEMONS:
        assert subprocess.run(["pgrep", "-x", daemon], capture_output=True).returncode == 1, daemon
