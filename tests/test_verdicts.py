"""The computed sentence per variant: each side of zero, an interval holding zero, one seed,
and a group the variant's model does not have."""

import math

import pandas as pd

from unused_tokens.report.verdicts import variant_sentence

NAN = math.nan


def table(variant, **rows):
    """aggregate.describe rows: quantity=(mean, ci_low, ci_high)."""
    return pd.DataFrame(
        [
            {
                "variant": variant,
                "quantity": q,
                "n_seeds": 3,
                "mean": m,
                "ci_low": lo,
                "ci_high": hi,
            }
            for q, (m, lo, hi) in rows.items()
        ]
    )


def test_a_sentence_reads_each_interval_by_its_side_of_zero():
    differences = table(
        "untied",
        most_common_masked=(-0.5, -0.7, -0.3),
        least_common_masked=(0.02, -0.1, 0.14),
        never_used_masked=(1.25, 1.1, 1.4),
        loss=(-0.5, -0.6, -0.4),  # the training batches': not the cost
        held_out_loss=(0.031, 0.012, 0.05),
    )
    changes = table("untied", never_used_masked=(-2.5, -2.8, -2.2))
    assert variant_sentence("untied", differences, changes) == (
        "**untied** against the baseline, seed by seed (masked means, 95% intervals): "
        "the never-used group ends +1.25 [+1.1, +1.4] nats higher; "
        "the least-common group shows no clear difference (+0.02 [-0.1, +0.14] nats); "
        "the most-common group ends -0.5 [-0.7, -0.3] nats lower; "
        "the held-out loss is +0.031 [+0.012, +0.05] nats higher: what this variant costs. "
        "During training its never-used group still sinks: -2.5 [-2.8, -2.2] nats."
    )


def test_a_missing_group_one_seed_and_no_held_out_loss():
    differences = table(
        "pruned",
        most_common_masked=(0.4, NAN, NAN),
        least_common_masked=(0.0, NAN, NAN),
        never_used_masked=(NAN, NAN, NAN),
        loss=(-0.2, NAN, NAN),
        held_out_loss=(NAN, NAN, NAN),
    )
    changes = table("pruned", never_used_masked=(NAN, NAN, NAN))
    assert variant_sentence("pruned", differences, changes) == (
        "**pruned** against the baseline, seed by seed (masked means, 95% intervals): "
        "it has no never-used tokens; "
        "the least-common group shows no clear difference (+0 (one seed: no interval) nats); "
        "the most-common group ends +0.4 (one seed: no interval) nats higher; "
        "it has no held-out loss (the held-out text holds ids its vocabulary lacks); "
        "the loss on the training batches, in-sample, is -0.2 (one seed: no interval) nats "
        "lower: a gain."
    )


def test_a_never_used_group_that_stops_sinking_or_rises_is_said_so():
    differences = table(
        "frozen",
        most_common_masked=(0, -1, 1),
        least_common_masked=(0, -1, 1),
        never_used_masked=(3, 2, 4),
        loss=(0, -1, 1),
        held_out_loss=(0, -1, 1),
    )
    still = variant_sentence("frozen", differences, table("frozen", never_used_masked=(0, -1, 1)))
    assert still.endswith(
        "During training its never-used group does not move clearly: +0 [-1, +1] nats."
    )
    rises = variant_sentence("frozen", differences, table("frozen", never_used_masked=(1, 0.5, 2)))
    assert rises.endswith("During training its never-used group rises: +1 [+0.5, +2] nats.")
