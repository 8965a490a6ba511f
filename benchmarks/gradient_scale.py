"""Print how large the untrained model's gradient is on the output rows, by count bucket.

What Adam's epsilon has to be compared with: Adam divides each element's step by the root of its
second moment plus epsilon, so an epsilon far above a row's gradient makes that row's step
proportional to the gradient (as SGD's is) while rows with larger gradients keep Adam's
scale-free step. Builds a study's untrained model (seed 0's initialisation), takes `--batches`
training batches of the study's book, and prints, per count bucket (weights.COUNT_BUCKETS), the
median over rows of the per-element root-mean-square gradient of the tied output rows, and the
mean cosine of the count-0 rows' gradients with their mean.

    .venv/bin/python benchmarks/gradient_scale.py results/smoke [--configfile config/smoke.yaml]
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from rows import figure  # noqa: E402

from unused_tokens.analysis.detection import COUNT_BUCKETS, bucket_of  # noqa: E402
from unused_tokens.analysis.weights import unit_rows  # noqa: E402
from unused_tokens.data.groups import read_groups  # noqa: E402
from unused_tokens.data.tokens import read_tokens  # noqa: E402
from unused_tokens.model.gpt import build_model  # noqa: E402
from unused_tokens.pipeline.step_options import BASELINE  # noqa: E402
from unused_tokens.pipeline.study import Study  # noqa: E402
from unused_tokens.training.batches import random_windows  # noqa: E402
from unused_tokens.training.step import TrainStep  # noqa: E402


def merged(base, overlay):
    for key, value in overlay.items():
        base[key] = merged(base.get(key, {}), value) if isinstance(value, dict) else value
    return base


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path, help="a study's results folder (its data/ is read)")
    parser.add_argument(
        "--configfile", nargs="*", default=["config/smoke.yaml"], help="overlays (from the root)"
    )
    parser.add_argument("--batches", type=int, default=8)
    args = parser.parse_args(argv)
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    for path in args.configfile:
        merged(config, yaml.safe_load((ROOT / path).read_text()))
    study = Study.from_config(config)
    run = study.run("baseline", 0)
    counts = pd.read_parquet(args.study / "data/pretrain/gpt2/frequency.parquet")[
        "count"
    ].to_numpy()
    tokens = torch.from_numpy(
        read_tokens(args.study / "data/pretrain/gpt2/tokens.parquet").astype(np.int64)
    )
    groups = read_groups(args.study / "data/groups/gpt2.parquet")
    model = build_model(run.model_config(len(counts)), run.init_seed)
    step = TrainStep(model, groups, run.train, "cpu", BASELINE)
    generator = torch.Generator().manual_seed(run.window_seed)
    squares = torch.zeros_like(model.output_weight, dtype=torch.float64)
    first = None
    for _ in range(args.batches):
        x, y = random_windows(tokens, run.train.batch_size, model.cfg.context, generator)
        step(x, y)  # an update too: the rows then start the next batch a step further
        grad = model.output_weight.grad.detach().double()
        squares += grad**2
        first = grad if first is None else first
    rms = (squares / args.batches).mean(dim=1).sqrt().numpy()
    buckets = bucket_of(counts)
    print(f"per-element RMS gradient of the output rows over {args.batches} batches (median):")
    for label in COUNT_BUCKETS:
        chosen = buckets == label
        if chosen.any():
            print(
                f"  count {label:>6}: {figure(float(np.median(rms[chosen])))} ({chosen.sum()} rows)"
            )
    unseen = torch.from_numpy(counts == 0)
    mean = first[unseen].mean(dim=0)
    cosine = (unit_rows(first[unseen]) @ (mean / mean.norm())).mean().item()
    print(f"count-0 rows' first gradients: mean cosine with their mean {cosine:.5f}")


if __name__ == "__main__":
    main()
