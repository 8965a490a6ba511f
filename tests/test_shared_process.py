"""training/shared_process.py: train jobs handed to a warm trainer. The protocol with stand-in
jobs in a forked trainer (several jobs in one process, their lines relayed, a failure ending the
trainer, the idle end leaving nothing behind, Ctrl-C passed on, a killed job's script stopping
its run), a real trainer started from nothing, and the folder that keys trainers. The runs a
trainer trains equal the rule's bit for bit: tests/test_workflow.py."""

import multiprocessing
import os
import pickle
import re
import signal
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from snakemake.iocontainers import Namedlist
from snakemake.script import Snakemake

from unused_tokens.pipeline.study import Study
from unused_tokens.training import shared_process
from unused_tokens.training.shared_process import dial, hand_over, send, submit
from unused_tokens.training.train_job import train_stage

WAIT_S = 30  # a limit for what takes well under a second, not a speed bound


def until(condition, what):
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"waited {WAIT_S} s for {what}"
        time.sleep(0.02)


def start(folder, run, idle=shared_process.IDLE_S):
    """A trainer of slot 0 in `folder`, forked from this process, that runs jobs with `run`."""

    def trainer():
        shared_process.IDLE_S = idle
        shared_process.serve(folder, 0, run)

    process = multiprocessing.get_context("fork").Process(target=trainer)
    process.start()
    until(lambda: (folder / "slot0.sock").exists(), "the trainer to listen")
    return process


def job(tmp_path, name, **fields):
    return SimpleNamespace(name=name, log=[str(tmp_path / f"{name}.log")], **fields)


def talk(job, jobs):
    """A stand-in job: a line on the console, then the job's exit status."""
    print(f"job {job.name}: number {jobs} in process {os.getpid()}", file=sys.stderr)
    sys.exit(job.status)


def sleep_until_stopped(job, jobs):
    """A stand-in run that waits to be stopped, as training does, and says so."""
    Path(job.started).touch()
    try:
        time.sleep(WAIT_S)
    except KeyboardInterrupt:
        Path(job.stopped).write_text("stopped\n")
        print("stopped", file=sys.stderr)
        sys.exit(130)
    sys.exit(0)


@pytest.fixture
def folder(tmp_path):
    """A trainers folder deeper than a Unix socket's path may be long."""
    path = tmp_path / ("deep" * 30) / "trainers" / "key"
    path.mkdir(parents=True)
    return path


def test_one_trainer_takes_job_after_job_and_relays_their_lines(folder, tmp_path, capfd):
    trainer = start(folder, talk)
    assert submit(job(tmp_path, "a", status=0), folder) == 0
    assert submit(job(tmp_path, "b", status=0), folder) == 0
    lines = capfd.readouterr().err.splitlines()
    assert lines == [
        f"job a: number 1 in process {trainer.pid}",
        f"job b: number 2 in process {trainer.pid}",
    ]
    assert trainer.is_alive()
    trainer.terminate()  # SIGTERM between jobs: a clean end
    trainer.join(WAIT_S)
    assert trainer.exitcode == 0
    assert not folder.parent.exists()


def test_a_trainer_is_found_by_its_socket_only_once_it_listens(folder, tmp_path, capfd):
    def slow_to_listen():  # in the forked trainer: half a second between bind and listen
        listen = shared_process.socket.socket.listen

        def late(self, *args):
            time.sleep(0.5)
            return listen(self, *args)

        shared_process.socket.socket.listen = late
        shared_process.serve(folder, 0, talk)

    trainer = multiprocessing.get_context("fork").Process(target=slow_to_listen)
    trainer.start()
    until(lambda: (folder / "slot0.sock").exists(), "the trainer's socket")
    assert submit(job(tmp_path, "a", status=0), folder) == 0  # not refused, no second trainer
    assert capfd.readouterr().err.splitlines() == [f"job a: number 1 in process {trainer.pid}"]
    trainer.terminate()
    trainer.join(WAIT_S)
    assert trainer.exitcode == 0


def test_an_ending_trainer_leaves_another_trainers_socket(folder):
    trainer = start(folder, talk)
    (folder / "slot0.sock").unlink()  # as a job does that takes it for dead, which then starts
    (folder / "slot0.sock").write_text("another trainer's\n")  # a trainer of its own
    trainer.terminate()
    trainer.join(WAIT_S)
    assert trainer.exitcode == 0
    assert (folder / "slot0.sock").read_text() == "another trainer's\n"


def test_a_failed_job_gives_its_status_and_ends_the_trainer(folder, tmp_path):
    trainer = start(folder, talk)
    assert submit(job(tmp_path, "a", status=3), folder) == 3
    trainer.join(WAIT_S)
    assert trainer.exitcode == 0
    assert not (folder / "slot0.sock").exists()


def test_an_idle_trainer_ends_and_leaves_nothing_behind(folder, tmp_path):
    trainer = start(folder, talk, idle=0.2)
    assert submit(job(tmp_path, "a", status=0), folder) == 0
    trainer.join(WAIT_S)
    assert trainer.exitcode == 0
    assert not folder.parent.exists()


def test_a_signal_to_the_job_reaches_its_run_in_the_trainer(folder, tmp_path, capfd):
    stopping = job(
        tmp_path, "a", started=str(tmp_path / "started"), stopped=str(tmp_path / "stopped")
    )
    trainer = start(folder, sleep_until_stopped)

    def stop():
        until(lambda: Path(stopping.started).exists(), "the run to start")
        os.kill(os.getpid(), signal.SIGTERM)  # as a scheduler stops the job's script

    threading.Thread(target=stop, daemon=True).start()
    assert submit(stopping, folder) == 130
    assert Path(stopping.stopped).read_text() == "stopped\n"
    assert capfd.readouterr().err == "stopped\n"
    trainer.join(WAIT_S)
    assert trainer.exitcode == 0


def test_a_killed_job_script_stops_its_run(folder, tmp_path):
    stopping = job(
        tmp_path, "a", started=str(tmp_path / "started"), stopped=str(tmp_path / "stopped")
    )
    trainer = start(folder, sleep_until_stopped)
    conn = dial(folder / "slot0.sock")
    assert conn.makefile("rb").readline() == f'{{"pid": {trainer.pid}}}\n'.encode()
    send(conn, pickle.dumps(stopping))
    until(lambda: Path(stopping.started).exists(), "the run to start")
    conn.close()  # the script is gone: the trainer stops the run as SIGTERM would
    until(lambda: Path(stopping.stopped).exists(), "the run to stop")
    trainer.join(WAIT_S)
    assert trainer.exitcode == 0


def damaged_train_job(tmp_path, name, config):
    """A train job, as Snakemake hands it over, whose frequency table is damaged."""
    damaged = tmp_path / "frequency.parquet"
    damaged.write_bytes(b"not parquet")
    return Snakemake(
        input_=Namedlist(fromdict={"frequency": str(damaged)}),
        output=Namedlist(fromdict={"model": str(tmp_path / "model.pt")}),
        params=Namedlist(
            fromdict={
                "run": Study.from_config(config).run("baseline", 0).as_params(),
                "makers": {str(damaged): "count_tokens"},
            }
        ),
        wildcards=Namedlist(),
        threads=1,
        resources=Namedlist(),
        log=Namedlist(toclone=[str(tmp_path / f"{name}.log")]),
        config=config,
        rulename="train",
        bench_iteration=None,
    )


def test_a_real_trainer_starts_from_nothing_and_fails_as_the_job_would_alone(
    folder, tmp_path, default_config
):
    """The trainer that `python -m` starts (over the socket of a dead one) writes the job's log
    as the job's own process would, and passes its status on."""
    alone = damaged_train_job(tmp_path, "alone", default_config)
    with pytest.raises(SystemExit) as stop:
        train_stage(alone)
    assert stop.value.code == 1
    (folder / "slot0.sock").touch()  # no one listens
    shared = damaged_train_job(tmp_path, "shared", default_config)
    assert submit(shared, folder) == 1
    (first, *rest), expected = logged(shared), logged(alone)
    assert re.fullmatch(r"INFO in trainer process \d+, its job 1 \(runtime.shared_process\)", first)
    assert rest == expected
    damaged = f"ERROR {tmp_path / 'frequency.parquet'} is not a readable Parquet file"
    assert sum(line.startswith(damaged) for line in expected) == 1
    until(lambda: not (folder / "slot0.sock").exists(), "the failed trainer to end")


def logged(job):
    """The lines of a job's log without their times."""
    return [line.split(" ", 2)[2] for line in Path(job.log[0]).read_text().splitlines()]


def test_a_trainer_that_cannot_start_is_one_line_in_the_jobs_log(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", "/bin/false")
    monkeypatch.setattr(shared_process, "trainers_folder", lambda job: tmp_path / "trainers")
    (tmp_path / "trainers").mkdir()
    failed = job(tmp_path, "a")
    with pytest.raises(SystemExit) as stop:
        hand_over(failed)
    assert stop.value.code == 1
    assert Path(failed.log[0]).read_text() == (
        "train: the shared trainer process failed: the trainer ended at its start with status 1; "
        f"its output is in {tmp_path / 'trainers' / 'slot0.log'}; set runtime.shared_process: "
        "false to train in the job's own process\n"
    )


def test_trainers_are_keyed_by_helper_modules_and_torchs_environment(tmp_path, monkeypatch):
    monkeypatch.setattr(shared_process.tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    helpers = {"unused_tokens/training/train.py": "abc"}
    a_job = SimpleNamespace(params=SimpleNamespace(helpers=helpers))
    first = shared_process.trainers_folder(a_job)
    assert first.parent == tmp_path / f"unused-tokens-trainers-{os.getuid()}"
    assert first.is_dir() and first.parent.stat().st_mode & 0o777 == 0o700
    assert shared_process.trainers_folder(a_job) == first
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    other_device = shared_process.trainers_folder(a_job)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    helpers["unused_tokens/training/train.py"] = "abd"  # an edited module
    assert len({first, other_device, shared_process.trainers_folder(a_job)}) == 3


def test_a_trainers_folder_of_another_user_is_never_used(tmp_path, monkeypatch):
    """Made beforehand by another user (here: this process posing as user 4242), or open to
    others, or a link: refused in one line, nothing sent there."""
    monkeypatch.setattr(shared_process.tempfile, "tempdir", str(tmp_path))
    a_job = SimpleNamespace(params=SimpleNamespace(helpers={"a.py": "abc"}))
    owner = os.getuid()
    monkeypatch.setattr(shared_process.os, "getuid", lambda: 4242)
    theirs = tmp_path / "unused-tokens-trainers-4242"
    theirs.mkdir(mode=0o700)
    with pytest.raises(shared_process.NoTrainer) as err:
        shared_process.trainers_folder(a_job)
    assert str(err.value) == (
        f"{theirs} belongs to user {owner}, not to this user (4242), who could read the jobs "
        "handed there: remove it, or set TMPDIR to a folder of your own"
    )
    assert list(theirs.iterdir()) == []
    monkeypatch.setattr(shared_process.os, "getuid", lambda: owner)
    mine = tmp_path / f"unused-tokens-trainers-{owner}"
    mine.mkdir(mode=0o700)
    mine.chmod(0o755)
    with pytest.raises(shared_process.NoTrainer, match=r"may be entered by other users \(mode 755"):
        shared_process.trainers_folder(a_job)
    mine.rmdir()
    mine.symlink_to(theirs)
    with pytest.raises(shared_process.NoTrainer, match=r"is not a folder: remove it"):
        shared_process.trainers_folder(a_job)


def die(job, jobs):
    """A stand-in run whose trainer is killed under it."""
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_trainer_killed_during_the_job_asks_for_a_plain_rerun(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(shared_process, "trainers_folder", lambda job: folder)
    trainer = start(folder, die)
    killed = job(tmp_path, "a")
    with pytest.raises(SystemExit) as stop:
        hand_over(killed)
    trainer.join(WAIT_S)
    assert stop.value.code == 1
    assert re.fullmatch(
        r"train: the trainer process \d+ ended during the job without finishing it \(killed\?\); "
        r"the run's state is saved every runtime.checkpoint_every steps; run the same command "
        r"again to go on\n",
        Path(killed.log[0]).read_text(),
    )
