"""A whole study's efficiency as one number: the model FLOPs of all its training steps over its
wall time and the device's peak (the study's MFU), beside the MFU of a step alone.

    .venv/bin/python benchmarks/study_mfu.py results/<study> [--wall-s S] [--peak-tflops P]

FLOPs per token are train_step.py's (6N + 12·L·H·Q·T, N the parameters that multiply), with
each run's own model and vocabulary (its tokenizer's size, or the ids its book uses where
model.vocabulary is corpus), times its steps and its batch's tokens. The wall time is, unless
given, from the first to the last timestamp of the newest Snakemake log of the working directory
(.snakemake/log/): run this after the study's own run, from where it ran (a study that ran
in several invocations, e.g. resumed after a stop, is refused: give its --wall-s). The peak is the
device's dense bf16 peak for an H100 or H200 (train_step.PEAK_BF16_FLOPS), else give it. A step
alone: the step times the train jobs recorded (results/.step_times.tsv), the newest of each kind,
each run's FLOPs per step over its kind's time.
"""

import argparse
import json
import re
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

import pandas as pd  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from train_step import PEAK_BF16_FLOPS, flops_per_token  # noqa: E402

from unused_tokens.pipeline.model_config import GPTConfig  # noqa: E402
from unused_tokens.pipeline.plan import latest_step_times, step_kind  # noqa: E402

SNAKEMAKE_TIME = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$", re.M)
LOG_TIME = "%Y-%m-%d %H:%M:%S"  # how a train job's log line begins


def run_flops(study):
    """One row per training run of the study folder `study`: tokenizer, variant, seed, steps,
    model FLOPs per step and in all, the kind of its step (plan.step_kind) and its device."""
    rows = []
    for log in sorted(study.glob("runs/*/*/seed*/train/training_log.parquet")):
        tokenizer = log.parts[-5]
        meta = {k.decode(): v.decode() for k, v in pq.read_schema(log).metadata.items()}
        run, runtime = json.loads(meta["run"]), json.loads(meta["runtime"])
        model, train = run["model"], run["train"]
        counts = pd.read_parquet(study / f"data/pretrain/{tokenizer}/frequency.parquet")["count"]
        vocab = len(counts) if model["vocabulary"] == "full" else int((counts > 0).sum())
        cfg = GPTConfig(vocab_size=vocab, **model)
        steps = int(pd.read_parquet(log, columns=["step"])["step"].max())
        per_step = flops_per_token(cfg) * train["batch_size"] * model["context"]
        kind = step_kind(model, train["batch_size"], runtime, tokenizer)
        rows.append(
            (
                tokenizer,
                run["variant"],
                run["seed"],
                steps,
                per_step,
                steps * per_step,
                kind,
                meta["device"],
            )
        )
    columns = ["tokenizer", "variant", "seed", "steps", "flops_per_step", "flops", "kind", "device"]
    return pd.DataFrame(rows, columns=columns)


def wall_seconds(log_folder, study):
    """Seconds from the first to the last timestamp of the newest Snakemake log in `log_folder`,
    and that log's path; exits with a line saying so where a training run of `study` began
    before that log did (the study ran in several invocations: the wall time must be given)."""
    newest = max(Path(log_folder).glob("*.snakemake.log"), key=lambda p: p.stat().st_mtime)
    stamps = [
        datetime.strptime(s, "%a %b %d %H:%M:%S %Y")
        for s in SNAKEMAKE_TIME.findall(newest.read_text())
    ]
    trained = [t for t in map(began, study.glob("runs/*/*/seed*/logs/train.log")) if t]
    if trained and min(trained) < min(stamps):
        sys.exit(
            f"{newest} began at {min(stamps)}, after the first training run of {study} "
            f"({min(trained)}): the study ran in several invocations; give its --wall-s"
        )
    return (max(stamps) - min(stamps)).total_seconds(), newest


def began(log):
    """The time of a train job's first log line, or None where its log holds none."""
    try:
        return datetime.strptime(log.read_text()[:19], LOG_TIME)
    except ValueError:
        return None


def device_peak(devices):
    """The dense bf16 peak of the one device the runs name, where train_step knows it."""
    known = {peak for name, peak in PEAK_BF16_FLOPS.items() for d in devices if name in d}
    return known.pop() if len(known) == 1 else None


def step_mfu(runs, peak, step_times):
    """Each run's FLOPs per step over its kind's newest recorded time per step, over `peak`; the
    median over the runs whose kind has a time (None where none has)."""
    mfu = [
        flops / step_times[kind] / peak
        for flops, kind in zip(runs["flops_per_step"], runs["kind"], strict=True)
        if kind in step_times
    ]
    return float(pd.Series(mfu).median()) if mfu else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path, help="results/<study>")
    parser.add_argument("--wall-s", type=float, help="the study's wall time (default: its log)")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak (default: known GPUs)")
    parser.add_argument("--log-folder", type=Path, default=Path(".snakemake/log"))
    args = parser.parse_args(argv)
    runs = run_flops(args.study)
    if runs.empty:
        sys.exit(f"{args.study}: no training logs under runs/; give a study's results folder")
    if args.wall_s is None:
        wall, source = wall_seconds(args.log_folder, args.study)
    else:
        wall, source = args.wall_s, "given"
    peak = args.peak_tflops * 1e12 if args.peak_tflops else device_peak(set(runs["device"]))
    if peak is None:
        sys.exit(f"no known peak for {sorted(set(runs['device']))}: give --peak-tflops")
    total = runs["flops"].sum()
    print(
        f"{args.study}: {len(runs)} runs, {runs['steps'].sum():,} steps, {total:.3g} model FLOPs; "
        f"wall {wall:.0f} s ({source}); peak {peak / 1e12:g} TFLOP/s"
    )
    print(f"study MFU: {total / wall / peak:.1%}")
    alone = step_mfu(runs, peak, latest_step_times())
    print(
        "a step alone: "
        + (f"{alone:.1%} (median over the runs)" if alone is not None else "no step time recorded")
    )


if __name__ == "__main__":
    main()
