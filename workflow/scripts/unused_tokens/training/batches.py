"""Random training windows from the token stream, drawn from a seeded generator."""

import torch

from ..pipeline.errors import PipelineError


class TooShortError(PipelineError):
    """The corpus holds fewer tokens than one window needs."""


def random_windows(tokens, batch_size, context, generator):
    """Inputs and next-token targets, each (batch_size, context), from uniformly random offsets.

    Offsets are drawn on the CPU generator, so a seed gives the same batches on every device.
    """
    n_starts = len(tokens) - context
    if n_starts < 1:
        raise TooShortError(
            f"the corpus has {len(tokens)} tokens, fewer than one window of context+1="
            f"{context + 1}: use a longer text or a smaller model.context"
        )
    starts = torch.randint(n_starts, (batch_size,), generator=generator)
    offsets = starts[:, None] + torch.arange(context + 1)
    windows = tokens[offsets]
    return windows[:, :-1], windows[:, 1:]


def to_device(tensor, device):
    """`tensor` on `device`. To CUDA through pinned memory: a copy from pageable memory would
    make the host wait for every kernel already queued."""
    if device == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)
