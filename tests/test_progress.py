"""The CPU guard: it decides from steady steps, apart from the first step, steps that compiled
and held-out scorings; on a loaded machine the load is measured and named, and never stops a
run."""

import logging
import re
import time

import pytest

from unused_tokens.pipeline import cpu, schemas
from unused_tokens.pipeline.cpu import CpuSample, Load, busy_seconds
from unused_tokens.pipeline.errors import PipelineError
from unused_tokens.training import progress as progress_module
from unused_tokens.training.progress import (
    UNLIMITED,
    CpuLimit,
    Estimate,
    Progress,
    Timing,
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
    monkeypatch.setattr(cpu, "PROC_STAT", stat)
    hz = cpu.os.sysconf("SC_CLK_TCK")
    cpu0, cpu1 = 100 + 5 + 20 + 1 + 1 + 5, 200 + 40 + 2 + 1 + 5  # idle and iowait left out
    assert busy_seconds({0, 1}) == pytest.approx((cpu0 + cpu1) / hz)
    assert busy_seconds({1}) == pytest.approx(cpu1 / hz)
    monkeypatch.setattr(cpu, "usable_cores", lambda: {1})
    assert CpuSample.now(1.0).machine == pytest.approx(cpu1 / hz)
    monkeypatch.setattr(cpu, "PROC_STAT", tmp_path / "absent")
    assert busy_seconds({0, 1}) is None and CpuSample.now(1.0).machine is None


LOADED = Load(own=0.5, others=1.5, threads=2, cores=2)
IDLE = Load(own=2.0, others=0.0, threads=2, cores=2)
# 1,000 steps at 4 s, 41 scorings at 10 s (every 25 steps and the last), 8 s of warm-up
ESTIMATE = Estimate(elapsed=8, per_step=4, steps=1000, per_scoring=10, scorings=41, measured=3)


def test_the_stop_names_the_load_and_the_estimate_without_it():
    message = over_the_limit(ESTIMATE, 1104.5, LOADED, CpuLimit(0.5, runs=3))
    assert message.startswith(
        "training would take about 3:40:54 on this CPU (3 runs of about 1:13:38: 4.00 s per "
        "step over 3 steady steps, 41 held-out scorings at 10.00 s), about 0:55:14 without the "
        "other processes (other processes used 1.5 of the 2 cores this run may use while it was "
        "measured, the run itself 0.5 with its 2 threads (load average "
    )
    assert message.endswith(
        "), over "
        "runtime.cpu_limit_hours=0.5: add config/smoke.yaml to your --configfile list for the "
        "quick version (minutes), use a GPU, or rerun with --config 'runtime={cpu_limit_hours: "
        "0}' to train anyway"
    )


def test_the_stop_does_not_suggest_the_quick_overlay_to_a_study_that_uses_it():
    plain = Estimate(elapsed=0, per_step=0.5, steps=8000, per_scoring=None, scorings=0, measured=1)
    assert over_the_limit(plain, 4000, IDLE, CpuLimit(1, runs=2, quick=True)) == (
        "training would take about 2:13:20 on this CPU (2 runs of about 1:06:40: 0.50 s per "
        "step over 1 steady step), over runtime.cpu_limit_hours=1 although the study already "
        "uses config/smoke.yaml, so this CPU is too slow or too busy for it: use a GPU or rerun "
        "with --config 'runtime={cpu_limit_hours: 0}' to train anyway"
    )


class Clock:
    """A stand-in for time.perf_counter that moves only when told."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_module.time, "perf_counter", clock)
    monkeypatch.setattr(progress_module, "usable_cores", lambda: {0, 1})
    return clock


def under(monkeypatch, load):
    """CPU samples as if the run and other processes used `load`'s cores all along."""
    sample = classmethod(
        lambda cls, wall: CpuSample(wall, load.own * wall, (load.own + load.others) * wall)
    )
    monkeypatch.setattr(CpuSample, "now", sample)


def drive(progress, clock, seconds, limit=UNLIMITED, compiled=(), scored=None):
    """Run `progress` through steps from its start, step i taking seconds[i]; torch.compile
    compiles during the steps in `compiled`; `scored`: {step: seconds of its held-out scoring}.
    Returns the steps done (a stop raises)."""
    done = []
    for step, each in enumerate(seconds, start=progress.start):
        progress.begin(step)
        if step in (scored or {}):
            with progress.scoring():
                clock.now += scored[step]
        clock.now += each
        if step in compiled:
            progress.timing.compilations.count += 1
        progress.end(step)
        progress.check_estimate(step, limit, threads=2)
        done.append(step)
    return done


class Compilations:
    """A stand-in for step.compilations: a count the test raises."""

    def __init__(self):
        self.count = 0

    def __call__(self):
        return self.count


def a_run(steps=1000, every=None, record=None, device="cpu", sync=None):
    """A Progress of `steps` steps, scoring the held-out slice every `every` steps (None:
    never)."""
    after = None if every is None else (lambda step: max(0, steps - step) // every)
    timing = Timing(device, sync, Compilations())
    return Progress(0, steps, 1000, 10, record=record, timing=timing, scorings_after=after)


def test_the_estimate_leaves_out_the_first_step_compiled_steps_and_scorings(
    monkeypatch, clock, caplog
):
    """Step 0 warms up (20 s), step 1 compiles (15 s), scoring takes 6 s at step 0; the steady
    steps take 0.5 s: after step 4, the estimate is the 42.5 s so far, then 996 steps at 0.5 s
    and 39 scorings at 6 s."""
    caplog.set_level(logging.INFO)
    under(monkeypatch, IDLE)
    recorded = []
    progress = a_run(every=25, record=lambda *seconds: recorded.append(seconds))
    drive(progress, clock, [20, 15, 0.5, 0.5, 0.5], compiled={1}, scored={0: 6})
    assert progress.clock.steady == 3 and progress.clock.warm_s == 35
    assert recorded == [(0.5, 6.0)]
    estimate = progress.estimate(4)
    assert estimate.elapsed == pytest.approx(42.5) and estimate.per_step == 0.5
    assert (estimate.steps, estimate.scorings, estimate.per_scoring) == (996, 39, 6.0)
    assert (
        "estimate: this run takes about 0:12:54 on cpu (0.50 s per step over 3 steady steps, 39 "
        "held-out scorings at 6.00 s); the study's 1 run about 0:12:54 one after another"
        in caplog.text
    )


def test_no_time_left_is_shown_before_a_steady_step_is_measured(clock, caplog):
    caplog.set_level(logging.INFO)
    progress = a_run()
    values = [1.0] * len(schemas.LOG_ROW)
    progress.begin(0)
    clock.now += 30
    progress.report(0, values)
    progress.end(0)
    progress.begin(1)
    clock.now += 2
    progress.end(1)
    progress.report(1, values)
    first, second = (r.getMessage() for r in caplog.records)
    assert "left" not in first and "tok/s" not in first, first
    assert second.endswith("| 500 tok/s | 0:33:18 left"), second  # 999 steps at 2 s


def test_a_loaded_run_within_the_limit_without_the_load_goes_on(monkeypatch, clock, caplog):
    """1,000 steps at 1 s: 3 runs take about 50 min on the clock, 12.5 min without the load."""
    caplog.set_level(logging.INFO)
    under(monkeypatch, LOADED)
    drive(a_run(), clock, [1] * 5, CpuLimit(0.5, runs=3, quick=True))
    assert "the study's 3 runs about 0:50:0" in caplog.text
    assert (
        "the estimate was slowed by other processes: other processes used 1.5 of the 2 cores "
        "this run may use while it was measured, the run itself 0.5 with its 2 threads"
        in caplog.text
    )
    assert "without them the study's runs would take about 0:12:3" in caplog.text


def test_a_run_over_the_limit_even_without_the_load_stops_naming_it(monkeypatch, clock):
    under(monkeypatch, LOADED)
    with pytest.raises(PipelineError) as err:
        drive(a_run(), clock, [1] * 5, CpuLimit(0.1, runs=3, quick=True))
    assert "without the other processes (other processes used 1.5 of the 2 cores" in str(err.value)
    assert (
        "although the study already uses config/smoke.yaml, so this CPU is too slow or too "
        "busy" in str(err.value)
    )
    assert "add config/smoke.yaml" not in str(err.value)


def test_an_idle_run_is_held_to_its_wall_clock(monkeypatch, clock, caplog):
    under(monkeypatch, IDLE)
    with pytest.raises(PipelineError, match=r"^training would take about 0:50:0\d on this CPU"):
        drive(a_run(), clock, [1] * 5, CpuLimit(0.5, runs=3))
    assert "slowed by other processes" not in caplog.text


def test_a_study_far_over_the_limit_stops_after_its_first_steady_step(monkeypatch, clock, caplog):
    """3 runs of 1,000 steps at 4 s (the first step 60 s): 3:23:00, over twice a 1.5-hour
    limit, stop at step 1 already; the first step alone never decides."""
    caplog.set_level(logging.INFO)
    under(monkeypatch, IDLE)
    with pytest.raises(PipelineError) as err:
        drive(a_run(), clock, [60, 4, 4, 4, 4], CpuLimit(1.5, runs=3))
    assert str(err.value).startswith(
        "training would take about 3:23:00 on this CPU (3 runs of about 1:07:40: 4.00 s per "
        "step over 1 steady step), over runtime.cpu_limit_hours=1.5: add config/smoke.yaml"
    )
    assert "estimate:" not in caplog.text  # the estimate proper comes after ESTIMATE_AFTER steps


@pytest.mark.parametrize(("limit", "stops"), [(2, 3), (0, None)], ids=["within-far", "no-limit"])
def test_a_study_over_the_limit_but_not_far_over_waits_for_the_estimate(
    monkeypatch, clock, limit, stops
):
    """3 runs of 1,000 steps at 3 s take 2:30:00: under twice a 2-hour limit, over it: the
    estimate after three steady steps stops it. With no limit, no stop; on a GPU, never."""
    under(monkeypatch, IDLE)
    done = []
    progress = a_run()
    try:
        done = drive(progress, clock, [30, 3, 3, 3, 3], CpuLimit(limit, runs=3))
    except PipelineError:
        done = [progress.current]
    assert done[-1] == (stops if stops is not None else 4)
    gpu = a_run(device="cuda", sync=lambda: None)
    assert drive(gpu, clock, [30, 3, 3, 3, 3], CpuLimit(1e-6, runs=3)) == [0, 1, 2, 3, 4]


def test_on_a_gpu_steps_are_timed_between_synchronisations(monkeypatch, clock):
    """Until the estimate, each step waits for the device; afterwards only the progress lines
    do, and the steps since the last one are measured together."""
    syncs = []
    progress = a_run(device="cuda", sync=lambda: syncs.append(progress.current))
    drive(progress, clock, [30, 1, 1, 1])
    assert syncs == [0, 1, 2, 3] and progress.estimated
    drive_from = progress.clock.steady
    for step in (4, 5):  # no line: pending
        progress.begin(step)
        clock.now += 0.1  # the call returns before the device is done
        progress.end(step)
    assert progress.clock.steady == drive_from and progress.clock.pending == 2
    progress.begin(6)
    clock.now += 2.8  # the line's read waits for steps 4 to 6
    progress.report(6, [1.0] * len(schemas.LOG_ROW))
    progress.end(6)
    assert progress.clock.steady == 6 and progress.clock.per_step == pytest.approx(1.0)


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
