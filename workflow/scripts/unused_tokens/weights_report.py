"""The report's section "Finding them from the weights": the norm-by-count figure, the ROC
curves, the AUC table and the sentence that says how well the weights alone betray the
never-used tokens (weights.py computes what they show)."""

import math

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.metrics import roc_curve

from .aggregate import bounds
from .weights import COUNT_BUCKETS, METHODS, method_scores

METHOD_LABELS = {
    "magikarp": "Magikarp indicator",
    "row_norm": "low row norm",
    "final_log_prob": "low final log-probability",
}
MODEL_STYLES = {"untrained": ("grey", "o"), "trained": ("#0072B2", "s")}
WELL = 0.9  # an AUC interval above this: the weights give the tokens away


def plot_norms(geometry, variant):
    """The mean output-row norm of each count bucket before and after training, for `variant`
    (mean over seeds with its 95% interval)."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
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
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    for method in METHODS:
        false_positive, true_positive, _ = roc_curve(truth, by_method[method])
        ax.plot(false_positive, true_positive, label=METHOD_LABELS[method])
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set_xlabel("false positive rate (ids that occur)")
    ax.set_ylabel("true positive rate (never-used ids)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    return fig


def auc_table(detection, interval):
    """Variant x method: the AUC (mean [95% interval]) as text; `interval` formats a row."""
    auc = detection[detection["quantity"] == "auc"]
    shown = auc.assign(value=auc.apply(interval, axis=1))
    table = shown.pivot(index="variant", columns="method", values="value")
    order = list(dict.fromkeys(detection["variant"]))
    return table.loc[order, list(METHODS)].rename(columns=METHOD_LABELS)


def verdict(detection, variant, matrix):
    """One sentence on whether `variant`'s weights alone (its `matrix`, in words:
    weights.scored_matrix) give the never-used tokens away."""
    auc = detection[(detection["variant"] == variant) & (detection["quantity"] == "auc")]
    auc = auc.set_index("method")
    magikarp = auc.loc["magikarp"]
    if math.isnan(magikarp["mean"]):
        return f"`{variant}`: the model has no never-used ids, so there is nothing to find."
    low, high = bounds(magikarp)
    how = (
        "gives them away almost perfectly"
        if low > WELL
        else "tells them apart better than chance"
        if low > 0.5
        else "does not tell them apart better than chance"
    )
    best = auc["mean"].idxmax()
    sentence = (
        f"`{variant}`: from the trained {matrix} alone, the Magikarp indicator {how} "
        f"(ROC AUC {magikarp['mean']:.3f}, 95% interval [{low:.3f}, {high:.3f}]); of the "
        f"three scores the {METHOD_LABELS[best]} does best (AUC {auc.loc[best, 'mean']:.3f})."
    )
    for method, row in auc.iterrows():
        if bounds(row)[1] < 0.5:  # the whole interval below chance: the score points backwards
            sentence += (
                f" The {METHOD_LABELS[method]} points the wrong way: never-used ids score "
                f"high on its opposite (AUC {row['mean']:.3f}, so {1 - row['mean']:.3f} reversed)."
            )
    return sentence


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
