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
from unused_tokens.pipeline.step_options import BASELINE
from unused_tokens.pipeline.study import TrainSettings
from unused_tokens.training.held_out import HeldOut
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


def test_the_loss_over_chunks_is_the_mean_over_every_position_and_nan_between_scored_steps():
    model = build_model(CFG, seed=0)
    split = [3, 7, 11]
    step = TrainStep(model, {"new": split}, SETTINGS, "cpu", BASELINE, split_ids=split)
    held_out = HeldOut(slice_tokens(), CFG.context, 4, every=3, device="cpu", split_ids=split)
    assert [len(x) for x, _, _ in held_out.chunks] == [4, 2]  # 6 windows of 16 in chunks of 4
    assert held_out.positions[0] == 6 * CFG.context
    assert held_out.losses(step, 0, 10).tolist() == pytest.approx(
        direct_losses(model, slice_tokens(), split), abs=1e-5
    )
    assert [math.isnan(v) for v in held_out.losses(step, 4, 10).tolist()] == [True] * 3
    assert not math.isnan(held_out.losses(step, 10, 10)[0])  # the last step is always scored
