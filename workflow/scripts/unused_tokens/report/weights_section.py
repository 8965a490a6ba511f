"""The report's section "Finding them from the weights": the norm-by-count figure, the ROC
curves, the AUC table and the sentence that says how well the weights alone betray the
never-used tokens (weights.py computes what they show)."""

import math

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.metrics import roc_curve

from ..analysis.aggregate import bounds, interval, text_table
from ..analysis.detection import COUNT_BUCKETS, DETECTORS, METHODS, REFERENCE_SCORE, method_scores
from .figures import WIDTH

METHOD_LABELS = {  # every weights.METHODS, named in every sentence and figure
    "magikarp_cosine": "Magikarp cosine",
    "magikarp_centred": "Magikarp cosine, centred",
    "magikarp_without_pc1": "Magikarp cosine without the first PC",
    "magikarp_l2": "Magikarp L2 distance",
    "row_norm": "low row norm",
    REFERENCE_SCORE: "low final log-probability (reference, not from the weights)",
}
MODEL_STYLES = {"untrained": ("grey", "o"), "trained": ("#0072B2", "s")}
WELL = 0.9  # an AUC interval above this: the weights give most of the tokens away


def plot_norms(geometry, variant):
    """The mean output-row norm of each count bucket before and after training, for `variant`
    (mean over seeds with its 95% interval)."""
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6))
    norms = geometry[(geometry["variant"] == variant) & (geometry["quantity"] == "mean_norm")]
    for model, (colour, marker) in MODEL_STYLES.items():
        rows = norms[norms["model"] == model].set_index("bucket").reindex(list(COUNT_BUCKETS))
        low, high = rows["mean"] - rows["ci_low"], rows["ci_high"] - rows["mean"]
        ax.errorbar(
            range(len(rows)), rows["mean"], yerr=[low, high], color=colour, marker=marker,
            label=model, capsize=3,
        )  # fmt: skip
    ax.set_xticks(range(len(COUNT_BUCKETS)), list(COUNT_BUCKETS))
    ax.set_xlabel("count in the book")
    ax.set_ylabel("mean output-row norm")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    return fig


def plot_roc(table):
    """ROC curves of every method on one run's features `table` (its reference ids left out)."""
    by_method, truth = method_scores(table)
    fig, ax = plt.subplots(figsize=(WIDTH, 4.2))
    for method in METHODS:
        false_positive, true_positive, _ = roc_curve(truth, by_method[method])
        style = "--" if method == REFERENCE_SCORE else "-"
        ax.plot(false_positive, true_positive, style, label=METHOD_LABELS[method])
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set_xlabel("false positive rate (ids that occur)")
    ax.set_ylabel("true positive rate (never-used ids)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    return fig


def auc_table(detection, interval):
    """Variant x method: the AUC (mean [95% interval]) as text; `interval` formats a row."""
    auc = detection[detection["quantity"] == "auc"]
    order = list(dict.fromkeys(detection["variant"]))
    labels = {method: METHOD_LABELS[method] for method in METHODS}
    return text_table(auc, "variant", "method", labels, interval, order)


def _reading(row):
    """How an AUC row (mean, 95% interval) reads, in words."""
    low, high = bounds(row)
    if low > WELL:
        return "gives most of them away"
    if low > 0.5:
        return "tells them apart better than chance"
    if high < 0.5:
        return "points the wrong way (never-used ids score low)"
    return "does not tell them apart better than chance"


def _auc(row):
    """An AUC row as text: its interval, or its one value said to be one (never [x, x])."""
    return f"AUC {interval(row, say_one_seed=True)}"


def verdict(detection, variant, matrix):
    """Sentences on whether `variant`'s weights alone (its `matrix`, in words:
    weights.scored_matrix) give the never-used tokens away: every detector by name with its AUC
    and what it reads, then the final log-probability, named as the reference it is."""
    auc = detection[(detection["variant"] == variant) & (detection["quantity"] == "auc")]
    auc = auc.set_index("method")
    if math.isnan(auc.loc[DETECTORS[0], "mean"]):
        return f"`{variant}`: the model has no never-used ids, so there is nothing to find."
    parts = [
        f"the {METHOD_LABELS[m]} {_reading(auc.loc[m])} ({_auc(auc.loc[m])})" for m in DETECTORS
    ]
    reference = auc.loc[REFERENCE_SCORE]
    return (
        f"`{variant}`: from the trained {matrix} alone, " + "; ".join(parts) + ". For "
        f"reference, the final log-probability on the probe's batches, which is the effect "
        f"itself and not read from the weights: {_auc(reference)}."
    )


def collapse_table(geometry, variant):
    """The never-used rows of `variant` before and after training: mean pairwise cosine, share
    of variance on the first principal direction, mean norm (means over seeds)."""
    rows = geometry[(geometry["variant"] == variant) & (geometry["bucket"] == "0")]
    quantities = ["pairwise_cosine", "first_component_share", "mean_norm"]
    table = rows[rows["quantity"].isin(quantities)].pivot(
        index="model", columns="quantity", values="mean"
    )
    words = {
        "pairwise_cosine": "mean pairwise cosine",
        "first_component_share": "share along their first direction",
        "mean_norm": "mean norm",
    }
    return pd.DataFrame(table.loc[list(MODEL_STYLES), quantities]).rename(columns=words)
