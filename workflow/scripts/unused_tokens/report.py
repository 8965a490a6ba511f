"""Tables and figures of the report, computed from the pipeline's Parquet outputs.

`claims` turns the experiment's claims into measured numbers with an explicit test and a
PASS/FAIL verdict, so the report states what the data show rather than what was expected.
"""

import math

import matplotlib.pyplot as plt
import pandas as pd

from .schemas import GROUP_NAMES

# Okabe-Ito colours: distinguishable with every common form of colour blindness.
GROUP_COLOURS = {"most_common": "#0072B2", "least_common": "#E69F00", "never_used": "#D55E00"}
GROUP_LABELS = {
    "most_common": "most common",
    "least_common": "least common",
    "never_used": "never used",
}


def claims(probe_groups, training_log, vocab_size, tolerance=0.05):
    """One row per claim of the experiment: claim, measured, test, result (PASS or FAIL)."""
    uniform = -math.log(vocab_size)
    probe = probe_groups.set_index("group")
    first, last = training_log.iloc[0], training_log.iloc[-1]
    change = {g: last[f"{g}_masked"] - first[f"{g}_masked"] for g in GROUP_NAMES}
    largest_gap = (probe["masked_mean"] - uniform).abs().max()
    copy_gain = last["most_common_unmasked"] - last["most_common_masked"]
    rows = [
        (
            "Untrained, every group sits at the uniform log-probability -ln V",
            f"largest |group mean - ({uniform:.3f})| = {largest_gap:.4f}",
            f"< {tolerance}",
            largest_gap < tolerance,
        ),
        (
            "Unmasked means flatter the common tokens: masking removes their in-context head start",
            f"final most common unmasked - masked = {copy_gain:+.3f}",
            "> 0",
            copy_gain > 0,
        ),
        (
            "Training raises the most common tokens",
            f"change of most common (masked) = {change['most_common']:+.3f}",
            "> 0",
            change["most_common"] > 0,
        ),
        (
            "Training lowers the least common tokens",
            f"change of least common (masked) = {change['least_common']:+.3f}",
            "< 0",
            change["least_common"] < 0,
        ),
        (
            "Never-used tokens fall the most",
            f"change of never used = {change['never_used']:+.3f}, "
            f"of least common = {change['least_common']:+.3f}",
            "never used < least common < 0",
            change["never_used"] < change["least_common"] < 0,
        ),
        (
            "After training: most common > least common > never used",
            ", ".join(f"{GROUP_LABELS[g]} {last[f'{g}_masked']:.2f}" for g in GROUP_NAMES),
            "strictly decreasing",
            last["most_common_masked"] > last["least_common_masked"] > last["never_used_masked"],
        ),
    ]
    table = pd.DataFrame(rows, columns=["claim", "measured", "test", "passed"])
    table["result"] = table.pop("passed").map({True: "PASS", False: "FAIL"})
    return table


def plot_probe(probe_groups, vocab_size):
    """Bar chart of the untrained model's group means, masked and unmasked, against -ln V."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    probe = probe_groups.set_index("group").loc[list(GROUP_NAMES)]
    x = range(len(probe))
    for offset, kind, hatch in ((-0.2, "masked", ""), (0.2, "unmasked", "//")):
        ax.bar(
            [i + offset for i in x],
            probe[f"{kind}_mean"],
            width=0.4,
            hatch=hatch,
            color=[GROUP_COLOURS[g] for g in probe.index],
            edgecolor="black",
            label=kind,
        )
    ax.axhline(-math.log(vocab_size), color="black", linestyle=":", label="-ln V")
    lo = min(probe[["masked_mean", "unmasked_mean"]].min()) - 0.05
    ax.set_ylim(lo, max(probe[["masked_mean", "unmasked_mean"]].max()) + 0.05)
    ax.set_xticks(list(x), [GROUP_LABELS[g] for g in probe.index])
    ax.set_ylabel("mean log-softmax (nats)")
    ax.set_title("Untrained model")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_training(training_log):
    """Loss and each group's mean log-softmax per step; unmasked variants dashed."""
    fig, (ax_loss, ax_groups) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.plot(training_log["step"], training_log["loss"], color="black")
    ax_loss.set_xlabel("optimizer step")
    ax_loss.set_ylabel("training loss (nats/token)")
    ax_loss.set_title("Loss")
    for g in GROUP_NAMES:
        colour = GROUP_COLOURS[g]
        ax_groups.plot(
            training_log["step"],
            training_log[f"{g}_masked"],
            color=colour,
            label=f"{GROUP_LABELS[g]} (masked)",
        )
        ax_groups.plot(
            training_log["step"],
            training_log[f"{g}_unmasked"],
            color=colour,
            linestyle="--",
            label=f"{GROUP_LABELS[g]} (unmasked)",
        )
    ax_groups.set_xlabel("optimizer step")
    ax_groups.set_ylabel("mean log-softmax (nats)")
    ax_groups.set_title("Token groups")
    ax_groups.legend(fontsize="small")
    fig.tight_layout()
    return fig
