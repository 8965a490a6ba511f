"""The training a study still plans, and how long it should take on this machine.

Each train and fine-tuning job records its measured time per step (without other processes'
load) in results/.step_times.tsv, one line per measurement, keyed by the machine and by what
sets a step's cost: the model's shape, the batch, the threads, the device and precision settings.
Before a study trains (and in a dry run) the workflow prints one line: the runs still to do and,
where this machine has measured a step of the same kind, the time they take one after another.
Read while the workflow is parsed: no torch.
"""

import datetime
import json
import platform
from pathlib import Path

from .names import GPT2

STEP_TIMES = "results/.step_times.tsv"  # under the working directory, beside the studies
COLUMNS = ("measured_utc", "machine", "kind", "seconds_per_step")
CPUINFO = Path("/proc/cpuinfo")


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


def latest_step_times(path=STEP_TIMES):
    """{kind: the latest seconds per step measured on this machine} from the file at `path`."""
    path, here, found = Path(path), machine(), {}
    if path.exists():
        for line in path.read_text().splitlines()[1:]:
            fields = line.split("\t")
            if len(fields) == len(COLUMNS) and fields[1] == here:
                found[fields[2]] = float(fields[3])
    return found


def latest_step_time(kind, path=STEP_TIMES):
    """The latest seconds per step measured on this machine for steps of `kind`, or None."""
    return latest_step_times(path).get(kind)


def hms(seconds):
    """A duration as h:mm:ss."""
    return str(datetime.timedelta(seconds=round(seconds)))


def plan_line(todo, path=STEP_TIMES):
    """One line on the training still to do: `todo` is a list of (what, steps, kind) per run
    ("training" or "fine-tuning"), with the time one after another where every kind has a
    measurement on this machine."""
    if not todo:
        return "plan: no training left to do"
    counts = {}
    for what, steps, _ in todo:
        counts[(what, steps)] = counts.get((what, steps), 0) + 1
    runs = " and ".join(
        f"{n} {what} run{'s' if n != 1 else ''} of {steps} steps"
        for (what, steps), n in counts.items()
    )
    measured = latest_step_times(path)  # the file read once, however many runs
    times = [measured.get(kind) for _, _, kind in todo]
    if None in times:
        return (
            f"plan: {runs} to do; no step of this kind measured on this machine yet "
            f"({STEP_TIMES}): each train job logs its estimate after its first steps"
        )
    total = sum(steps * t for (_, steps, _), t in zip(todo, times, strict=True))
    return (
        f"plan: {runs} to do, about {hms(total)} one after another at the step times "
        f"measured on this machine ({STEP_TIMES})"
    )
