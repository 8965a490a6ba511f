"""What training does to the embedding rows, and whether the weights alone betray the never-used
tokens, scored against the truth this pipeline has: which ids never occur.

Features, one row per id, of the trained model and of its untrained self: the input row's norm
(the embedding), the output row's norm (the output matrix: the embedding when tied; the input
embedding stands in for an adaptive softmax, which has no single output matrix), and the output
row's cosine with the mean direction of the never-used (count 0) rows.

Geometry, by count bucket (COUNT_BUCKETS), before and after training: the mean output-row norm,
and how far rows moved (the cosine of each row with its untrained self); for the count-0 rows
also their mean pairwise cosine and the share of their squared length along their first
principal direction (about the origin): rows that collapse toward one direction push both up.
And what training added to each row, its displacement (trained row minus untrained row): the
mean length, the mean cosine of each displacement with the bucket's mean displacement, and the
mean distance from that mean relative to its length. Displacements that are one vector (cosine
1, spread 0) are what an optimizer whose step ignores the gradient's scale (Adam) gives rows
whose gradients share a direction; one whose step is proportional to the gradient (SGD) moves
them by their gradients, which differ in size.

The detector, after "Fishing for Magikarp" (Land & Bartolo, 2024; cohere-ai/magikarp), sees
only the trained output matrix. It draws a reference set of `reference_size` count-0 ids with
`seed` and scores every other id by four indicators (schemas.MAGIKARP_INDICATORS), each against
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
import torch
from sklearn.metrics import roc_auc_score

from .schemas import MAGIKARP_INDICATORS

COUNT_BUCKETS = {  # label: (lowest, highest count), both included
    "0": (0, 0),
    "1": (1, 1),
    "2-10": (2, 10),
    "11-100": (11, 100),
    ">100": (101, np.inf),
}
DISPLACEMENT = ("displacement_norm", "displacement_cosine", "displacement_spread")
DETECTORS = (*MAGIKARP_INDICATORS, "row_norm")  # what reads the weights alone
REFERENCE_SCORE = "final_log_prob"  # not from the weights: shown for reference
METHODS = (*DETECTORS, REFERENCE_SCORE)
MATRIX_READ = {  # per model_config.HEADS: what output_matrix reads, in words
    "softmax": "output matrix",
    "adaptive": "input embedding (an adaptive softmax has no single output matrix)",
}


def output_matrix(model):
    """The (vocab, d) output matrix: the embedding for an adaptive softmax."""
    weight = model.wte.weight if model.adaptive is not None else model.output_weight
    return weight.detach().float()


def scored_matrix(head):
    """In words, the matrix output_matrix gives for a model whose config `head` is this."""
    return MATRIX_READ[head]


def unit_rows(matrix):
    return matrix / matrix.norm(dim=1, keepdim=True).clamp_min(1e-12)


def without_first_component(matrix):
    """`matrix` with each row's projection on the first principal direction removed (the top
    eigenvector of the covariance of the centred rows)."""
    direction = principal_directions(matrix).eigenvectors[:, -1].to(matrix.dtype)
    return matrix - (matrix @ direction)[:, None] * direction[None, :]


def principal_directions(matrix):
    """The eigen-decomposition (ascending) of the covariance of the centred rows, in float64."""
    centred = (matrix - matrix.mean(dim=0)).double()
    return torch.linalg.eigh(centred.T @ centred)


def reference_ids(counts, size, seed):
    """`size` ids drawn without replacement from those with count 0 (numpy PCG64, `seed`),
    sorted; fewer where fewer exist."""
    unused = np.flatnonzero(np.asarray(counts) == 0)
    chosen = np.random.default_rng(seed).choice(unused, size=min(size, len(unused)), replace=False)
    return np.sort(chosen)


def magikarp_scores(matrix, reference):
    """{indicator: the score of every row} for schemas.MAGIKARP_INDICATORS, each against the
    mean of the `reference` rows (the module docstring says how), as float64 numpy arrays."""
    ids = torch.as_tensor(reference)

    def cosine(rows):
        centre = rows[ids].mean(dim=0)
        return (unit_rows(rows) @ (centre / centre.norm())).double().numpy()

    centre = matrix[ids].mean(dim=0)
    scores = {
        "magikarp_cosine": cosine(matrix),
        "magikarp_centred": cosine(matrix - matrix.mean(dim=0)),
        "magikarp_without_pc1": cosine(without_first_component(matrix)),
        "magikarp_l2": -(matrix - centre).norm(dim=1).double().numpy(),
    }
    return {name: scores[name] for name in MAGIKARP_INDICATORS}


def features(trained, untrained, token_ids, counts, final_log_prob, reference):
    """One row per model id (tokenizer id `token_ids`, its `counts`): the input and output row
    norms before and after training, each output row's cosine with the never-used rows' mean
    direction (before and after) and with its untrained self, the final mean log-probability,
    and the four Magikarp indicators (NaN for the `reference` ids, which are not scored)."""
    counts = np.asarray(counts)
    table = {"token_id": np.asarray(token_ids, dtype=np.int32), "count": counts}
    unused = torch.from_numpy(counts == 0)
    for name, model in (("untrained", untrained), ("trained", trained)):
        output = output_matrix(model)
        table[f"input_norm_{name}"] = model.wte.weight.detach().float().norm(dim=1).numpy()
        table[f"output_norm_{name}"] = output.norm(dim=1).numpy()
        mean = output[unused].mean(dim=0) if unused.any() else torch.full_like(output[0], np.nan)
        table[f"never_cosine_{name}"] = (unit_rows(output) @ (mean / mean.norm())).numpy()
    before, after = unit_rows(output_matrix(untrained)), unit_rows(output_matrix(trained))
    table["moved_cosine"] = (before * after).sum(dim=1).numpy()
    table["final_log_prob"] = np.asarray(final_log_prob, dtype=np.float64)
    scores = dict.fromkeys(MAGIKARP_INDICATORS, np.full(len(counts), np.nan))
    if len(reference):
        scores = magikarp_scores(output_matrix(trained), reference)
    for name, values in scores.items():
        values = values.copy()
        values[reference] = np.nan
        table[name] = values
    return pd.DataFrame(table)


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


def collapse(matrix):
    """(mean pairwise cosine, share of the rows' squared length along their first principal
    direction) of the rows; NaN for fewer than two rows. The mean pairwise cosine comes from the
    sum of unit rows: (|sum|^2 - n) / (n (n - 1)). The share is taken about the origin, not
    the rows' mean: rows that all point one way put it near 1 (centred, their common direction
    would be subtracted away)."""
    n = len(matrix)
    if n < 2:
        return np.nan, np.nan
    total = unit_rows(matrix).double().sum(dim=0)
    pairwise = float((total @ total - n) / (n * (n - 1)))
    rows = matrix.double()
    eigenvalues = torch.linalg.eigvalsh(rows.T @ rows)
    return pairwise, float(eigenvalues[-1] / eigenvalues.sum())


def displacement(before, after):
    """(mean length, mean cosine with their mean, mean spread) of the displacements after -
    before of a set of rows; the spread of a row is its distance from the mean displacement
    over that mean's length. NaN for no rows."""
    if len(before) == 0:
        return (np.nan,) * 3
    moves = (after - before).detach().double()
    centre = moves.mean(dim=0)
    length = centre.norm().clamp_min(1e-300)
    cosine = unit_rows(moves) @ (centre / length)
    spread = (moves - centre).norm(dim=1) / length
    return float(moves.norm(dim=1).mean()), float(cosine.mean()), float(spread.mean())


def geometry(trained, untrained, counts):
    """One row per count bucket and model (untrained, trained): rows, mean output-row norm,
    mean cosine with the untrained row and the displacement measures (trained only), and the
    collapse measures (count 0)."""
    counts = np.asarray(counts)
    buckets = bucket_of(counts)
    before, after = output_matrix(untrained), output_matrix(trained)
    moved = (unit_rows(before) * unit_rows(after)).sum(dim=1)
    rows = []
    for name, model in (("untrained", untrained), ("trained", trained)):
        norms = output_matrix(model).norm(dim=1)
        for label in COUNT_BUCKETS:
            chosen = torch.from_numpy(buckets == label)
            collapsed = collapse(output_matrix(model)[chosen]) if label == "0" else (np.nan,) * 2
            moves = displacement(before[chosen], after[chosen]) if name == "trained" else None
            rows.append(
                {
                    "model": name,
                    "bucket": label,
                    "tokens": int(chosen.sum()),
                    "mean_norm": _mean(norms, chosen),
                    "moved_cosine": _mean(moved, chosen) if name == "trained" else np.nan,
                    "pairwise_cosine": collapsed[0],
                    "first_component_share": collapsed[1],
                    **dict(zip(DISPLACEMENT, moves or (np.nan,) * 3, strict=True)),
                }
            )
    return pd.DataFrame(rows)


def _mean(values, chosen):
    return float(values[chosen].mean()) if chosen.any() else np.nan


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
