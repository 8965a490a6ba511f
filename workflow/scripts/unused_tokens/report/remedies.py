"""The remedies compared like for like.

A model pruned to the corpus's ids (model.vocabulary: corpus) spreads its probability over those
ids alone (9,416 in the trained part of Gulliver's Travels) instead of 50,257, so it starts every
token at -ln 9,416, 1.67 nats above the full vocabulary's -ln 50,257: its levels cannot be set
beside the others'. Here every model's mean
log-probabilities are renormalised over the ids that occur in the corpus (probe.VocabMeans
within_corpus, on the probe's batches, unmasked), which is what a pruned model computes anyway,
and each group's change is taken from the model's own start.
"""

import pandas as pd

from ..analysis.aggregate import describe, text_table
from ..pipeline.names import GROUP_LABELS, GROUP_NAMES

COMPARED = GROUP_NAMES[:2]  # groups whose ids occur in the corpus: most and least common


def renormalised_groups(vocab, groups):
    """{quantity: value} of one run's vocabulary table (schemas.VOCAB_LOGPROBS) and the groups
    table: each compared group's mean renormalised log-probability after training, and its
    change from the untrained model's."""
    table = vocab.set_index("token_id")
    values = {}
    for group in COMPARED:
        ids = groups.loc[groups["group"] == group, "token_id"]
        trained = table.loc[ids, "trained_within_corpus"].mean()
        untrained = table.loc[ids, "untrained_within_corpus"].mean()
        values[f"{group} level"] = trained
        values[f"{group} change"] = trained - untrained
    return values


def like_for_like(vocab_by_run, groups, interval):
    """Variant x (group, level or change): means over seeds with 95% intervals, shown by
    `interval`; vocab_by_run: {(variant, seed): vocabulary table}."""
    rows = [
        {"variant": variant, "seed": seed, "quantity": quantity, "value": value}
        for (variant, seed), vocab in vocab_by_run.items()
        for quantity, value in renormalised_groups(vocab, groups).items()
    ]
    described = describe(pd.DataFrame(rows), ["variant", "quantity"])
    columns = {
        f"{g} {kind}": f"{GROUP_LABELS[g]}: {kind}"
        for g in COMPARED
        for kind in ("level", "change")
    }
    order = list(dict.fromkeys(variant for variant, _ in vocab_by_run))
    return text_table(described, "variant", "quantity", columns, interval, order)
