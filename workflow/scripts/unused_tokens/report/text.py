"""The variants' values as one table of text, each written as aggregate.interval writes a
described value."""

from ..analysis.aggregate import interval, text_table
from ..pipeline.names import GROUP_LABELS, GROUP_NAMES

FINAL_COLUMNS = {
    "loss": "loss",
    "held_out_loss": "held-out loss",
    "held_out_seen_loss": "held-out loss, targets seen in training",
    "held_out_unseen_loss": "held-out loss, targets never in the training text",
} | {f"{g}_masked": f"{GROUP_LABELS[g]}, masked" for g in GROUP_NAMES}


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
