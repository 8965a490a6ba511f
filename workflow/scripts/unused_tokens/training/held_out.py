"""The held-out slice of a book, scored during training without an update.

Every `every` steps, and at the first and the last, the model's mean loss over every window that
tiles the slice (batches.tiled_windows), taken in chunks of the training's batch size and
weighted by their positions; with split ids (fine-tuning's new tokens), also the mean loss at the
positions whose target is one of them and at the others (NaN where there are none). At the other
steps the values are NaN. The slice is the same at every step and for every run of a book, so
its curve carries no batch-to-batch noise.
"""

import torch

from ..data.tokens import tiled_windows
from .batches import to_device


class HeldOut:
    def __init__(self, tokens, context, batch_size, every, device, split_ids=None):
        inputs, targets = tiled_windows(tokens, context)
        self.every, self.chunks = every, []
        for x, y in zip(inputs.split(batch_size), targets.split(batch_size), strict=True):
            positions = [y.numel()]
            if split_ids is not None:
                chosen = int(torch.isin(y, torch.as_tensor(split_ids)).sum())
                positions += [chosen, y.numel() - chosen]
            weights = torch.tensor(positions, dtype=torch.float64, device=device)
            self.chunks.append((to_device(x, device), to_device(y, device), weights))
        self.missing = torch.full((len(positions),), torch.nan, dtype=torch.float64, device=device)
        self.total = sum(weights for _, _, weights in self.chunks)  # positions per value

    @property
    def positions(self):
        """How many held-out positions each value averages over."""
        return self.total.tolist()

    def due(self, step, steps):
        return step % self.every == 0 or step == steps

    def losses(self, step_once, step, steps):
        """The held-out losses at `step`, on the device: from step_once (a step.TrainStep called
        without update) where due, NaN elsewhere."""
        if not self.due(step, steps):
            return self.missing
        total = torch.zeros_like(self.missing)
        for x, y, weights in self.chunks:
            means = step_once(x, y, update=False)[: len(weights)]
            total += torch.nan_to_num(means) * weights
        return total / self.total
