"""Scoring the detector of never-used tokens against the truth, and what the weights stage and
the report share about it (count buckets, methods), without torch.

The detector, after "Fishing for Magikarp" (Land & Bartolo, 2024; cohere-ai/magikarp), sees
only the trained output matrix. It draws a reference set of `reference_size` count-0 ids with
`seed` and scores every other id by four indicators (names.MAGIKARP_INDICATORS), each against
the reference rows' mean: the row's cosine with it (Magikarp's plain E_out cosine distance, its
choice for tied models and in its GPT-2 report), the same with the mean row subtracted from every
row first (centred), the same with the first principal component (the top eigenvector of the
covariance of the centred rows) removed from every row first, and minus the L2 distance. Each
score's direction is fixed in advance: the higher, the more the row looks like the reference
rows. A low row norm is scored alike. The final mean log-probability on the probe's batches is
not read from the weights (it is the quantity that defines the effect): it is scored as a
reference line only. Each is scored against the truth (count 0) by ROC AUC and by precision at
k, k being the number of count-0 ids scored. No step loops over tokens in Python.
"""

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from ..pipeline.names import MAGIKARP_INDICATORS

COUNT_BUCKETS = {  # label: (lowest, highest count), both included
    "0": (0, 0),
    "1": (1, 1),
    "2-10": (2, 10),
    "11-100": (11, 100),
    ">100": (101, np.inf),
}
DETECTORS = (*MAGIKARP_INDICATORS, "row_norm")  # what reads the weights alone
REFERENCE_SCORE = "final_log_prob"  # not from the weights: shown for reference
METHODS = (*DETECTORS, REFERENCE_SCORE)
MATRIX_READ = {  # per model_config.HEADS: what output_matrix reads, in words
    "softmax": "output matrix",
    "adaptive": "input embedding (an adaptive softmax has no single output matrix)",
}


def scored_matrix(head):
    """In words, the matrix output_matrix gives for a model whose config `head` is this."""
    return MATRIX_READ[head]


def reference_ids(counts, size, seed):
    """`size` ids drawn without replacement from those with count 0 (numpy PCG64, `seed`),
    sorted; fewer where fewer exist."""
    unused = np.flatnonzero(np.asarray(counts) == 0)
    chosen = np.random.default_rng(seed).choice(unused, size=min(size, len(unused)), replace=False)
    return np.sort(chosen)


def method_scores(table):
    """Each method's score of the scored ids of a features `table` (the reference set left
    out), higher meaning more likely unused, and the truth (count 0): ({method: scores}, truth)."""
    scored = table[table[MAGIKARP_INDICATORS[0]].notna()]
    by_method = {name: scored[name].to_numpy() for name in MAGIKARP_INDICATORS}
    by_method["row_norm"] = -scored["output_norm_trained"].to_numpy()
    by_method[REFERENCE_SCORE] = -scored["final_log_prob"].to_numpy()
    return {m: by_method[m] for m in METHODS}, scored["count"].to_numpy() == 0


def bucket_of(counts):
    """The COUNT_BUCKETS label of each count."""
    labels = np.empty(len(counts), dtype=object)
    for label, (low, high) in COUNT_BUCKETS.items():
        labels[(counts >= low) & (counts <= high)] = label
    return labels


def detection(table):
    """One row per method: method, ROC AUC and precision at k of its scores against the truth
    (count 0), k, and the number of ids scored; NaN where nothing is scored (a model with no
    count-0 id: a pruned vocabulary) or a score is undefined."""
    by_method, truth = method_scores(table)
    k = int(truth.sum())
    rows = []
    for method in METHODS:
        values = by_method[method]
        usable = 0 < k < len(truth) and np.isfinite(values).all()
        auc = roc_auc_score(truth, values) if usable else np.nan
        top = np.argsort(-values, kind="stable")[:k]
        precision = float(truth[top].mean()) if usable else np.nan
        rows.append((method, auc, precision, k, len(truth)))
    return pd.DataFrame(rows, columns=["method", "auc", "precision_at_k", "k", "scored"])
