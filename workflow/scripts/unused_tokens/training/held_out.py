"""The held-out slice of a book, scored during training without an update.

Every `every` steps, and at the first and the last, the model's mean loss over the windows that
tile the slice (tokens.tiled_windows: all of them, or at most held_out.max_positions positions
in windows spread evenly over it), taken in chunks of the training's batch size and weighted by
their positions; and the mean loss at the positions whose target is one of the split ids (in
training the ids never in the training text, in fine-tuning the new tokens) and at the others
(NaN where there are none). At the other steps
the values are NaN. The windows are the same at every step and for every run of a book, so the
curve carries no batch-to-batch noise.
"""

from dataclasses import dataclass

import torch

from ..data.tokens import tiled_windows
from ..pipeline.plan import scorings
from .batches import to_device


@dataclass(frozen=True)
class Scoring:
    """When and how much of the slice is scored: every `every` steps, at most `max_positions`
    positions (the config's held_out section)."""

    every: int
    max_positions: int

    @classmethod
    def from_config(cls, held_out):
        return cls(held_out["every"], held_out["max_positions"])


class HeldOut:
    """The slice's windows on the device, with the positions each value averages over."""

    def __init__(self, tokens, context, batch_size, scoring, device, split_ids):
        inputs, targets = tiled_windows(tokens, context, scoring.max_positions)
        self.every, self.chunks = scoring.every, []
        split = torch.as_tensor(split_ids, dtype=targets.dtype)
        for x, y in zip(inputs.split(batch_size), targets.split(batch_size), strict=True):
            chosen = torch.isin(y.reshape(-1), split).double()
            masks = torch.stack([torch.ones_like(chosen), chosen, 1 - chosen]).to(device)
            self.chunks.append((to_device(x, device), to_device(y, device), masks))
        self.total = sum(masks.sum(1) for _, _, masks in self.chunks)  # positions per value

    @property
    def positions(self):
        """How many held-out positions each value averages over."""
        return self.total.tolist()

    def due(self, step, steps):
        return step % self.every == 0 or step == steps

    def scorings_after(self, step, steps):
        """How many of the steps after `step` up to `steps` are due."""
        return 0 if step >= steps else scorings(steps, self.every) - (step // self.every + 1)

    def losses(self, step_once):
        """The held-out losses now, on the device, from step_once (a step.TrainStep): the mean
        over every position, then over those whose target is one of the split ids and over the
        others, NaN where there are none."""
        total = torch.zeros_like(self.total)
        for x, y, masks in self.chunks:
            total += masks @ step_once.position_losses(x, y).reshape(-1).double()
        return total / self.total
