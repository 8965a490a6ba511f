"""The computed sentence per variant: each side of zero, an interval holding zero, one seed,
and a group the variant's model does not have."""

import math

import pandas as pd
from scipy import stats

from unused_tokens.report.verdicts import findings, unseen_share, variant_sentence

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
        "the never-used group ends +1.25 [+1.10, +1.40] nats higher; "
        "the least-common group shows no clear difference (+0.02 [-0.10, +0.14] nats); "
        "the most-common group ends -0.50 [-0.70, -0.30] nats lower; "
        "the held-out loss is +0.031 [+0.012, +0.050] nats higher: what this variant costs. "
        "During training its never-used group still sinks: -2.50 [-2.80, -2.20] nats."
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
        "the least-common group shows no clear difference (+0.000 (one seed: no interval) nats); "
        "the most-common group ends +0.400 (one seed: no interval) nats higher; "
        "it has no held-out loss (the held-out text holds ids its vocabulary lacks); "
        "the loss on the training batches, in-sample, is -0.200 (one seed: no interval) nats "
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
        "During training its never-used group does not move clearly: +0.0 [-1.0, +1.0] nats."
    )
    rises = variant_sentence("frozen", differences, table("frozen", never_used_masked=(1, 0.5, 2)))
    assert rises.endswith("During training its never-used group rises: +1.00 [+0.50, +2.00] nats.")


def measures_of(**values):
    """Two seeds of claims.run_measures rows of the baseline: measure=(seed 0, seed 1)."""
    return pd.DataFrame(
        [{"variant": "baseline", "seed": s, **{k: v[s] for k, v in values.items()}} for s in (0, 1)]
    )


def half(a, b):
    """The 95% Student-t half-width of two values' mean."""
    return stats.t.ppf(0.975, 1) * abs(a - b) / math.sqrt(2) / math.sqrt(2)


def test_the_opening_states_each_finding_with_its_interval_and_its_comparison_point():
    measures = measures_of(
        change_most_common=(4.70, 4.74),
        change_least_common=(-1.60, -1.70),
        change_never_used=(-2.80, -2.90),
        fall_excess=(-1.20, -1.20 - 1e-3),
    )
    final = table("baseline", held_out_loss=(6.71, 6.70, 6.72))
    text = findings(measures, final, 50257)
    h = half(4.70, 4.74)
    assert text.startswith(
        "Untrained, every group sits at -ln V = -10.825 nats. From there, on the probe's batches "
        f"(masked), training makes the most common tokens rise +4.72 [{4.72 - h:+.3g}, "
        f"{4.72 + h:+.3g}] nats, the least common tokens "
    )
    assert "the never used tokens fall -2.85 [" in text
    assert (
        "The never-used tokens fall further than the least common ones (tokens seen once)" in text
    )
    assert text.endswith(
        "The loss on the held-out text, never trained on, ends at 6.710 [6.700, 6.720] nats."
    )


def test_the_opening_says_so_when_an_interval_holds_zero_and_when_there_is_one_seed():
    measures = measures_of(
        change_most_common=(0.5, -0.4),
        change_least_common=(-1.0, -1.1),
        change_never_used=(-1.0, -1.2),
        fall_excess=(0.1, -0.2),
    )
    text = findings(measures, table("baseline", held_out_loss=(7.0, NAN, NAN)), 1000)
    assert "the most common tokens move by +0." in text and "no clear change" in text
    assert (
        "fall about as far as the least common ones (tokens seen once): no clear difference" in text
    )
    assert text.endswith("ends at 7.000 (one seed: no interval) nats.")


def test_the_opening_splits_the_held_out_loss_by_whether_training_saw_the_target():
    measures = measures_of(
        change_most_common=(4.70, 4.74),
        change_least_common=(-1.6, -1.7),
        change_never_used=(-2.84, -2.86),
        fall_excess=(-1.20, -1.21),
    )
    final = table(
        "baseline",
        held_out_loss=(6.71, 6.70, 6.72),
        held_out_seen_loss=(6.49, 6.48, 6.50),
        held_out_unseen_loss=(13.67, 13.6, 13.7),
    )
    share = unseen_share({"held_out_positions": "[16384, 496, 15888]"})
    assert share == 496 / 16384
    assert findings(measures, final, 50257, share).endswith(
        "ends at 6.710 [6.700, 6.720] nats: 6.490 [6.480, 6.500] on the targets seen in "
        "training, and 13.670 [13.600, 13.700] on the 3.03% that never occur in the training "
        "text, which no amount of training on it can predict: the first is the one to set "
        "beside the training batches' loss."
    )
    everything_seen = findings(
        measures, final, 50257, unseen_share({"held_out_positions": "[9, 0, 9]"})
    )
    assert everything_seen.endswith(
        "ends at 6.710 [6.700, 6.720] nats: every target is a token seen in training "
        "(6.490 [6.480, 6.500])."
    )
    assert unseen_share({"device": "cpu"}) is None  # a slice that was not scored
    assert findings(measures, final, 50257, None).endswith("[6.700, 6.720] nats.")


def test_the_opening_says_how_many_least_common_tokens_training_saw():
    measures = measures_of(
        change_most_common=(4.70, 4.74),
        change_least_common=(-1.6, -1.7),
        change_never_used=(-2.84, -2.86),
        fall_excess=(-1.20, -1.21),
        least_minus_never=(1.16, 1.20),
        least_common_targeted=(63, 77),
        targeted_minus_never=(1.70, 1.72),
    )
    text = findings(measures, table("baseline", held_out_loss=(6.71, 6.70, 6.72)), 50257)
    h, whole = half(1.70, 1.72), half(1.16, 1.20)
    assert (
        "Random windows made 63 to 77 of the least common tokens a training target in a run; "
        "the others were never trained toward. Trained, the ones that were end "
        f"+1.71 [{1.71 - h:+.2f}, {1.71 + h:+.2f}] nats above the never-used group (per-id "
        f"means), against +1.18 [{1.18 - whole:+.2f}, {1.18 + whole:+.2f}] for the whole group."
    ) in text
