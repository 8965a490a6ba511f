"""Every stage script logs why it failed: bad input in one line, a bug with its traceback."""

from types import SimpleNamespace

import pytest

from unused_tokens.errors import PipelineError
from unused_tokens.stage import stage


def fail_in_stage(tmp_path, error):
    log = tmp_path / "rule.log"
    with pytest.raises(SystemExit) as exit_info, stage(SimpleNamespace(log=[log], rule="train")):
        raise error
    assert exit_info.value.code == 1
    return log.read_text().splitlines()


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
