"""End to end: every variant of config/experiments.yaml, one seed of the tiny model, one report.

Checks that each variant runs, that a pruned vocabulary has no never-used tokens (NaN means, N/A
claims, NaN in the vocabulary probe for exactly the unseen ids), and that the report's section
"Why, and what helps" says one computed sentence per variant and draws its figures. (Intervals
over seeds, and a variant's paired differences, are test_workflow.py's: two variants, two seeds.)
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import book_text, prepare_run, snakemake
from unused_tokens.report.outline import FIGURES

pytestmark = pytest.mark.workflow

EXPERIMENTS = yaml.safe_load(
    (Path(__file__).resolve().parent.parent / "config" / "experiments.yaml").read_text()
)
VARIANTS = list(EXPERIMENTS["variants"])


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    overlay = {"variants": EXPERIMENTS["variants"], "seeds": [0]}
    work = prepare_run(tmp_path_factory.mktemp("experiments"), book_text(), overlay)
    snakemake(work)
    return work / "results" / "e2e"


def test_the_overlay_runs_the_baseline_and_every_variant_over_three_seeds():
    assert EXPERIMENTS["seeds"] == [0, 1, 2] and VARIANTS[0] == "baseline"
    assert set(VARIANTS) == {
        "baseline",
        "untied",
        "frozen_unseen",
        "no_decay",
        "decay_matrices",
        "sgd",
        "adam_large_eps",
        "pruned_vocabulary",
        "unigram_bias",
        "inverse_frequency",
        "adaptive_softmax",
    }


def test_every_variant_trained(study):
    steps = pd.read_parquet(study / "aggregate" / "gpt2" / "steps.parquet")
    runs = steps[["variant", "seed"]].drop_duplicates()
    assert sorted(map(tuple, runs.to_numpy())) == sorted((v, 0) for v in VARIANTS)
    losses = steps[steps["quantity"] == "loss"]["value"]
    assert np.isfinite(losses).all()


def test_a_pruned_vocabulary_has_no_never_used_tokens_anywhere(study):
    counts = pd.read_parquet(study / "data" / "pretrain" / "gpt2" / "frequency.parquet")[
        "count"
    ].to_numpy()
    run = study / "runs" / "gpt2" / "pruned_vocabulary" / "seed0"
    log = pd.read_parquet(run / "train" / "training_log.parquet")
    assert log["never_used_masked"].isna().all() and log["least_common_masked"].notna().all()
    assert log["held_out_loss"].isna().all()  # the held-out text holds ids it does not have
    train_log = (run / "logs" / "train.log").read_text()
    assert "held-out loss: not scored, the vocabulary lacks ids of the held-out slice" in train_log
    vocab = pd.read_parquet(run / "probe" / "vocab_logprobs.parquet")
    assert np.array_equal(vocab["trained_mean"].isna().to_numpy(), counts == 0)
    probe = pd.read_parquet(run / "probe" / "untrained_groups.parquet").set_index("group")
    assert probe.loc["never_used", "masked_mean"] != probe.loc["never_used", "masked_mean"]
    assert probe.loc["most_common", "uniform_log_prob"] == pytest.approx(
        -np.log((counts > 0).sum())
    )
    tokens = pd.read_parquet(run / "probe" / "untrained_tokens.parquet")
    assert set(tokens["group"]) == {"most_common", "least_common"}
    assert (counts[tokens["token_id"]] > 0).all()  # tokenizer ids, not model indices
    claims = pd.read_parquet(study / "aggregate" / "gpt2" / "claims.parquet")
    pruned = claims[claims["variant"] == "pruned_vocabulary"].set_index("claim")["result"]
    assert pruned["Never-used tokens fall the most"] == "N/A"
    assert pruned["Training raises the most common tokens"] == "NOT TESTED"  # one seed


def test_adaptive_softmax_probe_tokens_are_tokenizer_ids(study):
    groups = pd.read_parquet(study / "data" / "groups" / "gpt2.parquet")
    tokens = pd.read_parquet(
        study
        / "runs"
        / "gpt2"
        / "adaptive_softmax"
        / "seed0"
        / "probe"
        / "untrained_tokens.parquet"
    )
    assert sorted(tokens["token_id"]) == sorted(groups["token_id"])
    log = (
        study / "runs" / "gpt2" / "adaptive_softmax" / "seed0" / "logs" / "train.log"
    ).read_text()
    assert "runtime.fused_head: off, the adaptive softmax has no single output matrix" in log


def test_the_report_says_what_each_variant_did(study):
    html = (study / "report" / "report.html").read_text()
    assert "Why, and what helps" in html
    for variant in VARIANTS[1:]:
        sentence = re.search(rf"<strong>{variant}</strong> against the baseline[^<]*", html)
        assert sentence, variant
        assert "held-out loss" in sentence[0]
    assert "it has no never-used tokens" in html  # pruned_vocabulary's sentence
    assert "it has no held-out loss (the held-out text holds ids its vocabulary lacks)" in html
    for name in ("variants", "variant_trajectories"):
        assert name in FIGURES
        assert (study / "report" / "figures" / f"{name}.png").stat().st_size > 10_000
