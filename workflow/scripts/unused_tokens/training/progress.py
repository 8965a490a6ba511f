"""What training tells the user while it runs: progress lines, a time estimate, interruptions.

A progress line comes every `log_every` steps and at least every INTERVAL_S seconds of wall
clock; where a step itself takes longer (a first step that compiles, a slow CPU), a heartbeat
line says which step is under way and for how long. Time is counted apart for what does not
repeat alike (StepClock): the first step of a process (warm-up), any step during which
torch.compile compiled, and the held-out slice's scorings, so that none of them stands for
the steady steps. No time left is given before a steady step is measured. After the first
ESTIMATE_AFTER steady steps, the estimate for the run (its warm-up, its steady steps, its
scorings) and for the study's runs one after another is logged and recorded for later plans
(pipeline/plan.py); on the CPU, training stops there when the study's estimate is over the
configured limit, naming the quick overlay (unless the study already uses it) and how to go on.
A study FAR times over the limit stops after its first steady step already.

A loaded machine must not pass for a slow one: the estimate says how many cores' worth of CPU
other processes used while it was measured, on the cores this run may use (pipeline/cpu.py),
and the limit is applied to the estimate without them: the wall clock scaled by the share of
those cores this run got against what it could have had. SIGINT (Ctrl-C) and SIGTERM (a scheduler's
cancel) are caught, so that training can leave the step under way undone (or finish it, once its
update has begun) and save its state before it stops.
"""

import contextlib
import logging
import signal
import threading
import time
from dataclasses import dataclass

from ..pipeline import schemas
from ..pipeline.cpu import CpuSample, Load, usable_cores
from ..pipeline.errors import PipelineError
from ..pipeline.names import QUICK_OVERLAY
from ..pipeline.plan import about, hms

log = logging.getLogger(__name__)

INTERVAL_S = 30  # at most this many seconds between two progress lines
ESTIMATE_AFTER = 3  # steady steps the estimate is measured on
FAR = 2  # after one steady step, a study this many times over the limit stops already
NO_LIMIT = "--config 'runtime={cpu_limit_hours: 0}'"


@dataclass(frozen=True)
class CpuLimit:
    """The CPU guard: stop when `runs` runs like this one would take over `hours` one after
    another (0: no limit); `quick`: the study already uses QUICK_OVERLAY, so the stop does not
    suggest it."""

    hours: float = 0
    runs: int = 1
    quick: bool = False


UNLIMITED = CpuLimit()


def runs_of(count):
    """'1 run', '3 runs'."""
    return f"{count} run{'s' if count != 1 else ''}"


@dataclass(frozen=True)
class Timing:
    """How Progress times a device's work. `sync` waits for the work the device has queued (None
    on the CPU, whose work is done when a call returns); `compilations` counts what
    torch.compile has compiled in this process, so that a step that compiled is told apart."""

    device: str = "cpu"
    sync: object = None  # a callable, or None
    compilations: object = lambda: 0  # a callable


@dataclass
class StepClock:
    """Where a run's time went: its steady steps, its held-out scorings, and the rest (the
    first step, steps that compiled). Steps timed since the device last synchronised are
    pending: on a GPU a step's call returns before its work is done, so only the steps up to a
    synchronisation together are a measurement."""

    steady_s: float = 0.0
    steady: int = 0
    scoring_s: float = 0.0
    scorings: int = 0
    warm_s: float = 0.0
    pending_s: float = 0.0
    pending: int = 0

    def step(self, seconds, steady, synced):
        if not steady:
            self.warm_s += seconds
            return
        self.pending_s, self.pending = self.pending_s + seconds, self.pending + 1
        if synced:
            self.steady_s, self.steady = self.steady_s + self.pending_s, self.steady + self.pending
            self.pending_s, self.pending = 0.0, 0

    @property
    def per_step(self):
        return self.steady_s / self.steady if self.steady else None

    @property
    def per_scoring(self):
        return self.scoring_s / self.scorings if self.scorings else None


@dataclass(frozen=True)
class Estimate:
    """A run's time in seconds: `elapsed` so far (its warm-up included), then `steps` steady
    steps at `per_step` and `scorings` held-out scorings at `per_scoring` (None: none timed
    yet, and so none counted), measured on `measured` steady steps."""

    elapsed: float
    per_step: float
    steps: int
    per_scoring: float | None
    scorings: int
    measured: int

    @property
    def total(self):
        return self.elapsed + self.left

    @property
    def left(self):
        return self.per_step * self.steps + (self.per_scoring or 0.0) * self.scorings

    def basis(self):
        """'1.20 s per step over 3 steady steps, 7 held-out scorings at 2.10 s'."""
        scored = (
            f", {self.scorings} held-out scorings at {self.per_scoring:.2f} s"
            if self.scorings
            else ""
        )
        steady = f"{self.measured} steady step{'s' if self.measured != 1 else ''}"
        return f"{self.per_step:.2f} s per step over {steady}{scored}"


class Progress:
    """Progress lines and the time estimate of a run from step `start` to step `steps`."""

    def __init__(
        self,
        start,
        steps,
        tokens_per_step,
        log_every,
        interval_s=INTERVAL_S,
        row=schemas.LOG_ROW,
        record=None,
        timing=Timing(),
        scorings_after=None,
    ):
        """`record`: called with the seconds per steady step and per held-out scoring of the
        estimate (without other processes' load; None where no scoring was timed yet), for the
        plan of later studies (pipeline/plan.py); `scorings_after(step)`: how many held-out
        scorings come after `step` (None: the run scores none, in no time)."""
        self.start, self.steps, self.tokens_per_step = start, steps, tokens_per_step
        self.record, self.timing, self.scorings_after = record, timing, scorings_after
        self.row = row  # the names of a log row's values
        self.log_every, self.interval_s = log_every, interval_s
        self.started = self.last_line = time.perf_counter()
        self.start_sample = CpuSample.now(self.started)
        self.clock, self.estimated, self.checked_far = StepClock(), False, False
        self.current, self.step_started = start, self.started  # the step under way, since when
        self.compiled_before, self.scored_s, self.synced = 0, 0.0, False

    def begin(self, step):
        """Note that `step` is under way (what the heartbeat names)."""
        self.current, self.step_started = step, time.perf_counter()
        self.compiled_before, self.scored_s, self.synced = self.timing.compilations(), 0.0, False

    @contextlib.contextmanager
    def scoring(self):
        """Time the held-out scoring the block runs apart from its step."""
        self._sync()
        began = time.perf_counter()
        yield
        self._sync()
        seconds = time.perf_counter() - began
        self.clock.scoring_s += seconds
        self.clock.scorings += 1
        self.scored_s += seconds

    def _sync(self):
        if self.timing.sync is not None:
            self.timing.sync()

    def end(self, step):
        """Time `step`, which is done: steady unless it is the first of this process, the last
        (no update) or torch.compile compiled during it. Until the estimate, a GPU is
        synchronised after every step, so that each is measured."""
        if not self.estimated and not self.synced:
            self._sync()
        seconds = time.perf_counter() - self.step_started - self.scored_s
        compiled = self.timing.compilations() != self.compiled_before
        steady = self.start < step < self.steps and not compiled
        synced = self.synced or not self.estimated or self.timing.sync is None
        self.clock.step(seconds, steady, synced)

    @contextlib.contextmanager
    def heartbeat(self):
        """While the block runs, a line in every interval_s seconds without another: the step
        under way and how long it has taken so far, so that no stage stays silent."""
        stop = threading.Event()

        def beat():
            while not stop.wait(min(1.0, self.interval_s / 4)):
                now = time.perf_counter()
                if now - self.last_line >= self.interval_s:
                    self.last_line = now
                    warming = " (the first step warms up)" if self.current == self.start else ""
                    log.info(
                        "step %d/%d under way for %s%s",
                        self.current,
                        self.steps,
                        hms(now - self.step_started),
                        warming,
                    )

        thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()

    def due(self, step):
        """Whether `step` gets a progress line (and so a synchronisation with the device)."""
        return (
            step % self.log_every == 0
            or step in (self.start, self.steps)
            or time.perf_counter() - self.last_line >= self.interval_s
        )

    def report(self, step, values):
        """Log the progress line of `step`, whose log row is `values` (named by self.row: the
        caller read them from the device, which synchronised it). The speed and the time left
        come once a steady step is measured."""
        self.last_line, self.synced = time.perf_counter(), True
        row = dict(zip(self.row, values, strict=True))
        groups = " ".join(
            f"{g[: -len('_masked')]}={row[g]:.3f}/{row[g.replace('_masked', '_unmasked')]:.3f}"
            for g in self.row
            if g.endswith("_masked")
        )
        if "new_loss" in row:
            groups += f" | loss on new/other targets {row['new_loss']:.4f}/{row['other_loss']:.4f}"
        if row.get("held_out_loss") == row.get("held_out_loss"):  # not NaN: scored at this step
            groups += f" | held-out loss {row['held_out_loss']:.4f}"
        estimate = self.estimate(step)
        speed = (
            ""
            if estimate is None
            else f" | {self.tokens_per_step / estimate.per_step:.0f} tok/s | "
            f"{hms(estimate.left)} left"
        )
        log.info(
            "step %d/%d loss %.4f | masked/unmasked %s%s",
            step,
            self.steps,
            row["loss"],
            groups,
            speed,
        )

    def estimate(self, step):
        """The run's Estimate after `step`, or None before a steady step is measured."""
        per_step = self.clock.per_step
        if per_step is None:
            return None
        scored = self.scorings_after is not None
        per_scoring = self.clock.per_scoring if scored else 0.0
        return Estimate(
            time.perf_counter() - self.started,
            per_step,
            self.steps - step,
            per_scoring,
            self.scorings_after(step) if scored and per_scoring is not None else 0,
            self.clock.steady,
        )

    def check_estimate(self, step, limit=UNLIMITED, threads=1):
        """Once ESTIMATE_AFTER steady steps are measured: log the estimate of this run and of
        `limit.runs` like it one after another, record it, and on the CPU the load it was
        measured under; on the CPU, stop if the latter without the load is over `limit.hours`
        (0: no limit). After the first steady step, on the CPU, stop already if the study is
        over FAR times the limit. `threads`: the run's."""
        estimate = self.estimate(step)
        if self.estimated or estimate is None or step >= self.steps:
            return
        cpu = self.timing.device == "cpu"
        final = estimate.measured >= ESTIMATE_AFTER
        if not final and (self.checked_far or not (cpu and limit.hours)):
            return
        self.checked_far = True
        load = Load(
            *CpuSample.now(time.perf_counter()).since(self.start_sample),
            threads,
            len(usable_cores()),
        )
        share = load.share if cpu else 1.0
        unloaded = estimate.total * share
        if final:
            self.estimated = True
            log.info(
                "estimate: this run takes %s on %s (%s); the study's %s %s one after another",
                about(estimate.total),
                self.timing.device,
                estimate.basis(),
                runs_of(limit.runs),
                about(estimate.total * limit.runs),
            )
            if self.record:
                scoring = None if estimate.per_scoring is None else estimate.per_scoring * share
                self.record(estimate.per_step * share, scoring)
            if cpu and load.competing:
                log.warning(
                    "the estimate was slowed by other processes: %s; without them the study's "
                    "runs would take %s",
                    load,
                    about(unloaded * limit.runs),
                )
        over = limit.hours * 3600 * (1 if final else FAR)
        if cpu and limit.hours and unloaded * limit.runs > over:
            raise PipelineError(over_the_limit(estimate, unloaded, load, limit))


def over_the_limit(estimate, unloaded, load, limit):
    """The message that stops a CPU run whose study would take over `limit.hours`: `estimate`
    is the run's (Estimate), `unloaded` its total without other processes' `load`."""
    took = (
        f"{about(estimate.total * limit.runs)} on this CPU ({runs_of(limit.runs)} of "
        f"{about(estimate.total)}: {estimate.basis()})"
    )
    if load.competing:
        took += f", {about(unloaded * limit.runs)} without the other processes ({load})"
    if limit.quick:
        ways = (
            f" although the study already uses {QUICK_OVERLAY}, so this CPU is too slow or too "
            "busy for it: use a GPU or"
        )
    else:
        ways = (
            f": add {QUICK_OVERLAY} to your --configfile list for the quick version (minutes), "
            "use a GPU, or"
        )
    return (
        f"training would take {took}, over runtime.cpu_limit_hours={limit.hours:g}{ways} "
        f"rerun with {NO_LIMIT} to train anyway"
    )


class Abandoned(Exception):
    """A signal came while the step under way could still be left undone."""


class Interruptions:
    """SIGINT and SIGTERM while training: their names, in `received`. Between `open()` (a
    step begins) and `close()` (its update begins) the step may be left undone: a signal there
    raises Abandoned at once, in Python code between two of PyTorch's calls (one long call,
    such as a backward pass, finishes first). At other times it is only noted, and the caller
    stops after the step."""

    def __init__(self):
        self.received, self.abandonable = [], False

    def note(self, signum, _frame):
        self.received.append(signal.Signals(signum).name)
        if self.abandonable:
            self.abandonable = False
            raise Abandoned(self.received[0])

    def open(self):
        """A step begins: from here a signal abandons it (one already noted does so now)."""
        if self.received:
            raise Abandoned(self.received[0])
        self.abandonable = True

    def close(self, *_hook_args):
        """The step's update begins (an optimizer's step pre-hook): it must now finish."""
        self.abandonable = False


@contextlib.contextmanager
def interruptible():
    """Within the block, SIGINT and SIGTERM go to the yielded Interruptions. The previous
    handlers come back afterwards."""
    interruptions = Interruptions()
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, interruptions.note) for s in signals}
    try:
        yield interruptions
    finally:
        interruptions.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
