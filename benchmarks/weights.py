"""Time the weights stage's computations on GPT-2-sized matrices (50,257 x 768 by default).

Builds two models of the chosen preset (an untrained one and, standing in for a trained one,
another initialisation), a count vector with a realistic share of zeros, and times
weights.features (norms, cosines, the detector's scores), weights.geometry (by count bucket,
the never-used rows' collapse) and weights.detection (ROC AUC and precision at k of three
methods). Prints each one's seconds and the process's peak memory.

    .venv/bin/python benchmarks/weights.py [--threads 2]
"""

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "workflow" / "scripts"))

from unused_tokens.analysis.detection import detection, reference_ids  # noqa: E402
from unused_tokens.analysis.weights import features, geometry  # noqa: E402
from unused_tokens.model.gpt import build_model  # noqa: E402
from unused_tokens.pipeline.model_config import GPTConfig  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--unused-share", type=float, default=0.8, help="ids with count 0")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = GPTConfig()
    untrained, trained = build_model(cfg, seed=0), build_model(cfg, seed=1)
    rng = np.random.default_rng(0)
    counts = np.where(
        rng.random(cfg.vocab_size) < args.unused_share, 0, rng.integers(1, 500, cfg.vocab_size)
    )
    final = rng.normal(-12, 2, cfg.vocab_size)
    print(
        f"{cfg.vocab_size:,} x {cfg.n_embd} rows, {int((counts == 0).sum()):,} with count 0, "
        f"{args.threads} threads"
    )
    started = time.perf_counter()
    table = features(
        trained,
        untrained,
        np.arange(cfg.vocab_size),
        counts,
        final,
        reference_ids(counts, 50, seed=0),
    )
    timed = {"features": time.perf_counter() - started}
    started = time.perf_counter()
    geometry(trained, untrained, counts)
    timed["geometry"] = time.perf_counter() - started
    started = time.perf_counter()
    detection(table)
    timed["detection"] = time.perf_counter() - started
    for name, seconds in timed.items():
        print(f"{name:<10} {seconds:6.2f} s")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:,.0f} MB")


if __name__ == "__main__":
    main()
