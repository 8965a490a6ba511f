"""The held-out slice: where a book is cut, how the slice is windowed, and its loss as training
scores it (held_out.py, train.py)."""

import math

import numpy as np
import pytest
import torch
from test_train import CFG

from unused_tokens.data.tokens import split_held_out, tiled_windows
from unused_tokens.model.gpt import build_model
from unused_tokens.pipeline.errors import PipelineError
from unused_tokens.pipeline.plan import scorings
from unused_tokens.pipeline.step_options import BASELINE, PIPELINE
from unused_tokens.pipeline.study import TrainSettings
from unused_tokens.training.held_out import HeldOut, Scoring
from unused_tokens.training.step import TrainStep

SETTINGS = TrainSettings(steps=4, batch_size=4, lr=1e-3, weight_decay=0.0)


def test_the_last_fraction_of_the_tokens_is_held_out_rounded_up():
    ids = np.arange(21)
    training, held_out = split_held_out(ids, 0.1)  # 2.1 tokens: 3 held out
    assert training.tolist() == list(range(18)) and held_out.tolist() == [18, 19, 20]


def test_windows_tile_the_slice_from_its_start_without_overlap():
    inputs, targets = tiled_windows(np.arange(11), 3)  # 3 windows; token 10 is no target
    assert inputs.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert targets.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_a_slice_shorter_than_one_window_names_the_key_to_change():
    with pytest.raises(
        PipelineError,
        match=r"^the held-out slice has 3 tokens, fewer than one "
        r"window of context\+1=4: raise held_out.fraction",
    ):
        tiled_windows(np.arange(3), 3)


def slice_tokens():
    return torch.randint(0, 40, (100,), generator=torch.Generator().manual_seed(1))


def direct_losses(model, tokens, split):
    """The mean loss over the slice's windows, and at new and other targets, in one pass."""
    x, y = tiled_windows(tokens, CFG.context)
    with torch.no_grad():
        losses = -model(x).gather(-1, y[..., None])[..., 0]
    new = torch.isin(y, torch.tensor(split))
    return [losses.mean().item(), losses[new].mean().item(), losses[~new].mean().item()]


def test_the_loss_over_chunks_is_the_mean_over_every_position():
    model = build_model(CFG, seed=0)
    split = [3, 7, 11]
    step = TrainStep(model, {"new": split}, SETTINGS, "cpu", BASELINE, split_ids=split)
    held_out = HeldOut(slice_tokens(), CFG.context, 4, Scoring(3, 10_000), "cpu", split)
    assert [len(x) for x, _, _ in held_out.chunks] == [4, 2]  # 6 windows of 16 in chunks of 4
    assert held_out.positions[0] == 6 * CFG.context
    assert held_out.losses(step).tolist() == pytest.approx(
        direct_losses(model, slice_tokens(), split), abs=1e-5
    )


@pytest.mark.parametrize("options", [BASELINE, PIPELINE], ids=["plain", "fused head"])
def test_a_split_with_no_positions_is_nan_and_the_rest_is_the_whole(options):
    model = build_model(CFG, seed=0)
    step = TrainStep(model, {"new": [3]}, SETTINGS, "cpu", options, split_ids=[3])
    held_out = HeldOut(slice_tokens(), CFG.context, 4, Scoring(3, 10_000), "cpu", [])
    everything, unseen, rest = held_out.losses(step).tolist()
    assert held_out.positions == [6 * CFG.context, 0, 6 * CFG.context]
    assert math.isnan(unseen)
    assert rest == everything  # the same positions, summed in the same order
    # PIPELINE multiplies in bf16 on a CPU that has it
    assert everything == pytest.approx(direct_losses(model, slice_tokens(), [])[0], abs=0.05)


def test_scorings_come_every_few_steps_and_at_the_last():
    held_out = HeldOut(slice_tokens(), CFG.context, 4, Scoring(3, 10_000), "cpu", [])
    due = [step for step in range(11) if held_out.due(step, 10)]
    assert due == [0, 3, 6, 9, 10]
    assert [held_out.scorings_after(step, 10) for step in (0, 2, 3, 9, 10)] == [4, 4, 3, 1, 0]
    assert scorings(10, 3) == len(due) and scorings(9, 3) == 4 and scorings(1, 25) == 2


@pytest.mark.parametrize(
    ("cap", "kept"), [(None, [0, 1, 2, 3, 4, 5]), (48, [0, 2, 5]), (16, [0]), (5, [0])]
)
def test_a_cap_keeps_windows_spread_evenly_over_the_slice(cap, kept):
    """6 windows of 16 positions; at most `cap` positions (at least one window)."""
    tokens = slice_tokens()
    every_x, every_y = tiled_windows(tokens, CFG.context)
    x, y = tiled_windows(tokens, CFG.context, cap)
    assert torch.equal(x, every_x[kept]) and torch.equal(y, every_y[kept])
    positions = HeldOut(tokens, CFG.context, 4, Scoring(3, cap or 10_000), "cpu", [7]).positions
    sevens = int((y == 7).sum())
    assert positions == [len(kept) * CFG.context, sevens, len(kept) * CFG.context - sevens]
