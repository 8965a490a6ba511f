"""Time the aggregation and the report's figures for a study of many runs, from one real run.

Reads one run's files (training log, untrained probe, vocabulary probe) once for each of
VARIANTS x SEEDS runs, each log shifted by a small seeded offset so that the runs differ, then
times what the aggregate rule and the report do with them: the long table, the endpoints, the
summaries and paired differences, the claims, and the training and variants figures.

    .venv/bin/python benchmarks/aggregate_study.py results/smoke   # a finished study
"""

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from unused_tokens.analysis import aggregate  # noqa: E402
from unused_tokens.analysis.claims import claims, run_measures  # noqa: E402
from unused_tokens.report import figures  # noqa: E402

RUN_FILES = (
    "train/training_log.parquet",
    "probe/untrained_groups.parquet",
    "probe/vocab_logprobs.parquet",
    "probe/masking_control.parquet",
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path, help="a finished study's folder, results/<study>")
    parser.add_argument("--variants", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)

    run = args.study / "runs" / "gpt2" / "baseline" / "seed0"
    frequency = args.study / "data" / "pretrain" / "gpt2" / "frequency.parquet"
    counts = pd.read_parquet(frequency)["count"].to_numpy()
    runs = [
        ("baseline" if v == 0 else f"v{v}", s)
        for v in range(args.variants)
        for s in range(args.seeds)
    ]
    rng = np.random.default_rng(0)
    timings, started = {}, time.perf_counter()
    files = {}
    for run_id in runs:  # what the aggregate rule reads: four files per run
        files[run_id] = [pd.read_parquet(run / path) for path in RUN_FILES]
        files[run_id][0].iloc[:, 1:] += rng.normal(0, 0.05)  # seeds and variants differ
    timings["read every run's four files"] = time.perf_counter() - started

    started = time.perf_counter()
    logs = {run_id: log for run_id, (log, *_) in files.items()}
    probes = {run_id: probe for run_id, (_, probe, *_) in files.items()}
    controls = {run_id: control for run_id, (*_, control) in files.items()}
    measures = pd.DataFrame(
        [
            {"variant": v, "seed": s, **run_measures(probe, vocab, counts, control)}
            for (v, s), (_, probe, vocab, control) in files.items()
        ]
    )
    long = aggregate.long_log(logs)
    ends = aggregate.endpoints(long, probes, controls)
    summary = aggregate.summary(ends)
    aggregate.paired_differences(ends)
    table = claims(measures)
    timings["measures, endpoints, summary, differences, claims"] = time.perf_counter() - started
    started = time.perf_counter()
    bands = aggregate.describe(long[long["variant"] == "baseline"], ["quantity", "step"])
    figures.plot_training(bands)
    figures.plot_variants(summary)
    timings["training and variants figures"] = time.perf_counter() - started

    print(f"{len(runs)} runs ({args.variants} variants x {args.seeds} seeds), {len(long):,} rows")
    for what, seconds in timings.items():
        print(f"{seconds:7.2f} s  {what}")
    print(f"{sum(timings.values()):7.2f} s  in all; {len(table)} claim rows")


if __name__ == "__main__":
    main()
