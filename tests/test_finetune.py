"""Fine-tuning: the new group, the reset of unseen rows, the split loss, the level and its step."""

import numpy as np
import pandas as pd
import pytest
import torch

from unused_tokens.analysis.finetune_results import claims, steps_to_level, unigram_level
from unused_tokens.data.groups import finetune_groups
from unused_tokens.model.gpt import build_model
from unused_tokens.pipeline.errors import PipelineError
from unused_tokens.pipeline.model_config import GPTConfig
from unused_tokens.pipeline.step_options import BASELINE, PIPELINE
from unused_tokens.pipeline.study import TrainSettings
from unused_tokens.training.finetune import reset_unseen_rows
from unused_tokens.training.step import TrainStep

CFG = GPTConfig(vocab_size=64, context=8, n_embd=16, n_head=2, n_layer=1)


def frequency(counts):
    ids = np.arange(len(counts))
    return pd.DataFrame({"token_id": ids, "count": counts, "token_text": [f"t{i}" for i in ids]})


def test_the_new_group_is_the_second_books_most_frequent_tokens_the_first_never_uses():
    pretrain = frequency([5, 0, 3, 0, 0, 1, 0, 0])
    finetune = frequency([2, 4, 0, 4, 1, 0, 0, 9])
    groups = pd.DataFrame(
        {
            "group": ["most_common", "least_common", "never_used"],
            "position": [0, 0, 0],
            "token_id": [0, 5, 6],
        }
    )
    table = finetune_groups(groups, pretrain, finetune, size=3)
    new = table[table["group"] == "new_in_finetune"]
    assert new["token_id"].tolist() == [7, 1, 3]  # by count, the tie (4, 4) by id
    assert (new["pretrain_count"] == 0).all() and (new["finetune_count"] > 0).all()
    assert table["group"].tolist()[:3] == ["most_common", "least_common", "never_used"]
    assert table["pretrain_count"].tolist()[:3] == [5, 1, 0]
    assert table["finetune_count"].tolist() == [2, 0, 0, 9, 4, 4]
    assert table["token_text"].tolist()[3:] == ["t7", "t1", "t3"]


def test_a_second_book_with_too_few_new_tokens_is_refused_by_name():
    pretrain = frequency([5, 0, 3, 0, 0, 1, 0, 0])
    same = frequency([5, 0, 3, 0, 0, 1, 0, 2])  # one token the first book never uses
    groups = pd.DataFrame({"group": ["most_common"], "position": [0], "token_id": [0]})
    with pytest.raises(PipelineError) as err:
        finetune_groups(groups, pretrain, same, size=3)
    assert str(err.value) == (
        "the second book (finetune.corpus) uses only 1 of the tokens the first never does, fewer "
        "than groups.size=3: fine-tune on a book with more new tokens, or lower groups.size"
    )


@pytest.mark.parametrize("tied", [True, False])
def test_the_reset_sets_exactly_the_unseen_rows_to_the_mean_of_the_others(tied):
    model = build_model(GPTConfig(**{**CFG.__dict__, "tied": tied}), seed=0)
    counts = np.random.default_rng(0).integers(0, 3, CFG.vocab_size)  # about a third are 0
    before = {name: t.clone() for name, t in model.state_dict().items()}
    unseen = reset_unseen_rows(model, counts)
    assert unseen.tolist() == np.flatnonzero(counts == 0).tolist()
    matrices = ["wte.weight"] + ([] if tied else ["head.weight"])
    for name, tensor in model.state_dict().items():
        if name not in matrices:
            assert torch.equal(tensor, before[name]), name  # bit-identical
            continue
        seen = counts > 0
        assert torch.equal(tensor[seen], before[name][seen]), name
        mean = before[name][seen].mean(dim=0)
        assert torch.equal(tensor[~seen], mean.expand(int((~seen).sum()), -1)), name


@pytest.mark.parametrize("options", [BASELINE, PIPELINE], ids=["plain", "fused"])
def test_the_split_loss_adds_up_to_the_loss_weighted_by_positions(options):
    model = build_model(CFG, seed=0)
    groups = {"most_common": [1, 2], "least_common": [3], "never_used": [60], "new": [4, 5, 6]}
    settings = TrainSettings(steps=1, batch_size=4, lr=1e-3, weight_decay=0.0)
    step = TrainStep(model, groups, settings, "cpu", options, split_ids=[4, 5, 6])
    x = torch.randint(0, 8, (4, CFG.context), generator=torch.Generator().manual_seed(0))
    y = torch.roll(x, -1, dims=1)
    loss, new, other, *means = step(x, y, update=False).tolist()
    n_new = int(torch.isin(y, torch.tensor([4, 5, 6])).sum())
    assert 0 < n_new < y.numel()
    assert (n_new * new + (y.numel() - n_new) * other) / y.numel() == pytest.approx(loss, abs=1e-6)
    assert len(means) == 2 * len(groups)


def test_the_unigram_level_on_held_out_targets_and_the_step_that_reaches_it():
    counts = np.array([6, 3, 1, 0])  # the training text's
    targets = np.array([[0, 1, 1], [2, 0, 1]])  # held out: ids 1 and 2 are new, three and one
    level = unigram_level(counts, targets, [1, 2])  # (3 * -log .3 + 1 * -log .1) / 4
    assert level == pytest.approx((3 * -np.log(0.3) - np.log(0.1)) / 4)
    loss = pd.Series([9.0, np.nan, 5.0, np.nan, 3.0, 2.0], index=range(6))  # scored 0, 2, 4, 5
    assert steps_to_level(loss, 4.0) == 3.0  # halfway from 5 (step 2) to 3 (step 4)
    assert steps_to_level(loss, 5.0) == 2.0  # reached exactly there
    assert steps_to_level(loss, 9.5) == 0.0  # from the start
    assert np.isnan(steps_to_level(loss, 1.0))


def test_a_held_out_slice_without_a_new_target_is_refused_with_the_key_to_change():
    with pytest.raises(
        PipelineError,
        match=r"^no target in the second book's held-out slice .* "
        r"raise held_out.fraction",
    ):
        unigram_level(np.array([6, 3, 1]), np.array([[0, 0]]), [1, 2])


SEEDS = range(10)


def arms_log():
    """Held-out new_loss: pretrained 2 above fresh, reset 1 below pretrained; other_loss the same
    for every arm; each value with its own noise (steps 0 and 1, ten seeds); beside them
    training-batch values that the claims must not read."""
    noise = np.random.default_rng(0).normal(0, 0.05, size=(len(SEEDS), 3, 2, 2))
    rows = []
    for seed in SEEDS:
        for a, (arm, new) in enumerate(
            (("fresh", 5.0), ("pretrained", 7.0), ("pretrained_reset", 6.0))
        ):
            for step in (0, 1):
                rows.append((arm, seed, step, "held_out_new_loss", new + noise[seed, a, step, 0]))
                rows.append((arm, seed, step, "held_out_other_loss", 4.0 + noise[seed, a, step, 1]))
                rows.append((arm, seed, step, "new_loss", 99.0 - new))
    return pd.DataFrame(rows, columns=["arm", "seed", "step", "quantity", "value"])


def steps_reached(steps):
    """A reach table: {arm: steps to the level at each seed}."""
    rows = [
        (arm, seed, value) for arm, values in steps.items() for seed, value in enumerate(values)
    ]
    return pd.DataFrame(rows, columns=["arm", "seed", "steps_to_level"])


def test_claims_test_paired_differences_beyond_their_margins():
    """Steps to the level: fresh 10, pretrained 40 (30 more: beyond the 20-step margin at every
    seed), reset 15 (25 fewer) but never at two seeds, which count against it: 8 of 10 seeds,
    p = 56/1024 before Holm, FAIL (left out, 8 of 8 would have passed)."""
    n = len(SEEDS)
    reached = steps_reached(
        {
            "fresh": [10.0] * n,
            "pretrained": [40.0] * n,
            "pretrained_reset": [15.0] * 8 + [np.nan] * 2,
        }
    )
    table = claims(arms_log(), [1], reached=reached)
    assert table["result"].tolist() == ["PASS", "PASS", "FAIL", "PASS", "FAIL"]
    assert table["measured"][0].startswith(
        'held-out loss on the new tokens after 1 steps, "pretrained" minus "fresh (untrained)" '
        "(nats) = +2.0"
    )
    assert table["test"][0].startswith("> +0.1 (one-sided t-tests over 10 seeds, Holm-adjusted")
    assert table["measured"][3] == (
        'steps to the unigram level, "pretrained" minus "fresh (untrained)": median +30; 10 of 10 '
        "seeds > +20 (0 where one arm never got there)"
    )
    assert table["measured"][4] == (
        'steps to the unigram level, "pretrained, unseen rows reset" minus "pretrained": median '
        "-25; 8 of 10 seeds < -20 (2 where one arm never got there)"
    )
    assert table["test"][4] == (
        "< -20 (exact sign tests over 10 seeds, a seed that never gets there counted at the "
        "worst, Holm-adjusted over the family's 5 tests, p < 0.025)"
    )
    assert (table["family"] == "finetune").all()
    assert table["p_adjusted"][3] == pytest.approx(3 * 0.5**10)  # third smallest of five: Holm


def test_a_level_neither_arm_reaches_is_a_tie_never_dropped():
    """Three seeds: no test can pass on them (the sign test's least p-value is 0.125), and where
    neither arm reaches the level the seed is a tie, which counts against the claim."""
    reached = steps_reached(
        {
            "fresh": [10.0, 12.0, np.nan],
            "pretrained": [np.nan] * 3,
            "pretrained_reset": [np.nan] * 3,
        }
    )
    table = claims(arms_log()[lambda t: t["seed"] < 3], [1], reached=reached)
    assert table["result"].tolist()[-2:] == ["FAIL", "FAIL"]
    assert table["measured"].iloc[-2] == (
        'steps to the unigram level, "pretrained" minus "fresh (untrained)": median never; 2 of 3 '
        "seeds > +20 (2 where one arm never got there)"
    )
    assert (
        table["measured"]
        .iloc[-1]
        .endswith(": median +0; 0 of 3 seeds < -20 (0 where one arm never got there)")
    )
