"""What training tells the user while it runs: progress lines, a time estimate, interruptions.

A progress line comes every `log_every` steps and at least every INTERVAL_S seconds of wall
clock, with the time left as h:mm:ss. After the first ESTIMATE_AFTER steps past the first (which
pays for warm-up and compilation), the estimate for the run and for the study's runs one after
another is logged; on the CPU, training stops there when the study's estimate is over the
configured limit, naming the quick overlay and how to go on. SIGINT (Ctrl-C) and SIGTERM (a
scheduler's cancel) are caught, so that training can finish its step and save its state before
it stops.
"""

import contextlib
import datetime
import logging
import signal
import time

from . import schemas
from .errors import PipelineError

log = logging.getLogger(__name__)

INTERVAL_S = 30  # at most this many seconds between two progress lines
ESTIMATE_AFTER = 3  # steps after the first that the estimate is measured on
QUICK_OVERLAY = "config/smoke.yaml"
NO_LIMIT = "--config 'runtime={cpu_limit_hours: 0}'"


def hms(seconds):
    """A duration as h:mm:ss."""
    return str(datetime.timedelta(seconds=round(seconds)))


class Progress:
    """Progress lines and the time estimate of a run from step `start` to step `steps`."""

    def __init__(
        self, start, steps, tokens_per_step, log_every, interval_s=INTERVAL_S, row=schemas.LOG_ROW
    ):
        self.start, self.steps, self.tokens_per_step = start, steps, tokens_per_step
        self.row = row  # the names of a log row's values
        self.log_every, self.interval_s = log_every, interval_s
        self.started = self.last_line = time.perf_counter()
        self.first_done = None  # when the first step ended (after its warm-up)

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

    def check_estimate(self, step, device, limit_hours, runs=1):
        """At the estimating step: log the estimate of this run and of `runs` like it one after
        another; on the CPU, stop if the latter is over `limit_hours` (0: no limit)."""
        if step != self.start + ESTIMATE_AFTER or step >= self.steps:
            return
        now = time.perf_counter()
        total = now - self.started + self.seconds_left(step, now)
        per_step = (now - self.first_done) / ESTIMATE_AFTER
        log.info(
            "estimate: this run takes about %s on %s (%.2f s per step, %d steps); "
            "the study's %d runs about %s one after another",
            hms(total),
            device,
            per_step,
            self.steps - self.start,
            runs,
            hms(total * runs),
        )
        if device == "cpu" and limit_hours and total * runs > limit_hours * 3600:
            raise PipelineError(
                f"training would take about {hms(total * runs)} on this CPU ({runs} runs of about "
                f"{hms(total)}), over "
                f"runtime.cpu_limit_hours={limit_hours:g}: add {QUICK_OVERLAY} to your "
                f"--configfile list for the quick version (minutes), use a GPU, or rerun "
                f"with {NO_LIMIT} to train anyway"
            )


@contextlib.contextmanager
def interruptible():
    """Within the block, SIGINT and SIGTERM only append their names to the yielded list; the
    caller checks it between steps. The previous handlers come back afterwards."""
    received = []
    signals = (signal.SIGINT, signal.SIGTERM)

    def note(signum, _frame):
        received.append(signal.Signals(signum).name)

    previous = {s: signal.signal(s, note) for s in signals}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
