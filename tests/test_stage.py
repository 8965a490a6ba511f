"""Every stage script logs why it failed: bad input in one line, a bug with its traceback."""

import errno
import os
import signal
import subprocess
import sys
from types import SimpleNamespace

import pytest

from conftest import ROOT
from unused_tokens.pipeline.errors import TERMINATED, PipelineError
from unused_tokens.pipeline.stage import stage


def fail_in_stage(tmp_path, error, code=1):
    log = tmp_path / "rule.log"
    job = SimpleNamespace(log=[log], rule="train", input=[], output=[tmp_path / "out"], params={})
    with pytest.raises(SystemExit) as exit_info, stage(job):
        raise error
    assert exit_info.value.code == code
    return log.read_text().splitlines()


def test_ctrl_c_at_any_point_is_one_line_never_a_traceback(tmp_path):
    lines = fail_in_stage(tmp_path, KeyboardInterrupt(), code=130)
    assert len(lines) == 1
    assert lines[0].endswith(
        " ERROR interrupted (Ctrl-C) in rule train before its outputs were written; run the same "
        "command again to go on"
    )


def test_bad_input_is_one_line_in_the_log(tmp_path):
    lines = fail_in_stage(tmp_path, PipelineError("corpus.sha256: no source matched; fix it"))
    assert len(lines) == 1
    assert lines[0].endswith(" ERROR corpus.sha256: no source matched; fix it")


def test_an_unexpected_exception_is_logged_with_its_traceback(tmp_path):
    lines = fail_in_stage(tmp_path, RuntimeError("CUDA graph output overwritten"))
    assert lines[0].endswith(
        " ERROR unexpected error in rule train: RuntimeError: CUDA graph output overwritten "
        "(the traceback follows; please report it with this log)"
    )
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "RuntimeError: CUDA graph output overwritten"


def test_a_full_disk_outside_the_atomic_writes_is_named(tmp_path):
    figure = tmp_path / "figures" / "training.png"
    lines = fail_in_stage(tmp_path, OSError(errno.ENOSPC, "No space left on device", str(figure)))
    assert f" ERROR cannot write {figure}: the disk holding it is full (" in lines[0]
    assert lines[1] == "Traceback (most recent call last):"


def test_sigterm_in_a_script_of_its_own_is_one_line(tmp_path):
    log = tmp_path / "rule.log"
    code = f"""
import os, signal, sys, time
from types import SimpleNamespace
from unused_tokens.pipeline.stage import stage
job = SimpleNamespace(log=[{str(log)!r}], rule="weights", input=[], output=[], params={{}})
with stage(job):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow" / "scripts")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60)
    assert done.returncode == TERMINATED == 143
    lines = log.read_text().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(
        " ERROR stopped by SIGTERM (a time limit, or a kill) in rule weights before its outputs "
        "were written; run the same command again to go on"
    )


def test_a_sigterm_handler_already_there_is_left_alone(tmp_path):
    def trainers_own(_signum, _frame):
        pass

    previous = signal.signal(signal.SIGTERM, trainers_own)
    try:
        job = SimpleNamespace(log=[tmp_path / "r.log"], rule="train", input=[], output=[])
        with stage(job):
            assert signal.getsignal(signal.SIGTERM) is trainers_own
        assert signal.getsignal(signal.SIGTERM) is trainers_own
    finally:
        signal.signal(signal.SIGTERM, previous)
