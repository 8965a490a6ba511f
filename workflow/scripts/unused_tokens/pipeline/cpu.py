"""How busy the cores are: what this process and the others use, from /proc/stat where Linux
has it, on the cores this process may run on (its CPU affinity, which a scheduler's cgroup or
`taskset` may narrow). The CPU guard applies its limit to a run's time without the others'
load (training/progress.py); the plan says what the load present when it is made would add
(plan.py). Read while the workflow is parsed: no torch.
"""

import os
import time
from dataclasses import dataclass
from pathlib import Path

COMPETING_CORES = 0.25  # other processes' use, in cores, from which they are named...
SLOWED = 0.9  # ...if a run got less than this part of the cores it could have used
PROC_STAT = Path("/proc/stat")
BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # user nice system . . irq softirq steal (a VM's neighbours)


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


def others_now(seconds=0.25):
    """The cores' worth of CPU other processes use over the next `seconds` on the cores this
    process may use, or None where /proc/stat is not there."""
    start = time.perf_counter()
    earlier = CpuSample.now(start)
    time.sleep(seconds)
    return CpuSample.now(time.perf_counter()).since(earlier)[1]


def slowdown(threads, cores, others):
    """How many times longer a job of `threads` threads takes beside `others` cores' worth of
    other work on `cores` cores, each runnable thread getting an equal part: 1 where the cores
    hold both."""
    return max(1.0, (threads + others) / cores)
