"""Fine-tuning on a second book: its new tokens, and how each arm's model starts.

The second book uses tokens the first never does: those the pretrained model has pushed far down.
- new_in_finetune: the N most frequent tokens of the second book among those with count 0 in the
  first, ties broken by ascending id (N = groups.size).
- The arms (schemas.ARMS), over the study's seeds, all fine-tuned alike (a fresh AdamW, the same
  windows of the second book for a seed):
  - pretrained: the baseline run's trained weights;
  - pretrained_reset: the same, with the rows of every id of count 0 in the first book reset
    (unseen_rows.reset_unseen_rows) before fine-tuning;
  - fresh: the baseline run's initialisation, not trained: what the second book alone gives.
- The reset, as fine-tuning tools do it: in the input embedding, each such row becomes the mean
  of the rows of the ids that occur. When the output layer is tied, that matrix is the output
  matrix too; when untied, its output matrix gets the same reset, with its own mean. Every other
  row and parameter (the output bias included) stays bit-identical; the optimizer state of
  pretraining is not kept by any arm.
- Every measure is taken on the second book's held-out slice (held_out.py), never trained on:
  a loss reached there cannot come from memorising the training text. The level the new tokens'
  held-out loss is compared with is that of the context-free unigram predictor of the second
  book's training text at the held-out positions whose target is a new token (unigram_level);
  an arm reaches it at the first scored step where its held-out loss on them is at or below it.
"""

import numpy as np
import pandas as pd

from .errors import PipelineError
from .schemas import GROUP_NAMES, NEW_GROUP


def finetune_groups(groups, pretrain_freq, finetune_freq, size):
    """schemas.FINETUNE_GROUPS: the first book's groups and new_in_finetune, each token with its
    count in both books."""
    pretrain = pretrain_freq.set_index("token_id")["count"]
    finetune = finetune_freq.set_index("token_id")
    candidates = finetune[(finetune["count"] > 0) & (pretrain.reindex(finetune.index) == 0)]
    new = candidates.reset_index().sort_values(["count", "token_id"], ascending=[False, True])
    new_ids = new["token_id"].to_numpy()[:size]
    parts = [
        groups.loc[groups["group"] == g, ["group", "position", "token_id"]] for g in GROUP_NAMES
    ]
    parts.append(
        pd.DataFrame({"group": NEW_GROUP, "position": np.arange(len(new_ids)), "token_id": new_ids})
    )
    table = pd.concat(parts, ignore_index=True)
    ids = table["token_id"].to_numpy()
    return table.assign(
        position=table["position"].astype(np.int32),
        token_id=ids.astype(np.int32),
        pretrain_count=pretrain.loc[ids].to_numpy(),
        finetune_count=finetune.loc[ids, "count"].to_numpy(),
        token_text=finetune.loc[ids, "token_text"].to_numpy(),
    )


def unigram_level(finetune_counts, targets, new_ids):
    """The loss (nats) of the unigram predictor of the second book's training text (its
    `finetune_counts`), -log(count / total), averaged over the held-out `targets` that are one
    of `new_ids` (every new id occurs in the training text, so each term is finite)."""
    counts = np.asarray(finetune_counts, dtype=np.float64)
    targets = np.asarray(targets).ravel()
    chosen = targets[np.isin(targets, np.asarray(new_ids))]
    if not len(chosen):
        raise PipelineError(
            "no target in the second book's held-out slice is one of its new tokens: raise "
            "held_out.fraction or use a longer second book"
        )
    return float(np.mean(-np.log(counts[chosen] / counts.sum())))


def steps_to_level(new_loss, level):
    """The first step at which `new_loss` (a Series indexed by step, NaN at steps not scored) is
    at or below `level`; NaN where it never is."""
    scored = new_loss.dropna()
    reached = scored.index[scored.to_numpy() <= level]
    return float(reached[0]) if len(reached) else float("nan")
