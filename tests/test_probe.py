"""GroupProbe and probe_groups against a plain loop over samples, positions and tokens."""

import logging
import math

import numpy as np
import pandas as pd
import pytest
import torch

from unused_tokens.model.gpt import build_model
from unused_tokens.pipeline import schemas
from unused_tokens.pipeline.model_config import GPTConfig
from unused_tokens.pipeline.study import ProbeSettings
from unused_tokens.training import probe as probe_module
from unused_tokens.training.batches import random_windows
from unused_tokens.training.hardware import resolve_precision
from unused_tokens.training.probe import (
    GroupProbe,
    masking_control,
    probe_groups,
    unigram_groups,
    vocab_means,
    within_token_copying,
)

GROUPS = {"most_common": [1, 2], "least_common": [4], "never_used": [5, 0]}
FP32 = resolve_precision("fp32", "cpu")


def reference_means(lp, x, groups):
    """Masked and unmasked group means by explicit loops (the definition in probe.py)."""
    out = {}
    for name, ids in groups.items():
        masked, unmasked = [], []
        for b in range(lp.shape[0]):
            for t in range(lp.shape[1]):
                for i in ids:
                    unmasked.append(lp[b, t, i].item())
                    if i not in x[b].tolist():
                        masked.append(lp[b, t, i].item())
        out[name] = (np.mean(masked) if masked else math.nan, np.mean(unmasked))
    return out


def test_group_means_match_the_definition():
    torch.manual_seed(0)
    lp = torch.log_softmax(torch.randn(3, 4, 6), dim=-1)
    x = torch.tensor([[1, 1, 3, 3], [2, 4, 3, 3], [3, 3, 3, 3]])
    probe = GroupProbe(GROUPS)
    got = probe.group_means(lp[..., probe.ids], x)
    expected = reference_means(lp, x, GROUPS)
    for row, name in zip(got.tolist(), GROUPS, strict=True):
        assert row == pytest.approx(expected[name], rel=1e-6)
    # sample 0 holds token 1 and sample 1 token 2: masking changes most_common, not never_used
    assert got[0, 0] != pytest.approx(got[0, 1])
    assert got[2, 0] == pytest.approx(got[2, 1])


def test_fully_masked_group_is_nan_not_a_number_made_up():
    lp = torch.log_softmax(torch.zeros(1, 2, 6), dim=-1)
    got = GroupProbe({"g": [1]}).group_means(lp[..., [1]], torch.tensor([[1, 2]]))
    assert math.isnan(got[0, 0]) and got[0, 1] == pytest.approx(-math.log(6))


def test_untrained_probe_tables():
    cfg = GPTConfig(vocab_size=50, context=8, n_embd=16, n_head=2, n_layer=1)
    model = build_model(cfg, seed=0)
    tokens = torch.randint(0, 10, (500,), generator=torch.Generator().manual_seed(0))
    groups = {"most_common": [0, 1, 2], "least_common": [7, 8], "never_used": [30, 40]}
    group_table, token_table = probe_groups(model, tokens, groups, ProbeSettings(3, 4, 5), FP32)
    assert group_table["group"].tolist() == list(groups)
    assert (group_table["uniform_log_prob"] == -math.log(50)).all()
    assert (group_table[["masked_mean", "unmasked_mean"]] + math.log(50)).abs().max().max() < 0.05
    never = group_table.set_index("group").loc["never_used"]
    assert never["masked_mean"] == never["unmasked_mean"] and never["masked_out_fraction"] == 0
    generator = torch.Generator().manual_seed(5)
    windows = [random_windows(tokens, 4, cfg.context, generator)[0] for _ in range(3)]
    present = [int(t) in w.tolist() for x in windows for w in x for t in groups["most_common"]]
    most = group_table.set_index("group").loc["most_common"]
    assert most["masked_out_fraction"] == pytest.approx(np.mean(present))
    assert token_table["token_id"].tolist() == [0, 1, 2, 7, 8, 30, 40]
    # token means weighted by their unmasked counts give back the group mean
    most = token_table[token_table["group"] == "most_common"]
    assert most["unmasked_mean"].mean() == pytest.approx(group_table.loc[0, "unmasked_mean"])
    again, _ = probe_groups(model, tokens, groups, ProbeSettings(3, 4, 5), FP32)
    assert again.equals(group_table)
    # the same means as from the full log-softmax (model.forward) of the same batches
    probe, generator = GroupProbe(groups), torch.Generator().manual_seed(5)
    with torch.no_grad():
        sums = [
            probe.token_sums(model(x)[..., probe.ids], x)
            for x, _ in (random_windows(tokens, 4, cfg.context, generator) for _ in range(3))
        ]
    totals = (sum(parts).double() for parts in zip(*sums, strict=True))
    masked, masked_n, unmasked, unmasked_n = totals
    np.testing.assert_allclose(token_table["masked_mean"], masked / masked_n, rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        token_table["unmasked_mean"], unmasked / unmasked_n, rtol=0, atol=1e-6
    )


def test_vocab_means_are_the_full_log_softmax_averaged_and_logits_differ_by_the_normaliser():
    cfg = GPTConfig(vocab_size=50, context=8, n_embd=16, n_head=2, n_layer=1)
    model = build_model(cfg, seed=1)
    tokens = torch.randint(0, 50, (300,), generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        expected = torch.stack(
            [model(random_windows(tokens, 3, cfg.context, generator)[0]) for _ in range(2)]
        )
    counts = np.r_[np.ones(30), np.zeros(20)]  # ids 30..49 never occur
    got = vocab_means(model, tokens, ProbeSettings(batches=2, batch_size=3, seed=2), FP32, counts)
    assert got.log_probs.shape == got.logits.shape == got.within_corpus.shape == (50,)
    np.testing.assert_allclose(got.log_probs, expected.double().mean(dim=(0, 1, 2)), atol=1e-6)
    normaliser = got.logits - got.log_probs  # the mean logsumexp, the same for every id
    np.testing.assert_allclose(normaliser, normaliser.mean(), rtol=0, atol=1e-6)
    assert normaliser.mean() > 0  # logsumexp of 50 logits that start near 0: about ln 50
    renormalised = expected[..., :30] - expected[..., :30].logsumexp(dim=-1, keepdim=True)
    np.testing.assert_allclose(
        got.within_corpus[:30], renormalised.double().mean(dim=(0, 1, 2)), rtol=0, atol=1e-6
    )
    assert np.isnan(got.within_corpus[30:]).all()


def test_a_unigram_predictor_is_masked_like_a_model_by_a_plain_loop():
    """A context-free predictor gives tokens 0 and 1 log-probabilities -1 and -3 everywhere.
    Unmasked, the group's mean is theirs, -2, whatever the batches; masked, each sample leaves
    out the group tokens in its input, so the mean leans toward the token it keeps."""
    log_probs = np.array([-1.0, -3.0, -5.0])
    tokens = torch.tensor([0, 2, 2, 2, 2, 2, 0, 2, 2, 1, 2])
    settings = ProbeSettings(batches=2, batch_size=3, seed=0)
    table, token_table = unigram_groups(log_probs, tokens, {"g": [0, 1]}, settings, context=2)
    assert token_table["token_id"].tolist() == [0, 1]
    generator = torch.Generator().manual_seed(0)
    inputs = [random_windows(tokens, 3, 2, generator)[0] for _ in range(2)]
    kept = [log_probs[t] for x in inputs for w in x for t in (0, 1) if t not in w.tolist()]
    row = table.iloc[0]
    assert row["unmasked_mean"] == pytest.approx(-2.0)
    assert row["masked_mean"] == pytest.approx(np.mean(kept))
    assert row["masked_out_fraction"] == pytest.approx(1 - len(kept) / 12)


def test_the_masking_control_holds_the_trained_model_and_the_unigram_predictor():
    cfg = GPTConfig(vocab_size=50, context=8, n_embd=16, n_head=2, n_layer=1)
    tokens = torch.randint(0, 10, (500,), generator=torch.Generator().manual_seed(0))
    counts = np.bincount(tokens.numpy(), minlength=50)
    groups = {"most_common": [0, 1, 2], "least_common": [7, 8], "never_used": [30, 40]}
    settings = ProbeSettings(3, 4, 5)
    table = masking_control(build_model(cfg, 0), tokens, groups, settings, FP32, counts)
    assert table.columns.tolist() == schemas.MASKING_CONTROL.names
    assert table["predictor"].tolist() == ["trained"] * 3 + ["unigram"] * 3
    unigram = table[table["predictor"] == "unigram"].set_index("group")
    never = unigram.loc["never_used"]  # count 0: the documented floor, never masked
    floor = np.log(1e-3 / (counts.sum() + 1e-3 * (counts == 0).sum()))
    assert never["masked_mean"] == never["unmasked_mean"] == pytest.approx(floor)
    assert unigram.loc["most_common", "within_token_copying"] == pytest.approx(0, abs=1e-6)
    assert np.isnan(never["within_token_copying"])  # never in an input: nothing to compare


def test_within_token_copying_compares_each_token_with_itself():
    """Token 1 is present in a quarter of the samples, at -2 there and -4 elsewhere; token 2 is
    never present (left out); token 3 is present in half, at -1 there and -1.5 elsewhere."""
    table = pd.DataFrame(
        {
            "group": ["a", "a", "a", "b"],
            "token_id": [1, 2, 3, 4],
            "masked_mean": [-4.0, -6.0, -1.5, -3.0],
            "unmasked_mean": [0.25 * -2 + 0.75 * -4, -6.0, 0.5 * -1 + 0.5 * -1.5, -3.0],
            "masked_out_fraction": [0.25, 0.0, 0.5, 1.0],
        }
    )
    copying = within_token_copying(table)
    assert copying["a"] == pytest.approx((2.0 + 0.5) / 2)
    assert np.isnan(copying["b"])  # present everywhere: nothing to compare it with


def test_a_long_probe_says_how_far_it_is(monkeypatch, caplog):
    """A line per batch once INTERVAL_S has passed (here at once: the interval is 0 s)."""
    monkeypatch.setattr(probe_module, "INTERVAL_S", 0)
    caplog.set_level(logging.INFO)
    cfg = GPTConfig(vocab_size=50, context=8, n_embd=16, n_head=2, n_layer=1)
    tokens = torch.randint(0, 10, (500,), generator=torch.Generator().manual_seed(0))
    probe_groups(build_model(cfg, seed=0), tokens, GROUPS, ProbeSettings(3, 4, 5), FP32)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("probe: ")]
    assert lines == [f"probe: {i} of 3 batches in 0:00:00" for i in (1, 2, 3)]
