"""The pretrained_reset arm's start: the rows of the ids the first book never uses reset to the
mean of the others, as fine-tuning tools do for new tokens (finetune.py describes the arms)."""

import numpy as np
import torch


@torch.no_grad()
def reset_unseen_rows(model, counts):
    """Reset, in place, the rows of the ids with count 0 (`counts`, the first book's, one per
    model id) of the input embedding and of an untied output matrix to the mean of that matrix's
    rows of the ids that occur; return the reset ids."""
    unseen = torch.from_numpy(np.flatnonzero(np.asarray(counts) == 0))
    seen = torch.from_numpy(np.flatnonzero(np.asarray(counts) > 0))
    for weight in [model.wte.weight] + ([] if model.head is None else [model.head.weight]):
        weight[unseen] = weight[seen].mean(dim=0)
    return unseen
