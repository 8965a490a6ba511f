"""Time `snakemake -n` of a study against `snakemake -n` of an empty Snakefile, in turns, from a
cold process each time: what parsing the workflow costs every snakemake call (and, on a cluster,
every job). Prints the median and range of each and of their difference, in seconds.

    .venv/bin/python benchmarks/dry_run.py [--runs 5] [--configfile <overlays>]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICK = ["config/offline.yaml", "config/smoke.yaml"]


def seconds(command, cwd):
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def summary(values):
    low, high = min(values), max(values)
    return f"median {statistics.median(values):.2f} s (min {low:.2f}, max {high:.2f})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--configfile", nargs="+", default=QUICK)
    args = parser.parse_args(argv)
    snakemake = [sys.executable, "-m", "snakemake", "-n", "--cores", "1"]
    study = [*snakemake, "--configfile", *args.configfile]
    with tempfile.TemporaryDirectory() as empty:
        (Path(empty) / "Snakefile").write_text("")
        times = {"study": [], "empty": []}
        for _ in range(args.runs):  # in turns, so that a drift in the machine's speed hits both
            times["study"].append(seconds(study, ROOT))
            times["empty"].append(seconds(snakemake, empty))
    difference = [a - b for a, b in zip(times["study"], times["empty"], strict=True)]
    print(f"snakemake -n --configfile {' '.join(args.configfile)}: {summary(times['study'])}")
    print(f"snakemake -n of an empty Snakefile: {summary(times['empty'])}")
    print(f"the workflow's own cost, run by run: {summary(difference)}")


if __name__ == "__main__":
    main()
