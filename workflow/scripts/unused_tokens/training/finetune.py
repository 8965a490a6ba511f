"""Fine-tuning on a second book: its new tokens, and how each arm's model starts.

The second book uses tokens the first never does: those the pretrained model has pushed far down.
- new_in_finetune: the N most frequent tokens of the second book among those with count 0 in the
  first, ties broken by ascending id (N = groups.size).
- The arms (names.ARMS), over the study's seeds, all fine-tuned alike (a fresh AdamW, the same
  windows of the second book for a seed):
  - pretrained: the baseline run's trained weights;
  - pretrained_reset: the same, with the rows of every id of count 0 in the first book reset
    (reset_unseen_rows) before fine-tuning;
  - fresh: the baseline run's initialisation, not trained: what the second book alone gives.
- The reset, as fine-tuning tools do it: in the input embedding, each such row becomes the mean
  of the rows of the ids that occur. When the output layer is tied, that matrix is the output
  matrix too; when untied, its output matrix gets the same reset, with its own mean. Every other
  row and parameter (the output bias included) stays bit-identical; the optimizer state of
  pretraining is not kept by any arm.
- Every measure is taken on the second book's held-out slice (held_out.py), never trained on:
  a loss reached there cannot come from memorising the training text. The level the new tokens'
  held-out loss is compared with is that of the context-free unigram predictor of the second
  book's training text at the held-out positions whose target is a new token
  (finetune_results.unigram_level);
  an arm reaches it at the first scored step where its held-out loss on them is at or below it.
"""

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
