"""The training a study still plans, and how long it should take on this machine.

Each train and fine-tuning job records what it measured (without other processes' load) in
results/.step_times.tsv, one line per measurement, keyed by the machine and by what sets the
cost: a steady step's time under its kind of step (the model's shape, the batch, the threads,
the device and precision settings, the tokenizer), and a held-out scoring's time under that kind
with the slice's book and held_out settings. A first step, which warms up, and a step that
compiled are never recorded. Before a study trains (and in a dry run) the workflow prints one
line: the runs still to do and, where this machine has measured their steps and scorings, the
time they take one after another. A line of the file that cannot be read is skipped, with one
warning for the file. Read while the workflow is parsed: no torch.
"""

import datetime
import json
import math
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

from .cpu import COMPETING_CORES, others_now, slowdown, usable_cores
from .names import GPT2

STEP_TIMES = "results/.step_times.tsv"  # under the working directory, beside the studies
COLUMNS = ("measured_utc", "machine", "kind", "seconds")
CPUINFO = Path("/proc/cpuinfo")
SCORING = "held_out_scoring"  # the measure of a held-out scoring, beside a kind's steady steps
LONGEST = datetime.timedelta(days=3650)  # hms writes longer durations as "over 10 years"


def host_cpu():
    """The host's CPU model, as the kernel names it (platform's answer elsewhere)."""
    if CPUINFO.exists():
        for line in CPUINFO.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine():
    """This machine: its host name and CPU model (a cluster's nodes differ from its login host,
    so a plan made there finds no measurement, rather than a wrong one)."""
    return f"{platform.node()} ({host_cpu()})"


def step_kind(model, batch_size, runtime, tokenizer=GPT2):
    """What a step's time depends on, as one string: the model's keys, the batch, the training
    threads and the device and precision settings (`runtime`: the config's runtime section),
    and the tokenizer, whose vocabulary sets the output layer's size (named where it is not
    GPT-2's, so that GPT-2's kinds read as before)."""
    keys = ("device", "precision", "train_threads", "fused_head", "compile", "pad_vocab", "adamw")
    named = {} if tokenizer == GPT2 else {"tokenizer": tokenizer}
    return json.dumps(
        {"model": model, "batch_size": batch_size, **{k: runtime[k] for k in keys}, **named},
        sort_keys=True,
        separators=(",", ":"),
    )


def scoring_kind(kind, book_sha256, held_out):
    """What a held-out scoring's time depends on: the kind of step (step_kind), the book whose
    slice is scored and the held_out section's fraction and cap on positions."""
    slice_keys = {k: held_out[k] for k in ("fraction", "max_positions")}
    return json.dumps(
        {**json.loads(kind), "measure": SCORING, "held_out": {"book": book_sha256, **slice_keys}},
        sort_keys=True,
        separators=(",", ":"),
    )


def run_kinds(run, runtime, held_out, book_sha256, tokenizer=GPT2):
    """(step_kind, scoring_kind) of a study.Run with `tokenizer`, trained on the book
    `book_sha256`: the keys its job records its times under and the plan looks them up by."""
    kind = step_kind(run.model, run.train.batch_size, runtime, tokenizer)
    return kind, scoring_kind(kind, book_sha256, held_out)


def scorings(steps, every):
    """How many steps of a run of `steps` updates score the held-out slice: every `every`th
    from step 0, and the last (held_out.HeldOut.due)."""
    return steps // every + 1 + (steps % every != 0)


@dataclass(frozen=True)
class PlannedRun:
    """A training or fine-tuning run still to do (`what`), of `steps` steps of `kind` and
    `scorings` held-out scorings of `scoring` (scoring_kind), on `threads` threads."""

    what: str
    steps: int
    kind: str
    scorings: int
    scoring: str
    threads: int = 1

    def seconds(self, measured):
        """Its time at the `measured` {kind: seconds}, or None where one is not measured."""
        step, scoring = measured.get(self.kind), measured.get(self.scoring)
        if step is None or scoring is None:
            return None
        return self.steps * step + self.scorings * scoring


def record_step_time(seconds, kind, path=STEP_TIMES):
    """Append one measurement: a single short line in append mode, so that jobs that record at
    the same moment do not mix their lines."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = not path.exists()
    when = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    line = "\t".join((when, machine(), kind, f"{seconds:.6g}")) + "\n"
    with open(path, "a") as out:
        if fresh:
            out.write("\t".join(COLUMNS) + "\n")
        out.write(line)


def _seconds(fields):
    """A line's measurement: its seconds, a finite number at least 0, or None where the line
    (its tab-separated `fields`) is not one: the wrong number of fields, bytes that are not
    text, or seconds that are not such a number."""
    if len(fields) != len(COLUMNS) or any("\ufffd" in field for field in fields):
        return None
    try:
        value = float(fields[3])
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def latest_step_times(path=STEP_TIMES):
    """{kind: the latest seconds measured on this machine} from the file at `path`. Lines that
    cannot be read (not four tab-separated fields, seconds that are not a finite number >= 0,
    bytes that are not text) are skipped, with one warning on stderr that names the file; a
    file that cannot be read at all (a folder, no permission) is warned about and ignored."""
    path, here, found, bad = Path(path), machine(), {}, []
    try:
        lines = path.read_text(errors="replace").splitlines()[1:] if path.exists() else []
    except OSError as err:
        warn(f"{path} cannot be read ({err.strerror or err}); the plan ignores it: remove it")
        return found
    for number, line in enumerate(lines, start=2):
        fields = line.split("\t")
        seconds = _seconds(fields)
        if seconds is None:
            bad.append(number)
        elif fields[1] == here:
            found[fields[2]] = seconds
    if bad:
        shown = ", ".join(map(str, bad[:5])) + (", ..." if len(bad) > 5 else "")
        warn(
            f"{path}: {len(bad)} line{'s' if len(bad) != 1 else ''} cannot be read and "
            f"{'are' if len(bad) != 1 else 'is'} skipped (line {shown}); delete those lines, "
            "or the file, which the next train job starts afresh"
        )
    return found


def warn(line):
    print(f"warning: {line}", file=sys.stderr)


def latest_step_time(kind, path=STEP_TIMES):
    """The latest seconds measured on this machine for `kind`, or None."""
    return latest_step_times(path).get(kind)


def hms(seconds):
    """A duration as h:mm:ss ("over 10 years" beyond that)."""
    if seconds >= LONGEST.total_seconds():
        return "over 10 years"
    return str(datetime.timedelta(seconds=round(seconds)))


def about(seconds):
    """'about h:mm:ss', or 'over 10 years'."""
    text = hms(seconds)
    return text if text.startswith("over") else f"about {text}"


@dataclass(frozen=True)
class Busy:
    """Other processes' CPU use while the plan is made: `others` cores' worth of the `cores`
    this process may use (others None: unknown)."""

    others: float | None
    cores: int

    @classmethod
    def now(cls):
        return cls(others_now(), len(usable_cores()))

    def slowdown(self, threads):
        """How many times longer a run of `threads` threads takes now (1 on an idle machine)."""
        if self.others is None or self.others < COMPETING_CORES:
            return 1.0
        return slowdown(threads, self.cores, self.others)


IDLE = Busy(None, 1)


def plan_line(todo, path=STEP_TIMES, busy=IDLE):
    """One line on the training still to do: `todo` is a list of PlannedRun, with the time one
    after another of those whose steps and scorings are measured on this machine (measured
    without other processes' load), and with the load of `busy` (Busy) where it slows them."""
    if not todo:
        return "plan: no training left to do"
    counts = {}
    for run in todo:
        counts[(run.what, run.steps)] = counts.get((run.what, run.steps), 0) + 1
    runs = " and ".join(
        f"{n} {what} run{'s' if n != 1 else ''} of {steps} steps"
        for (what, steps), n in counts.items()
    )
    measured = latest_step_times(path)  # the file read once, however many runs
    times = [run.seconds(measured) for run in todo]
    known = [t for t in times if t is not None]
    if not known:
        return (
            f"plan: {runs} to do; none of their steps measured on this machine yet "
            f"({STEP_TIMES}): each train job logs its estimate after its first steps"
        )
    total = f"{about(sum(known))} one after another at the times measured on this machine"
    slowed = sum(
        t * busy.slowdown(run.threads) for t, run in zip(times, todo, strict=True) if t is not None
    )
    loaded = (
        f"; {about(slowed)} while other processes keep {busy.others:.1f} of its {busy.cores} "
        "cores busy, as now"
        if slowed > sum(known)
        else ""
    )
    if len(known) == len(todo):
        return f"plan: {runs} to do, {total} ({STEP_TIMES}){loaded}"
    return (
        f"plan: {runs} to do, {total} for {len(known)} of them ({STEP_TIMES}){loaded}; the steps "
        f"of the other {len(todo) - len(known)} are not measured here yet"
    )
