"""A quick study on a loaded machine: busy processes compete for its cores while it trains.

The study finishes, its train log names the load, and the CPU guard's stop, where the limit is
tiny, says that the study already uses the quick overlay instead of telling the user to add it.
"""

import contextlib
import os
import subprocess
import sys

import pytest

from conftest import book_text, prepare_run, run_results, snakemake

pytestmark = pytest.mark.workflow

QUICK = ["--configfile", "config/smoke.yaml", "config/test.yaml"]  # test.yaml: the tiny model
CORES = set(sorted(os.sched_getaffinity(0))[:2])  # the study's and the busy processes' cores
GROUPS = "results/e2e/data/groups/gpt2.parquet"  # everything training needs
TRAINED = "results/e2e/runs/gpt2/baseline/seed0/train/training_log.parquet"


@contextlib.contextmanager
def on_cores(cores):
    """This process, and every process it starts, on `cores` only."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@contextlib.contextmanager
def busy_processes(count):
    """`count` processes that spin on the CPU until the block ends."""
    spinning = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for process in spinning:
            process.kill()
            process.wait()


def test_a_quick_study_under_load_finishes_and_its_log_names_the_load(tmp_path):
    # The guard on at its default limit, two training threads: beside a busy process on each of
    # their two cores they get about half of them (less where other work runs there too).
    overlay = {"runtime": {"cpu_limit_hours": 1, "train_threads": 2}}
    work = prepare_run(tmp_path, book_text(), overlay)
    snakemake(work, *QUICK, targets=[GROUPS])
    with on_cores(CORES), busy_processes(len(CORES)):
        snakemake(work, *QUICK, targets=[TRAINED])
        log = (run_results(work) / "logs/train.log").read_text()
        assert "the estimate was slowed by other processes: other processes used " in log, log
        assert "the run itself " in log and " with its 2 threads (load average " in log

        tiny_limit = ["--config", "runtime={cpu_limit_hours: 0.000001}", "--forcerun", "train"]
        code, output = snakemake(work, *QUICK, *tiny_limit, targets=[TRAINED], check=False)
    assert code != 0
    stop = (run_results(work) / "logs/train.log").read_text().splitlines()[-1]
    # after its first steady step, step 1: the first step never decides alone
    assert "ERROR training would take about" in stop and "over 1 steady step" in stop, output
    assert "without the other processes (other processes used" in stop
    assert (
        "although the study already uses config/smoke.yaml, so this CPU is too slow or too busy "
        "for it: use a GPU or rerun with" in stop
    )
    assert "add config/smoke.yaml" not in stop
