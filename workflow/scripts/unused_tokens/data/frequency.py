"""Count how often each vocabulary id occurs, zeros included, and summarise coverage."""

import numpy as np
import pandas as pd


def count_tokens(ids, token_texts):
    """One row per vocabulary id: token_id, count, rank, share, token_text.

    Rank 1 is the most frequent token; equal counts are ranked by ascending token id, so every
    id gets a distinct rank and the table is the same on every run.
    """
    n_vocab = len(token_texts)
    if len(ids) and int(np.max(ids)) >= n_vocab:
        raise ValueError(f"token id {int(np.max(ids))} is outside the vocabulary of {n_vocab}")
    counts = np.bincount(np.asarray(ids, dtype=np.int64), minlength=n_vocab)
    order = np.lexsort((np.arange(n_vocab), -counts))
    rank = np.empty(n_vocab, dtype=np.int32)
    rank[order] = np.arange(1, n_vocab + 1, dtype=np.int32)
    total = counts.sum()
    return pd.DataFrame(
        {
            "token_id": np.arange(n_vocab, dtype=np.int32),
            "count": counts.astype(np.int64),
            "rank": rank,
            "share": counts / total if total else np.zeros(n_vocab),
            "token_text": token_texts,
        }
    )


def summarize(freq):
    """Total tokens, distinct tokens, vocabulary size and coverage (distinct / vocabulary)."""
    distinct = int((freq["count"] > 0).sum())
    return pd.DataFrame(
        {
            "total_tokens": [int(freq["count"].sum())],
            "distinct_tokens": [distinct],
            "n_vocab": [len(freq)],
            "coverage": [distinct / len(freq)],
        }
    )


def unigram_entropy(freq):
    """Entropy (nats) of the unigram distribution: the loss of a model that ignores context."""
    p = freq["share"].to_numpy()
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


UNSEEN_COUNT = 1e-3  # the count given to ids that never occur, in unigram_log_probs


def unigram_log_probs(counts):
    """Log unigram probability of every id: log(count / total), count-0 ids counted as
    UNSEEN_COUNT occurrences (so they start near -ln(1000 N)), renormalised to sum to 1."""
    counts = np.where(np.asarray(counts) > 0, counts, UNSEEN_COUNT).astype(np.float64)
    return np.log(counts / counts.sum())


def inverse_frequency_weights(counts):
    """The loss weight of each id as a target: 1 / (count + 1), scaled so that the mean weight
    over the corpus's positions is 1 (sum of count x weight = total). Every id that occurs then
    weighs about the same in total, whatever its frequency."""
    counts = np.asarray(counts, dtype=np.float64)
    weights = 1 / (counts + 1)
    return weights * counts.sum() / (counts * weights).sum()
