"""The remedies that change the output layer's vocabulary: pruning to the ids of the corpus, and
the adaptive softmax over frequency-ordered ids."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from unused_tokens.model.gpt import build_model
from unused_tokens.model.vocabulary import Vocabulary
from unused_tokens.pipeline.config import ADAPTIVE_HINT
from unused_tokens.pipeline.model_config import GPTConfig
from unused_tokens.pipeline.step_options import BASELINE, FAST, PIPELINE
from unused_tokens.pipeline.study import ProbeSettings, TrainSettings
from unused_tokens.training.batches import random_windows
from unused_tokens.training.hardware import resolve_precision
from unused_tokens.training.probe import probe_groups, vocab_means
from unused_tokens.training.step import TrainStep

COUNTS = np.array([3, 0, 5, 0, 1, 5, 0, 2])  # ids 1, 3 and 6 never occur
GROUPS = {"most_common": [2, 5], "least_common": [4], "never_used": [1, 3, 6]}
SETTINGS = TrainSettings(steps=3, batch_size=4, lr=3e-3, weight_decay=0.01)
PROBE = ProbeSettings(batches=2, batch_size=4, seed=1)
FP32 = resolve_precision("fp32", "cpu")


def test_a_pruned_vocabulary_keeps_the_ids_that_occur_in_id_order():
    vocabulary = Vocabulary.of(COUNTS, "corpus")
    assert vocabulary.ids.tolist() == [0, 2, 4, 5, 7]
    assert vocabulary.counts.tolist() == [3, 5, 1, 5, 2]
    assert vocabulary.index.tolist() == [0, -1, 1, -1, 2, 3, -1, 4]
    assert vocabulary.encode(torch.tensor([7, 0, 5])).tolist() == [4, 0, 3]
    groups = vocabulary.encode_groups(GROUPS)
    assert {k: v.tolist() for k, v in groups.items()} == {
        "most_common": [1, 3],
        "least_common": [2],
        "never_used": [],
    }
    decoded = vocabulary.decode(np.array([10.0, 12, 14, 15, 17]))
    assert np.array_equal(decoded, [10, np.nan, 12, np.nan, 14, 15, np.nan, 17], equal_nan=True)
    with pytest.raises(ValueError, match="a token id has no index in the model's vocabulary"):
        vocabulary.encode(torch.tensor([0, 1]))


def test_frequency_order_puts_the_most_frequent_first_and_breaks_ties_by_id():
    assert Vocabulary.of(COUNTS, by_frequency=True).ids.tolist() == [2, 5, 0, 7, 4, 1, 3, 6]
    assert Vocabulary.of(COUNTS, "corpus", by_frequency=True).ids.tolist() == [2, 5, 0, 7, 4]
    assert Vocabulary.of(COUNTS).ids.tolist() == list(range(8))


CFG = GPTConfig(vocab_size=64, context=8, n_embd=16, n_head=2, n_layer=1)


def test_a_pruned_softmax_sums_to_one_over_the_used_ids():
    counts = np.r_[np.ones(40, dtype=int), np.zeros(24, dtype=int)]
    vocabulary = Vocabulary.of(counts, "corpus")
    model = build_model(replace(CFG, vocabulary="corpus", vocab_size=len(vocabulary.ids)), seed=0)
    log_probs = model(torch.randint(0, 40, (2, 8)))
    assert log_probs.shape == (2, 8, 40)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(2, 8))


def test_pruning_changes_nothing_when_every_id_occurs():
    """On a hand-made corpus where every id occurs, the pruned model is the full one: the same
    initialisation, the same loss, the same log rows."""
    tokens = torch.arange(64).repeat(20)[
        torch.randperm(1280, generator=torch.Generator().manual_seed(0))
    ]
    counts = np.bincount(tokens.numpy(), minlength=64)
    vocabulary = Vocabulary.of(counts, "corpus")
    assert vocabulary.ids.tolist() == list(range(64))
    groups = vocabulary.encode_groups(
        {"most_common": [1, 2], "least_common": [9], "never_used": [40]}
    )
    rows = {}
    for name in ("full", "corpus"):
        step = TrainStep(
            build_model(replace(CFG, vocabulary=name), 0), groups, SETTINGS, "cpu", BASELINE
        )
        x, y = random_windows(vocabulary.encode(tokens), 4, 8, torch.Generator().manual_seed(2))
        rows[name] = torch.stack([step(x, y) for _ in range(3)])
    torch.testing.assert_close(rows["corpus"], rows["full"], rtol=0, atol=0)


ADAPTIVE = replace(CFG, vocab_size=64, tied=False, head="adaptive")


def test_the_adaptive_softmax_is_a_distribution_and_its_loss_is_that_of_its_log_probs():
    model = build_model(ADAPTIVE, seed=0)
    assert ADAPTIVE.cutoffs == [32]  # a vocabulary below ADAPTIVE_CUTOFFS: one cut at half
    assert GPTConfig(tied=False, head="adaptive").cutoffs == [2_000, 10_000]
    x, y = torch.randint(0, 64, (2, 8)), torch.randint(0, 64, (2, 8))
    log_probs = model(x)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(2, 8))
    own_loss = model.adaptive(model.hidden(x).flatten(0, 1), y.flatten()).loss
    gathered = -log_probs.gather(-1, y[..., None]).mean()
    torch.testing.assert_close(gathered, own_loss)


def test_an_adaptive_model_needs_its_own_output_layers():
    with pytest.raises(ValueError, match="model.head: adaptive has output layers of its own"):
        GPTConfig(head="adaptive")  # tied by default
    with pytest.raises(ValueError, match="model.head='soft' is not one of"):
        GPTConfig(head="soft")
    assert "set tied: false and output_bias: false" in ADAPTIVE_HINT


@pytest.mark.parametrize(
    "fast",
    [
        pytest.param(PIPELINE, id="pipeline"),
        pytest.param(FAST, id="compiled", marks=pytest.mark.compile),
    ],
)
def test_the_adaptive_softmax_under_every_speed_option(fast, caplog):
    """The fused head falls back to the plain head with a log line; compiled, the numbers stay."""
    groups = {"most_common": [0, 1], "least_common": [40], "never_used": [60]}
    x, y = torch.randint(0, 64, (4, 8)), torch.randint(0, 64, (4, 8))
    rows = {}
    with caplog.at_level("INFO"):
        for name, options in (("plain", BASELINE), ("fused", fast)):
            step = TrainStep(
                build_model(ADAPTIVE, 0),
                groups,
                SETTINGS,
                "cpu",
                replace(options, precision="fp32"),
            )
            rows[name] = torch.stack([step(x, y) for _ in range(3)])
    assert (
        "runtime.fused_head: off, the adaptive softmax has no single output matrix" in caplog.text
    )
    torch.testing.assert_close(rows["fused"], rows["plain"], rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="train.freeze_unseen needs model.head: softmax"):
        TrainStep(build_model(ADAPTIVE, 0), groups, SETTINGS, "cpu", PIPELINE, frozen_rows=[60])


def test_probes_of_an_adaptive_and_a_pruned_model():
    """The probes read the adaptive softmax's full output; a group with no tokens has NaN means."""
    tokens = torch.randint(0, 40, (500,), generator=torch.Generator().manual_seed(0))
    groups = {"most_common": [0, 1], "least_common": [39], "never_used": []}
    model = build_model(ADAPTIVE, seed=0)
    table, tokens_table = probe_groups(model, tokens, groups, PROBE, FP32)
    assert table["masked_mean"].isna().tolist() == [False, False, True]
    assert len(tokens_table) == 3
    means, logits, within = vocab_means(model, tokens, PROBE, FP32, np.ones(64))
    assert means.shape == (64,) and np.isfinite(means).all()
    assert logits.shape == within.shape == (64,)
    assert np.isnan(logits).all() and np.isnan(within).all()  # no single output layer
    with torch.no_grad():
        full = torch.cat([model(x) for x, _ in _probe_batches(tokens)]).double().mean(dim=(0, 1))
    np.testing.assert_allclose(means, full.numpy(), rtol=0, atol=1e-5)


def _probe_batches(tokens):
    generator = torch.Generator().manual_seed(PROBE.seed)
    return [random_windows(tokens, PROBE.batch_size, 8, generator) for _ in range(PROBE.batches)]
