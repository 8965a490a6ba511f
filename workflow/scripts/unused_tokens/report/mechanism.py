"""The report's two views of the mechanism, per variant, over seeds.

Where the never-used tokens' fall comes from: a token's log-probability is its logit minus the
normaliser (the logsumexp over the vocabulary), so on the probe's batches the never-used ids'
mean change splits exactly into the change of their own logits and that of the normaliser, the
same for every token (claims.run_measures). How their output rows moved: each row's
displacement (trained minus untrained) against the mean displacement of its count bucket
(weights.displacement): an optimizer whose step ignores the gradient's scale gives rows whose
gradients share a direction one and the same displacement.
"""

from ..analysis.aggregate import describe, text_table

NORMALISER_COLUMNS = {  # measure: column heading; the first is the second minus the third
    "never_used_log_prob_change": "never-used log-prob change",
    "never_used_logit_change": "= their logits' change",
    "logsumexp_change": "- the normaliser's change",
}
DISPLACEMENT_COLUMNS = {
    "displacement_norm": "mean length",
    "displacement_cosine": "cosine with the bucket's mean",
    "displacement_spread": "distance from the mean / its length",
}
DISPLACEMENT_BUCKETS = {"0": "never used", ">100": "count > 100"}


def normaliser_table(measures, interval):
    """Per variant: the never-used ids' change of mean log-probability on the probe's batches,
    their logits' change and the normaliser's, each described over seeds and shown by
    `interval` (a describe row to text)."""
    values = measures.melt(
        id_vars=["variant", "seed"], value_vars=list(NORMALISER_COLUMNS), var_name="quantity"
    )
    described = describe(values, ["variant", "quantity"])
    order = list(dict.fromkeys(measures["variant"]))
    return text_table(described, "variant", "quantity", NORMALISER_COLUMNS, interval, order)


def displacement_table(geometry, interval):
    """Per variant and bucket (DISPLACEMENT_BUCKETS): the output rows' displacement measures
    from an aggregate geometry table (schemas.GEOMETRY_SUMMARY), shown by `interval`."""
    rows = geometry[
        (geometry["model"] == "trained")
        & geometry["bucket"].isin(list(DISPLACEMENT_BUCKETS))
        & geometry["quantity"].isin(list(DISPLACEMENT_COLUMNS))
    ].assign(bucket=lambda t: t["bucket"].map(DISPLACEMENT_BUCKETS))
    order = [(v, b) for v in dict.fromkeys(rows["variant"]) for b in DISPLACEMENT_BUCKETS.values()]
    index = ["variant", "bucket"]
    return text_table(rows, index, "quantity", DISPLACEMENT_COLUMNS, interval, order)
