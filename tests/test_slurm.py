"""The SLURM profile against a real single-node Slurm, not a mock (see slurm_cluster.py).

A tiny study of two seeds, fine-tuning on, runs with `--profile profiles/slurm
--workflow-profile none` (the local profile's one-GPU cap must not rewrite cluster requests);
the test overlay is the account and partitions in the environment the profile and the workflow
read, and status checks timed to tiny jobs. Its training and fine-tuning jobs each get one GPU
in the GPU partition, two at a time on the node's two; every other job runs in the CPU
partition. Its outputs must equal those of a local run of the same config: the jobs use the
same thread counts (1), so the probe and training numbers are compared exactly, byte for byte.
"""

import os
import re
import shutil
import subprocess
import time

import pytest
from slurm_cluster import ACCOUNT, DAEMONS, GPU_PARTITION, PARTITION, SlurmCluster, missing

from conftest import (
    FINETUNE_OUTPUTS,
    PARQUET_OUTPUTS,
    book_text,
    copy_workflow,
    finetune_overlay,
    merged,
    prepare_run,
    second_book_text,
    snakemake,
)

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]

ENV = {
    "UNUSED_TOKENS_ACCOUNT": ACCOUNT,
    "UNUSED_TOKENS_PARTITION": PARTITION,
    "UNUSED_TOKENS_GPU_PARTITION": GPU_PARTITION,
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
RUNS = [f"runs/gpt2/baseline/seed{s}" for s in (0, 1)]
OUTPUTS = [
    *[p for p in PARQUET_OUTPUTS if not p.startswith("runs/")],
    *[
        f"{run}/{p.split('/', 4)[4]}"
        for run in RUNS
        for p in PARQUET_OUTPUTS
        if p.startswith("runs/")
    ],
    *FINETUNE_OUTPUTS,
]
GPU_RULES = ("train", "finetune")


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    """(local workdir, Slurm workdir, Slurm output, when the Slurm run started)."""
    alice = tmp_path_factory.mktemp("books") / "alice.txt"
    alice.write_text(second_book_text())
    study = merged(MATRIX, finetune_overlay(alice))
    local = prepare_run(tmp_path_factory.mktemp("local"), book_text(), study)
    snakemake(local)
    remote = prepare_run(tmp_path_factory.mktemp("remote"), book_text(), study)
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


def most_at_once(spans):
    """The most of the (start, end) `spans` that overlap at one moment (ISO times sort as
    text; a span that ends as another starts does not overlap it)."""
    edges = sorted([(end, -1) for _, end in spans] + [(start, 1) for start, _ in spans])
    running = most = 0
    for _, change in edges:
        running += change
        most = max(most, running)
    return most


def test_most_at_once_counts_overlapping_spans():
    spans = [("01", "05"), ("02", "04"), ("03", "06"), ("06", "07")]
    assert most_at_once(spans) == 3 and most_at_once(spans[3:]) == 1 and most_at_once([]) == 0


def test_each_run_trained_as_its_own_slurm_job_with_a_gpu_two_at_a_time(runs):
    """What the profile promises: each run its own job, one GPU each, and at most the node's
    two GPU jobs at once (whether two happen to overlap depends on how fast each job and the
    scheduler are: not asserted)."""
    jobs = sacct(runs[3], "JobID", "Comment", "State", "AllocTRES", "Start", "End")
    trains = [job for job in jobs if job["Comment"].startswith("rule_train_")]
    assert len(trains) == 2
    assert all(job["State"] == "COMPLETED" for job in trains)
    assert all("gres/gpu=1" in job["AllocTRES"] for job in trains)
    gpu_jobs = [job for job in jobs if "gres/gpu=" in job["AllocTRES"]]
    assert most_at_once([(job["Start"], job["End"]) for job in gpu_jobs]) <= 2
    rules = {job["Comment"].split("_wildcards_")[0] for job in jobs}
    assert {
        "rule_tokenize_corpus",
        "rule_probe_untrained",
        "rule_probe_vocab",
        "rule_report",
    } <= rules
    assert {"rule_aggregate"} <= rules
    assert not any(c.startswith("rule_download") for c in rules)  # localrules stay local
    log = (runs[1] / "results/e2e/runs/gpt2/baseline/seed1/logs/train.log").read_text()
    assert "WARNING no usable CUDA device: running on the CPU" in log  # the GPU is /dev/null


def test_the_gpu_rules_run_in_the_gpu_partition_and_every_other_job_in_the_cpu_one(runs):
    jobs = sacct(runs[3], "Comment", "Partition", "State", "AllocTRES")
    partitions = {}
    for job in jobs:
        rule = job["Comment"].split("_wildcards_")[0].removeprefix("rule_")
        partitions.setdefault(rule, set()).add(job["Partition"])
    assert {rule: partitions[rule] for rule in GPU_RULES} == dict.fromkeys(
        GPU_RULES, {GPU_PARTITION}
    )
    assert {"aggregate_finetune", "select_finetune_group", "report"} <= set(partitions)
    assert all(found == {PARTITION} for rule, found in partitions.items() if rule not in GPU_RULES)
    finetunes = [job for job in jobs if job["Comment"].startswith("rule_finetune_")]
    assert len(finetunes) == 3 * 2  # three arms, two seeds
    assert all(
        job["State"] == "COMPLETED" and "gres/gpu=1" in job["AllocTRES"] for job in finetunes
    )


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


def test_the_profile_plans_gpu_jobs_in_the_gpu_partition_without_a_cluster(tmp_path):
    """A dry run through the profile: the GPU rules ask for the GPU, its partition, the time and
    memory GPU_JOB gives (and a GPU model when one is named); every other job the CPU
    partition."""
    work = copy_workflow(tmp_path / "work")
    env = {**ENV, "UNUSED_TOKENS_GPU_MODEL": "a100"}
    overlays = ["config/offline.yaml", "config/smoke.yaml", "config/finetune.yaml"]
    _, output = snakemake(work, *PROFILE, "-np", "--configfile", *overlays, env=env)
    assert "warning: " not in output
    jobs = re.findall(r"^(?:local)?rule (\w+):\n(.*?)(?=^\[|\Z)", output, re.M | re.S)
    resources = {rule: re.search(r"resources: (.*)", block)[1] for rule, block in jobs}
    assert {"train", "finetune", "probe_vocab"} <= set(resources)
    gpu_job = {f"slurm_partition={GPU_PARTITION}", "gpu=1", "runtime=120", "mem_mb=16000"}
    for rule, line in resources.items():
        asked = set(line.split(", "))
        if rule in GPU_RULES:
            assert gpu_job | {"gpu_model=a100"} <= asked, (rule, line)
        elif rule not in ("download_corpus", "download_tokenizer", "library", "all"):
            assert f"slurm_partition={PARTITION}" in asked and "gpu=1" not in asked, (rule, line)


def test_the_profile_names_its_unset_variables_before_any_job(tmp_path, monkeypatch):
    """A dry run through the profile with none of its variables set: one warning, printed as
    the workflow is read, before any job (the values are passed on as written: sbatch would
    refuse them)."""
    work = copy_workflow(tmp_path / "work")
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    _, output = snakemake(work, *PROFILE, "-n", "--configfile", "config/offline.yaml")
    warnings = [line for line in output.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: UNUSED_TOKENS_ACCOUNT and UNUSED_TOKENS_PARTITION are not set, so the profile "
        "passes $UNUSED_TOKENS_ACCOUNT and $UNUSED_TOKENS_PARTITION on to the scheduler as "
        "written; UNUSED_TOKENS_GPU_PARTITION is not set, so the train and finetune jobs ask "
        "for a GPU in the profile's default partition, the CPU one: export them before running "
        "(docs/cluster.md)"
    ]
