"""Time the train rule from a cold process to its written outputs, first and second run.

Makes the train rule's inputs once (download to select_groups), then runs only the train rule of
one run (the baseline, seed 0) twice with `snakemake --forcerun train`: first with an empty
torch.compile cache, then with the cache the first run filled. Prints, per run, the job's
seconds from Snakemake's benchmark file (process start, imports, compilation, training, written
outputs), the whole snakemake command's seconds, and what the train log says about the device,
the precision and compilation; appends the same as rows to
benchmarks/train_rule.csv. The configs are the user's: add config/fast.yaml to time the
compiled step.

    .venv/bin/python benchmarks/train_rule.py --configfile config/offline.yaml config/fast.yaml
"""

import argparse
import csv
import datetime
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from rows import append_rows

ROOT = Path(__file__).resolve().parent.parent
RUNS = ("cold cache", "warm cache")


def snakemake(workdir, configfiles, *args):
    """Run snakemake in `workdir`; seconds it took. Its output is shown only if it fails."""
    cmd = [sys.executable, "-m", "snakemake", "--cores", "all", *args, "--configfile", *configfiles]
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"snakemake failed in {workdir}:\n{result.stdout}{result.stderr}")
    return time.perf_counter() - started


def train_log_facts(log_path):
    """(device, precision, compile line or 'not compiled') from the train rule's log."""
    text = log_path.read_text()
    device = re.search(r"device: ((?:cpu|cuda)\b.*)", text)
    precision = re.search(r"precision: (\w+)", text)
    compiled = re.search(r"(torch\.compile: .*) \(cache", text)
    return (
        device.group(1) if device else "?",
        precision.group(1) if precision else "?",
        compiled.group(1) if compiled else "not compiled",
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=ROOT, help="where the workflow is")
    parser.add_argument("--configfile", nargs="+", default=[], help="config overlays, in order")
    parser.add_argument("--study", default="bench-train-rule", help="results/<study>/")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "train_rule.csv")
    args = parser.parse_args(argv)

    bench = Path("results") / args.study / "bench"  # its overlay and its own compile cache
    shutil.rmtree(args.workdir / bench, ignore_errors=True)  # the first run compiles from cold
    (args.workdir / bench).mkdir(parents=True)
    cache, overlay = bench / "torch-compile", args.workdir / bench / "overlay.yaml"
    overlay.write_text(f"study: {args.study}\nseeds: [0]\nruntime:\n  compile_cache: {cache}\n")
    configfiles = [*args.configfile, str(overlay)]
    run_dir = args.workdir / "results" / args.study / "runs" / "gpt2" / "baseline" / "seed0"
    target = str(run_dir.relative_to(args.workdir) / "train" / "training_log.parquet")
    snakemake(args.workdir, configfiles, "--until", "select_groups")
    rows = []
    for run in RUNS:
        seconds = snakemake(args.workdir, configfiles, target, "--forcerun", "train")
        with open(run_dir / "benchmarks" / "train.tsv") as f:
            job_s = float(next(csv.DictReader(f, delimiter="\t"))["s"])
        device, precision, compiled = train_log_facts(run_dir / "logs" / "train.log")
        rows.append(
            {
                "date": datetime.date.today().isoformat(),
                "device": device,
                "precision": precision,
                "configs": " ".join(args.configfile),
                "run": run,
                "train_job_s": round(job_s, 2),
                "snakemake_s": round(seconds, 2),
                "compile": compiled,
            }
        )
        print(
            f"{run}: train job {job_s:.1f} s (cold process to written outputs), "
            f"snakemake {seconds:.1f} s; {compiled}; device {device}, {precision}"
        )
    append_rows(args.out, rows)
    print(f"the compile cache is {cache}")


if __name__ == "__main__":
    main()
