"""Interruptions and repetition, provoked for real through snakemake: a killed or Ctrl-C'd
training resumes bit-identically, a killed Snakemake recovers with --unlock and a plain rerun,
a second run in the same directory is refused, and the same config gives the same bytes."""

import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from conftest import (
    HANG_S,
    PARQUET_OUTPUTS,
    RUN,
    book_text,
    prepare_run,
    results,
    run_results,
    snakemake,
    temp_files,
)

pytestmark = pytest.mark.workflow

# Long enough to be stopped part-way: the tests wait for step KILL_AT (a progress line, or the
# state saved there), then stop it while over a hundred steps are left.
STEPS, KILL_AT = 160, 40
LONG = {"train": {"steps": STEPS}, "runtime": {"checkpoint_every": 20, "log_every": 20}}
PARQUET_TARGETS = [f"results/e2e/{path}" for path in PARQUET_OUTPUTS]  # all but the report


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of the LONG config, to its Parquet outputs."""
    work = prepare_run(tmp_path_factory.mktemp("reference"), book_text(), LONG)
    snakemake(work, targets=PARQUET_TARGETS)
    return work


def start_snakemake(workdir, cores=2, session=False):
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        str(cores),
        "--configfile",
        "config/test.yaml",
    ]
    return subprocess.Popen(
        cmd,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=session,  # its own process group, as a terminal's foreground job
    )


def wait_for(condition, timeout=HANG_S):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_killed_training_resumes_bit_identically(reference, tmp_path):
    work = prepare_run(tmp_path, book_text(), LONG)
    resume = run_results(work) / "train/resume.pt"
    run = start_snakemake(work)

    def saved_step():
        try:
            return torch.load(resume)["next_step"] if resume.exists() else 0
        except (EOFError, RuntimeError, FileNotFoundError):
            return 0

    wait_for(lambda: saved_step() >= KILL_AT)
    script = f"{work}/.snakemake/scripts/.*[.]train[.]py"
    found = subprocess.run(["pgrep", "-f", script], capture_output=True, text=True).stdout.split()
    assert len(found) == 1, found
    subprocess.run(["kill", "-KILL", found[0]], check=True)
    output, _ = run.communicate(timeout=HANG_S)
    assert run.returncode != 0, output
    assert not (run_results(work) / "train/training_log.parquet").exists()
    assert resume.exists()
    killed_at = saved_step()
    assert KILL_AT <= killed_at < STEPS

    snakemake(work, "--until", "train")  # what comes after training is not the point here
    log = (run_results(work) / "logs/train.log").read_text()
    assert f"resuming at step {killed_at} from results/e2e/{RUN}/train/resume.pt" in log
    assert not resume.exists()
    got = pd.read_parquet(run_results(work) / "train/training_log.parquet")
    assert got.equals(pd.read_parquet(run_results(reference) / "train/training_log.parquet"))
    a = torch.load(run_results(work) / "train/model.pt")["model"]
    b = torch.load(run_results(reference) / "train/model.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in b)


@pytest.mark.parametrize("shared", [False, True], ids=["own process", "shared trainer"])
def test_ctrl_c_stops_training_at_once_and_the_rerun_goes_on_from_where_it_stopped(
    reference, tmp_path, shared
):
    """Ctrl-C (SIGINT to the whole foreground process group) with no periodic saves at all; with
    runtime.shared_process, the job's script passes it on to the trainer running its run."""
    no_saves = {**LONG["runtime"], "checkpoint_every": 0, "shared_process": shared}
    work = prepare_run(tmp_path, book_text(), {**LONG, "runtime": no_saves})
    train_log = run_results(work) / "logs/train.log"
    run = start_snakemake(work, session=True)
    wait_for(lambda: train_log.exists() and f"step {KILL_AT}/{STEPS}" in train_log.read_text())
    os.killpg(run.pid, signal.SIGINT)
    output, _ = run.communicate(timeout=HANG_S)
    assert run.returncode != 0, output
    # Left undone where it came before the step's update, else after that update.
    stopped = re.search(
        r"interrupted by SIGINT (during|at) step (\d+)(?:, which is left undone)?: the training "
        r"state is saved to (\S+); run the same command again to go on from step (\d+)",
        train_log.read_text(),
    )
    assert stopped, train_log.read_text()
    step, next_step = int(stopped[2]), int(stopped[4])
    assert KILL_AT <= step < STEPS
    assert next_step == (step if stopped[1] == "during" else step + 1)
    assert stopped[3] == f"results/e2e/{RUN}/train/resume.pt"
    assert torch.load(work / stopped[3])["next_step"] == next_step

    snakemake(work, "--until", "train")
    log = train_log.read_text()
    assert f"resuming at step {next_step} from results/e2e/{RUN}/train/resume.pt" in log
    got = pd.read_parquet(run_results(work) / "train/training_log.parquet")
    assert got.equals(pd.read_parquet(run_results(reference) / "train/training_log.parquet"))
    trainers = re.findall(r"in trainer process (\d+), its job 1 ", log)
    assert len(trainers) == shared  # the interrupted trainer ended; the rerun started another
    for pid in trainers:
        os.kill(int(pid), signal.SIGTERM)  # rather than wait a minute for its idle end


def test_after_snakemake_itself_is_killed_unlock_and_a_plain_rerun_recover(tmp_path):
    """SIGKILL to the whole process group mid-training (a power cut): Snakemake cannot clean
    up, its lock and the incomplete marks stay; `--unlock`, then a plain run remakes what was
    under way, with no temporaries left."""
    work = prepare_run(tmp_path, book_text(), LONG)
    train_log = run_results(work) / "logs/train.log"
    run = start_snakemake(work, session=True)
    wait_for(lambda: train_log.exists() and f"step {KILL_AT}/{STEPS}" in train_log.read_text())
    os.killpg(run.pid, signal.SIGKILL)
    run.communicate(timeout=HANG_S)
    incomplete = work / ".snakemake" / "incomplete"
    assert any(incomplete.iterdir())  # what the kill left marked
    snakemake(work, "--unlock")
    _, output = snakemake(work, "--until", "train")
    assert "IncompleteFilesException" not in output
    assert (run_results(work) / "train/training_log.parquet").exists()
    assert temp_files(work) == []


def test_same_config_twice_gives_identical_parquet_and_model_bytes(reference, tmp_path):
    """So that file hashes show a run reproduced (model.pt held its temporary name before)."""
    work = prepare_run(tmp_path, book_text(), LONG)
    snakemake(work, targets=PARQUET_TARGETS)
    for path in [*PARQUET_OUTPUTS, f"{RUN}/train/model.pt"]:
        assert (results(work) / path).read_bytes() == (results(reference) / path).read_bytes(), path


def test_a_concurrent_run_in_the_same_directory_is_refused(tmp_path):
    work = prepare_run(tmp_path, book_text(), LONG)
    first = start_snakemake(work, cores=1)  # one job at a time: only the training is under way
    try:
        wait_for(lambda: (run_results(work) / "train/resume.pt").exists())
        code, output = snakemake(work, check=False)
        assert code != 0
        assert "Error: Directory cannot be locked." in output
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=HANG_S)
