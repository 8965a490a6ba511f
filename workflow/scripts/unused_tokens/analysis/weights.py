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

The detector (detection.py) scores every id by the four Magikarp indicators computed here
(magikarp_scores) from the trained output matrix alone.
"""

import numpy as np
import pandas as pd
import torch

from ..pipeline.names import MAGIKARP_INDICATORS
from .detection import COUNT_BUCKETS, bucket_of

DISPLACEMENT = ("displacement_norm", "displacement_cosine", "displacement_spread")


def output_matrix(model):
    """The (vocab, d) output matrix: the embedding for an adaptive softmax."""
    weight = model.wte.weight if model.adaptive is not None else model.output_weight
    return weight.detach().float()


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


def magikarp_scores(matrix, reference):
    """{indicator: the score of every row} for names.MAGIKARP_INDICATORS, each against the
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
