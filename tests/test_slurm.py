"""The SLURM profile against a real single-node Slurm, not a mock (see slurm_cluster.py).

A tiny study of two seeds runs with `--profile profiles/slurm
--workflow-profile none` (the local profile's one-GPU cap must not rewrite cluster requests);
the test overlay is the account and partitions in the environment the profile reads, and status
checks timed to tiny jobs. Its two training jobs each get one GPU, and run at the same time on
the node's two. Its outputs must equal those of a local run of the same config: the jobs use the
same thread counts (1), so the probe and training numbers are compared exactly, byte for byte.
"""

import os
import shutil
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
# The first status check 20 s after a submission, and every 20 s while jobs keep finishing: a
# tiny job takes 7-15 s here (Snakemake's start on the node included), and the plugin adds 10 s
# to the wait after each check that finds nothing finished.
OVERLAY = ["--slurm-init-seconds-before-status-checks", "20"]


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


MATRIX = {"seeds": [0, 1]}
RUNS = [f"runs/baseline/seed{s}" for s in (0, 1)]
OUTPUTS = [
    *[p for p in PARQUET_OUTPUTS if not p.startswith("runs/")],
    *[
        f"{run}/{p.split('/', 3)[3]}"
        for run in RUNS
        for p in PARQUET_OUTPUTS
        if p.startswith("runs/")
    ],
]


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    """(local workdir, Slurm workdir, Slurm output, when the Slurm run started)."""
    local = prepare_run(tmp_path_factory.mktemp("local"), book_text(), MATRIX)
    snakemake(local)
    remote = prepare_run(tmp_path_factory.mktemp("remote"), book_text(), MATRIX)
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    _, output = on_slurm(remote)
    return local, remote, output, started


def sacct(since, *fields):
    """The accounting records of the jobs submitted from `since` on (the database outlives a
    test run, so earlier runs' jobs are in it too)."""
    result = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", since, f"--format={','.join(fields)}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return [dict(zip(fields, line.split("|"), strict=True)) for line in result.stdout.splitlines()]


def test_each_run_trained_as_its_own_slurm_job_with_a_gpu_two_at_a_time(runs):
    jobs = sacct(runs[3], "JobID", "Comment", "State", "AllocTRES", "Start", "End")
    trains = [job for job in jobs if job["Comment"].startswith("rule_train_")]
    assert len(trains) == 2
    assert all(job["State"] == "COMPLETED" for job in trains)
    assert all("gres/gpu=1" in job["AllocTRES"] for job in trains)
    spans = sorted((job["Start"], job["End"]) for job in trains)  # ISO times sort as text
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))
    rules = {job["Comment"].split("_wildcards_")[0] for job in jobs}
    assert {"rule_tokenize", "rule_probe_untrained", "rule_probe_vocab", "rule_report"} <= rules
    assert {"rule_aggregate"} <= rules
    assert not any(c.startswith("rule_download") for c in rules)  # localrules stay local
    log = (runs[1] / "results/e2e/runs/baseline/seed1/logs/train.log").read_text()
    assert "WARNING no usable CUDA device: running on the CPU" in log  # the GPU is /dev/null


@pytest.mark.parametrize("path", OUTPUTS)
def test_outputs_equal_a_local_run(runs, path):
    local, remote = runs[:2]
    assert (remote / "results/e2e" / path).read_bytes() == (
        local / "results/e2e" / path
    ).read_bytes()


def test_an_impossible_gpu_request_fails_fast_with_slurms_reason(runs, tmp_path):
    """A copy of the finished study, its train jobs forced with 4 GPUs each (the node has 2):
    refused when submitted, before anything else runs."""
    work = tmp_path / "work"
    shutil.copytree(runs[1], work)
    started = time.monotonic()
    # mtime only: the copy's helper modules have other paths, which would rerun everything
    gpus = ["--forcerun", "train", "--config", "runtime={gpus: 4}", "--rerun-triggers", "mtime"]
    code, output = on_slurm(work, *gpus, check=False)
    assert code != 0
    assert "Requested node configuration is not available" in output
    assert time.monotonic() - started < 180


def test_the_daemons_are_stopped_afterwards(cluster, runs):
    cluster.stop()
    assert cluster.running() == []
    for daemon in DAEMONS:
        assert subprocess.run(["pgrep", "-x", daemon], capture_output=True).returncode == 1, daemon
