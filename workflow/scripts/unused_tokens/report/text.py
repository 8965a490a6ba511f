"""How the report writes numbers: a value described over seeds with its interval, and the
variants' values as one table of text."""

import math

from ..analysis.aggregate import text_table
from ..pipeline.names import GROUP_LABELS, GROUP_NAMES

FINAL_COLUMNS = {"loss": "loss", "held_out_loss": "held-out loss"} | {
    f"{g}_masked": f"{GROUP_LABELS[g]}, masked" for g in GROUP_NAMES
}


def interval(row, digits=3, signed=False):
    """A `describe` row as "mean [low, high]", the mean alone where there is no interval (one
    seed), "n/a" where there is no value (a group the variant's model does not have)."""
    if math.isnan(row["mean"]):
        return "n/a"
    f = f"{'+' if signed else ''}.{digits}f"
    if math.isnan(row["ci_low"]):
        return format(row["mean"], f)
    return f"{row['mean']:{f}} [{row['ci_low']:{f}}, {row['ci_high']:{f}}]"


def variant_table(described, columns=FINAL_COLUMNS, order=None, **style):
    """`describe` rows as variant x quantity text (`interval` with `style`): the quantities of
    `columns` it has, renamed to their labels; variants in `order` (default: as they come)."""
    present = set(described["variant"])
    order = list(dict.fromkeys(described["variant"])) if order is None else order
    labels = {q: label for q, label in columns.items() if q in set(described["quantity"])}
    show = lambda row: interval(row, **style)  # noqa: E731
    return text_table(
        described, "variant", "quantity", labels, show, [v for v in order if v in present]
    )
