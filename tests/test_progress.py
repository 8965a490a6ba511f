"""The CPU guard on a loaded machine: the load is measured and named, and never stops a run."""

import logging
import re
import time

import pytest

from unused_tokens.pipeline import schemas
from unused_tokens.pipeline.errors import PipelineError
from unused_tokens.training import progress as progress_module
from unused_tokens.training.progress import (
    CpuLimit,
    CpuSample,
    Load,
    Progress,
    busy_seconds,
    over_the_limit,
)


@pytest.mark.parametrize(
    ("load", "got", "competing"),
    [
        (Load(own=2.0, others=0.05, threads=2, cores=2), 1.0, False),  # an idle machine
        (Load(own=0.5, others=1.5, threads=2, cores=2), 0.25, True),  # two busy processes
        (Load(own=1.0, others=1.0, threads=1, cores=2), 1.0, False),  # a neighbour on the spare
        (Load(own=1.0, others=1.0, threads=4, cores=4), 1.0, False),  # cores to spare
        (Load(own=1.2, others=2.8, threads=4, cores=4), 0.3, True),
        (Load(own=0.5, others=None, threads=2, cores=2), 1.0, False),  # no /proc/stat
    ],
    ids=["idle", "loaded", "one-thread-beside-one", "cores-to-spare", "four-cores", "unknown"],
)
def test_the_part_of_the_cores_a_run_got(load, got, competing):
    assert load.got == pytest.approx(got)
    assert load.competing is competing
    assert load.share == pytest.approx(got if competing else 1.0)


def test_a_sample_pair_gives_cores_worth_of_cpu():
    earlier, later = CpuSample(10.0, 1.0, 100.0), CpuSample(12.0, 2.0, 104.0)
    assert later.since(earlier) == pytest.approx((0.5, 1.5))
    assert CpuSample(12.0, 2.0, None).since(CpuSample(10.0, 1.0, None)) == (0.5, None)
    assert later.since(CpuSample(10.0, 1.0, 104.0))[1] == 0.0  # never below zero


def test_a_sample_reads_the_busy_time_of_the_cores_this_process_may_use(monkeypatch, tmp_path):
    stat = tmp_path / "stat"
    stat.write_text(
        "cpu  300 0 60 900 7 3 2 10 0 0\n"  # all cores together: not read
        "cpu0 100 5 20 450 3 1 1 5 0 0\n"
        "cpu1 200 0 40 450 4 2 1 5 0 0\n"
        "intr 12345 0 0\n"
    )
    monkeypatch.setattr(progress_module, "PROC_STAT", stat)
    hz = progress_module.os.sysconf("SC_CLK_TCK")
    cpu0, cpu1 = 100 + 5 + 20 + 1 + 1 + 5, 200 + 40 + 2 + 1 + 5  # idle and iowait left out
    assert busy_seconds({0, 1}) == pytest.approx((cpu0 + cpu1) / hz)
    assert busy_seconds({1}) == pytest.approx(cpu1 / hz)
    monkeypatch.setattr(progress_module, "usable_cores", lambda: {1})
    assert CpuSample.now(1.0).machine == pytest.approx(cpu1 / hz)
    monkeypatch.setattr(progress_module, "PROC_STAT", tmp_path / "absent")
    assert busy_seconds({0, 1}) is None and CpuSample.now(1.0).machine is None


LOADED = Load(own=0.5, others=1.5, threads=2, cores=2)


def test_the_stop_names_the_load_and_the_estimate_without_it():
    message = over_the_limit(4000, 1000, LOADED, CpuLimit(0.5, runs=3), per_step=4)
    assert message.startswith(
        "training would take about 3:20:00 on this CPU (3 runs of about 1:06:40 at 4.00 s per "
        "step), 0:50:00 "
        "without the other processes (other processes used 1.5 of the 2 cores this run may use "
        "while it was measured, the run itself 0.5 with its 2 threads (load average "
    )
    assert message.endswith(
        "), over "
        "runtime.cpu_limit_hours=0.5: add config/smoke.yaml to your --configfile list for the "
        "quick version (minutes), use a GPU, or rerun with --config 'runtime={cpu_limit_hours: "
        "0}' to train anyway"
    )


def test_the_stop_does_not_suggest_the_quick_overlay_to_a_study_that_uses_it():
    idle = Load(own=2.0, others=0.0, threads=2, cores=2)
    assert over_the_limit(4000, 4000, idle, CpuLimit(1, runs=2, quick=True), per_step=0.5) == (
        "training would take about 2:13:20 on this CPU (2 runs of about 1:06:40 at 0.50 s per "
        "step), over runtime.cpu_limit_hours=1 although the study already uses config/smoke.yaml, "
        "so this CPU is too slow or too busy for it: use a GPU or rerun with --config "
        "'runtime={cpu_limit_hours: 0}' to train anyway"
    )


def estimating(monkeypatch, load):
    """A Progress at its estimating step, 1 s per step over 1,000 steps (about 1,004 s), with
    `load` measured since it started."""
    progress = Progress(0, 1003, tokens_per_step=1, log_every=10)
    now = time.perf_counter()
    progress.started, progress.first_done = now - 4, now - 3
    progress.start_sample = CpuSample(now - 4, 0.0, 0.0)
    busy = (load.own + load.others) * 4
    sample = CpuSample(now, load.own * 4, busy)
    monkeypatch.setattr(CpuSample, "now", classmethod(lambda cls, wall: sample))
    monkeypatch.setattr(progress_module, "usable_cores", lambda: set(range(load.cores)))
    return progress


def test_a_loaded_run_within_the_limit_without_the_load_goes_on(monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    progress = estimating(monkeypatch, LOADED)  # 3 runs: 50 min, 12.5 min without the load
    progress.check_estimate(3, "cpu", CpuLimit(0.5, runs=3, quick=True), threads=2)
    assert "the study's 3 runs about 0:50:1" in caplog.text
    assert (
        "the estimate was slowed by other processes: other processes used 1.5 of the 2 cores "
        "this run may use while it was measured, the run itself 0.5 with its 2 threads"
        in caplog.text
    )
    assert "without them the study's runs would take about 0:12:3" in caplog.text


def test_a_run_over_the_limit_even_without_the_load_stops_naming_it(monkeypatch):
    progress = estimating(monkeypatch, LOADED)
    with pytest.raises(PipelineError) as err:
        progress.check_estimate(3, "cpu", CpuLimit(0.1, runs=3, quick=True), threads=2)
    assert "without the other processes (other processes used 1.5 of the 2 cores" in str(err.value)
    assert (
        "although the study already uses config/smoke.yaml, so this CPU is too slow or too "
        "busy" in str(err.value)
    )
    assert "add config/smoke.yaml" not in str(err.value)


def test_an_idle_run_is_held_to_its_wall_clock(monkeypatch, caplog):
    progress = estimating(monkeypatch, Load(own=2.0, others=0.0, threads=2, cores=2))
    with pytest.raises(PipelineError, match=r"^training would take about 0:50:1\d on this CPU"):
        progress.check_estimate(3, "cpu", CpuLimit(0.5, runs=3), threads=2)
    assert "slowed by other processes" not in caplog.text


def after_the_first_step(monkeypatch, seconds):
    """A Progress of 1,000 steps whose first step took `seconds` on an idle machine."""
    progress = Progress(0, 1000, tokens_per_step=1, log_every=10)
    now = time.perf_counter()
    progress.started = progress.first_done = now - seconds
    progress.start_sample = CpuSample(now - seconds, 0.0, 0.0)
    sample = CpuSample(now, 2.0 * seconds, 2.0 * seconds)
    monkeypatch.setattr(CpuSample, "now", classmethod(lambda cls, wall: sample))
    monkeypatch.setattr(progress_module, "usable_cores", lambda: {0, 1})
    return progress


def test_a_study_far_over_the_limit_stops_after_its_first_step(monkeypatch, caplog):
    """3 runs of 1,000 steps, the first step 8 s: at 4 s a step (half of it, for the warm-up)
    the study takes 3:20:00, over a 3-hour limit."""
    progress = after_the_first_step(monkeypatch, 8)
    with pytest.raises(PipelineError) as err:
        progress.check_estimate(0, "cpu", CpuLimit(3, runs=3), threads=2)
    assert str(err.value).startswith(
        "training would take at least about 3:20:00 on this CPU (3 runs of about 1:06:40 at 4.00 "
        "s per step, 1/2 of the first step's time), over runtime.cpu_limit_hours=3: add "
        "config/smoke.yaml"
    )
    assert "estimate:" not in caplog.text  # the estimate proper comes after ESTIMATE_AFTER steps


@pytest.mark.parametrize(("seconds", "limit"), [(5, 3), (8, 0)], ids=["within-at-half", "no-limit"])
def test_a_first_step_within_the_limit_at_half_its_time_waits_for_the_estimate(
    monkeypatch, seconds, limit
):
    """A first step of 5 s: 3 runs at 2.5 s a step take 2:05:00, under 3 hours (at the full 5 s
    they would be over): the estimate after the next steps decides. With no limit, no stop."""
    progress = after_the_first_step(monkeypatch, seconds)
    progress.check_estimate(0, "cpu", CpuLimit(limit, runs=3), threads=2)
    progress.check_estimate(0, "cuda", CpuLimit(1e-6, runs=3), threads=2)  # never on a GPU


def test_a_step_longer_than_the_interval_gets_heartbeat_lines(caplog):
    caplog.set_level(logging.INFO)
    progress = Progress(0, 3, tokens_per_step=64, log_every=100, interval_s=0.2)

    def beats():
        return [r.getMessage() for r in caplog.records if "under way" in r.getMessage()]

    with progress.heartbeat():
        progress.begin(0)  # a first step that compiles: it takes intervals, however long
        deadline = time.monotonic() + 60  # a limit against a hang, not a speed bound
        while len(beats()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        progress.report(0, [1.0] * len(schemas.LOG_ROW))
        during = beats()
        progress.interval_s = 60  # from here, a step well within the interval
        progress.begin(1)
        progress.report(1, [1.0] * len(schemas.LOG_ROW))  # a quick step: no heartbeat
    line = r"step 0/3 under way for 0:00:\d\d \(the first step warms up\)"
    assert len(during) >= 2 and all(re.fullmatch(line, b) for b in during), during
    assert beats() == during
