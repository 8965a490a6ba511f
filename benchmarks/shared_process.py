"""Time a study's train jobs each in its own process against the same jobs handed to one warm
trainer (runtime.shared_process), as Snakemake runs them.

Makes the train rule's inputs once (download to select_groups), then trains the study's runs
(`--until train --forcerun train`) with shared_process off and on, alternately, `--repeats`
times each. Every timed command has a temporary folder of its own, so that each shared command
starts its trainer from nothing, as a fresh study would. Prints, per command, the snakemake
command's seconds and the train jobs' summed seconds (Snakemake's benchmark files: for a shared
job, the script's wait for its run), then the medians; appends the rows to
benchmarks/shared_process.csv. The configs are the user's: add config/fast.yaml on a GPU.

    .venv/bin/python benchmarks/shared_process.py --configfile config/offline.yaml config/smoke.yaml
"""

import argparse
import csv
import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rows import append_rows, figure

ROOT = Path(__file__).resolve().parent.parent


def snakemake(workdir, configfiles, *args, env=None):
    """Run snakemake in `workdir`; seconds it took. Its output is shown only if it fails."""
    cmd = [sys.executable, "-m", "snakemake", "--cores", "all", *args, "--configfile", *configfiles]
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env)
    if result.returncode:
        sys.exit(f"snakemake failed in {workdir}:\n{result.stdout}{result.stderr}")
    return time.perf_counter() - started


def train_job_seconds(study_dir):
    """The summed seconds of the study's train jobs, from their benchmark files."""
    total = 0.0
    for path in sorted(study_dir.glob("runs/*/*/seed*/benchmarks/train.tsv")):
        with open(path) as f:
            total += float(next(csv.DictReader(f, delimiter="\t"))["s"])
    return total


def machine(study_dir):
    """The device the train jobs named in their logs, with the CPU's model."""
    logs = sorted(study_dir.glob("runs/*/*/seed*/logs/train.log"))
    device = re.search(r"INFO device: (.*)", logs[0].read_text()) if logs else None
    cpu = re.search(r"model name\s*: (.*)", Path("/proc/cpuinfo").read_text())
    cpu = cpu.group(1) if cpu else platform.machine()
    return f"{device.group(1) if device else '?'}; {cpu}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=ROOT, help="where the workflow is")
    parser.add_argument("--configfile", nargs="+", default=[], help="config overlays, in order")
    parser.add_argument("--study", default="bench-shared-process", help="results/<study>/")
    parser.add_argument("--repeats", type=int, default=2, help="timed commands per setting")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "shared_process.csv")
    args = parser.parse_args(argv)

    bench = args.workdir / "results" / args.study / "bench"
    shutil.rmtree(bench, ignore_errors=True)
    bench.mkdir(parents=True)
    overlays = {}
    for shared in (False, True):
        overlays[shared] = bench / f"shared_{str(shared).lower()}.yaml"
        overlays[shared].write_text(
            f"study: {args.study}\nruntime:\n  shared_process: {str(shared).lower()}\n"
        )
    study_dir = args.workdir / "results" / args.study
    snakemake(args.workdir, [*args.configfile, str(overlays[False])], "--until", "select_groups")
    rows, seconds = [], {False: [], True: []}
    for repeat in range(args.repeats):
        for shared in (False, True):
            with tempfile.TemporaryDirectory(dir=bench) as tmp:
                env = {**os.environ, "TMPDIR": tmp}
                configs = [*args.configfile, str(overlays[shared])]
                wall = snakemake(
                    args.workdir, configs, "--until", "train", "--forcerun", "train", env=env
                )
            jobs = train_job_seconds(study_dir)
            seconds[shared].append(wall)
            rows.append(
                {
                    "date": datetime.date.today().isoformat(),
                    "machine": machine(study_dir),
                    "configs": " ".join(args.configfile),
                    "shared_process": shared,
                    "repeat": repeat,
                    "snakemake_s": round(wall, 2),
                    "train_jobs_s": round(jobs, 2),
                }
            )
            print(
                f"shared_process {str(shared).lower():5}: snakemake {figure(wall)} s, "
                f"train jobs {figure(jobs)} s in all"
            )
    own, warm = (statistics.median(seconds[s]) for s in (False, True))
    print(
        f"median: {figure(own)} s each job in its own process, {figure(warm)} s with one warm "
        f"trainer ({figure(own - warm)} s less)"
    )
    append_rows(args.out, rows)


if __name__ == "__main__":
    main()
