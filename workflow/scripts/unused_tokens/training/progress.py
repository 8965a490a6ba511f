"""What training tells the user while it runs: progress lines, a time estimate, interruptions.

A progress line comes every `log_every` steps and at least every INTERVAL_S seconds of wall
clock, with the time left as h:mm:ss; where a step itself takes longer (a first step that
compiles, a slow CPU), a heartbeat line says which step is under way and for how long. After the
first ESTIMATE_AFTER steps past the first (which pays for warm-up and compilation), the estimate
for the run and for the study's runs one after another is logged; on the CPU, training stops
there when the study's estimate is over the configured limit, naming the quick overlay (unless
the study already uses it) and how to go on. A study far over the limit stops after its first
step already: when the first step, counted at 1/WARM_UP of its time, puts it over.

A loaded machine must not pass for a slow one: the estimate says how many cores' worth of CPU
other processes used while it was measured, on the cores this run may use (its CPU affinity,
which a scheduler's cgroup or `taskset` may narrow; from /proc/stat, where Linux has it), and
the limit is applied to the estimate without them: the wall clock scaled by the share of those
cores this run got against what it could have had. SIGINT (Ctrl-C) and SIGTERM (a scheduler's
cancel) are caught, so that training can leave the step under way undone (or finish it, once its
update has begun) and save its state before it stops.
"""

import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..pipeline import schemas
from ..pipeline.errors import PipelineError
from ..pipeline.plan import hms

log = logging.getLogger(__name__)

INTERVAL_S = 30  # at most this many seconds between two progress lines
ESTIMATE_AFTER = 3  # steps after the first that the estimate is measured on
WARM_UP = 2  # the first step takes at most this many times as long as a later one
QUICK_OVERLAY = "config/smoke.yaml"
NO_LIMIT = "--config 'runtime={cpu_limit_hours: 0}'"
COMPETING_CORES = 0.25  # other processes' use, in cores, from which the estimate names them...
SLOWED = 0.9  # ...if the run got less than this part of the cores it could have used
PROC_STAT = Path("/proc/stat")
BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # user nice system . . irq softirq steal (a VM's neighbours)


@dataclass(frozen=True)
class CpuLimit:
    """The CPU guard: stop when `runs` runs like this one would take over `hours` one after
    another (0: no limit); `quick`: the study already uses QUICK_OVERLAY, so the stop does not
    suggest it."""

    hours: float = 0
    runs: int = 1
    quick: bool = False


UNLIMITED = CpuLimit()


@dataclass(frozen=True)
class CpuSample:
    """The wall clock, this process's CPU time and the machine's busy CPU time (None where
    /proc/stat is not there), in seconds."""

    wall: float
    own: float
    machine: float | None  # on the cores this process may use

    @classmethod
    def now(cls, wall):
        """The CPU times now, with `wall`: the caller's reading of time.perf_counter()."""
        times = os.times()
        return cls(wall, times.user + times.system, busy_seconds(usable_cores()))

    def since(self, earlier):
        """(cores' worth of CPU this process used, other processes used; None if unknown)
        between `earlier` and this sample."""
        wall = max(self.wall - earlier.wall, 1e-9)
        own = (self.own - earlier.own) / wall
        if self.machine is None or earlier.machine is None:
            return own, None
        return own, max((self.machine - earlier.machine) / wall - own, 0.0)


def usable_cores():
    """The numbers of the cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return os.sched_getaffinity(0)
    return set(range(os.cpu_count() or 1))


def busy_seconds(cores):
    """The CPU seconds the `cores` have been busy since boot (/proc/stat's per-core lines), or
    None where /proc/stat is not there."""
    if not PROC_STAT.exists():
        return None
    ticks = 0
    for line in PROC_STAT.read_text().splitlines():
        name, *fields = line.split()
        if name[3:].isdigit() and name.startswith("cpu") and int(name[3:]) in cores:
            ticks += sum(int(fields[i]) for i in BUSY_FIELDS if i < len(fields))
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Load:
    """What other processes took from a run while its speed was measured."""

    own: float  # cores' worth of CPU the run used
    others: float | None  # cores' worth other processes used (None: unknown)
    threads: int  # the run's threads
    cores: int  # the cores it may use

    @property
    def got(self):
        """The part of what the run could have had that it got: 1 when nothing is known or the
        machine had cores to spare; else its use against what it and the others used together,
        at most its threads."""
        if self.others is None or self.own <= 0:
            return 1.0
        used = self.own + self.others
        if used < self.cores - COMPETING_CORES:
            return 1.0
        return min(1.0, self.own / min(used, self.threads, self.cores))

    @property
    def competing(self):
        """Whether other processes took a noticeable part of what the run could have had."""
        return (self.others or 0) >= COMPETING_CORES and self.got < SLOWED

    @property
    def share(self):
        """The wall-clock estimate times this is the estimate without the other processes."""
        return self.got if self.competing else 1.0

    def __str__(self):
        return (
            f"other processes used {self.others:.1f} of the {self.cores} cores this run may use "
            f"while it was measured, the run itself {self.own:.1f} with its {self.threads} "
            f"threads (load average {os.getloadavg()[0]:.1f})"
        )


def runs_of(count):
    """'1 run', '3 runs'."""
    return f"{count} run{'s' if count != 1 else ''}"


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
    ):
        """`record`: called with the seconds per step of the estimate (without other processes'
        load), for the plan of later studies (pipeline/plan.py)."""
        self.start, self.steps, self.tokens_per_step = start, steps, tokens_per_step
        self.record = record
        self.row = row  # the names of a log row's values
        self.log_every, self.interval_s = log_every, interval_s
        self.started = self.last_line = time.perf_counter()
        self.start_sample = CpuSample.now(self.started)
        self.first_done = None  # when the first step ended (after its warm-up)
        self.current, self.step_started = start, self.started  # the step under way, since when

    def begin(self, step):
        """Note that `step` is under way (what the heartbeat names)."""
        self.current, self.step_started = step, time.perf_counter()

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
            or step in (self.start, self.start + ESTIMATE_AFTER, self.steps)
            or time.perf_counter() - self.last_line >= self.interval_s
        )

    def report(self, step, values):
        """Log the progress line of `step`, whose log row is `values` (named by self.row)."""
        now = self.last_line = time.perf_counter()
        if step == self.start:
            self.first_done = now
        done = step + 1 - self.start
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
        log.info(
            "step %d/%d loss %.4f | masked/unmasked %s | %.0f tok/s | %s left",
            step,
            self.steps,
            row["loss"],
            groups,
            self.tokens_per_step * done / (now - self.started),
            hms(self.seconds_left(step, now)),
        )

    def seconds_left(self, step, now):
        """From the steps after the first, once there are some; else from all so far."""
        if step > self.start:
            return (now - self.first_done) / (step - self.start) * (self.steps - step)
        return (now - self.started) * (self.steps - step)

    def check_estimate(self, step, device, limit=UNLIMITED, threads=1):
        """At the estimating step: log the estimate of this run and of `limit.runs` like it one
        after another, and on the CPU the load it was measured under; on the CPU, stop if the
        latter without the load is over `limit.hours` (0: no limit). `threads`: the run's.
        After the first step, on the CPU, stop already if the study is over the limit at
        1/WARM_UP of that step's time per step."""
        if step >= self.steps:
            return
        first = step == self.start and device == "cpu" and limit.hours > 0
        if not first and step != self.start + ESTIMATE_AFTER:
            return
        now = time.perf_counter()
        if first:
            per_step = (now - self.started) / WARM_UP
            total = per_step * (self.steps - self.start)
        else:
            total = now - self.started + self.seconds_left(step, now)
            per_step = (now - self.first_done) / ESTIMATE_AFTER
            log.info(
                "estimate: this run takes about %s on %s (%.2f s per step, %d steps); "
                "the study's %s about %s one after another",
                hms(total),
                device,
                per_step,
                self.steps - self.start,
                runs_of(limit.runs),
                hms(total * limit.runs),
            )
        if device != "cpu":
            if self.record:
                self.record(per_step)
            return
        cores = len(usable_cores())
        load = Load(*CpuSample.now(now).since(self.start_sample), threads, cores)
        unloaded = total * load.share
        if self.record and not first:
            self.record(per_step * load.share)
        if load.competing and not first:
            log.warning(
                "the estimate was slowed by other processes: %s; without them the study's runs "
                "would take about %s",
                load,
                hms(unloaded * limit.runs),
            )
        if limit.hours and unloaded * limit.runs > limit.hours * 3600:
            raise PipelineError(over_the_limit(total, unloaded, load, limit, per_step, first))


def over_the_limit(total, unloaded, load, limit, per_step, first=False):
    """The message that stops a CPU run whose study would take over `limit.hours`; `first`: the
    estimate is the first step's, at 1/WARM_UP of its time (`per_step`)."""
    basis = f"{per_step:.2f} s per step" + (
        f", 1/{WARM_UP} of the first step's time" if first else ""
    )
    took = (
        f"{'at least ' if first else ''}about {hms(total * limit.runs)} on this CPU "
        f"({runs_of(limit.runs)} of about {hms(total)} at {basis})"
    )
    if load.competing:
        took += f", {hms(unloaded * limit.runs)} without the other processes ({load})"
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
