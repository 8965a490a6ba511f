"""Which tokenizer ids a model's output covers, and in what order.

The model works on indices into `ids`. With every id in id order (the experiment) an index is the
id itself. Vocabulary pruning (model.vocabulary: corpus) keeps only the ids that occur in the
corpus: a never-used id then has no index and no probability at all. The adaptive softmax
(model.head: adaptive) orders the ids by count, most frequent first (ties: lower id first), so
that its clusters are ranges of indices. `encode` maps tokenizer ids to indices, `decode` maps
per-index values back to per-id arrays, NaN where an id has no index.
"""

from dataclasses import dataclass

import numpy as np
import torch

VOCABULARIES = ("full", "corpus")


@dataclass(frozen=True, eq=False)
class Vocabulary:
    ids: np.ndarray  # the tokenizer id of every model index
    counts: np.ndarray  # the corpus count of every model index
    size: int  # the tokenizer's vocabulary size

    @classmethod
    def of(cls, counts, vocabulary="full", by_frequency=False):
        """The model's vocabulary for a corpus with these per-id `counts`."""
        if vocabulary not in VOCABULARIES:
            raise ValueError(f"model.vocabulary={vocabulary!r} is not one of {VOCABULARIES}")
        counts = np.asarray(counts)
        ids = np.arange(len(counts)) if vocabulary == "full" else np.flatnonzero(counts)
        if by_frequency:
            ids = ids[np.argsort(-counts[ids], kind="stable")]
        return cls(ids, counts[ids], len(counts))

    @property
    def index(self):
        """The model index of every tokenizer id, -1 where it has none."""
        index = np.full(self.size, -1, dtype=np.int64)
        index[self.ids] = np.arange(len(self.ids))
        return index

    def encode(self, tokens):
        """Tokenizer ids (a tensor) as model indices; every id must have one."""
        indices = torch.from_numpy(self.index)[tokens]
        if (indices < 0).any():
            raise ValueError("a token id has no index in the model's vocabulary")
        return indices

    def encode_groups(self, groups):
        """{name: tokenizer ids} as {name: model indices}, leaving out ids without an index."""
        index = self.index
        return {name: index[ids][index[ids] >= 0] for name, ids in groups.items()}

    def decode(self, values):
        """Per-index values as a per-id float array, NaN where an id has no index."""
        out = np.full(self.size, np.nan)
        out[self.ids] = values
        return out
