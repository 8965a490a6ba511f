"""Computed sentences: the report's opening findings, and one sentence per variant on what its
numbers show against the baseline, either way.

A difference is "higher" or "lower" only when its whole 95% interval over seeds lies on that
side of zero; an interval that holds zero reads "no clear difference". With one seed there is no
interval, and the sentence gives the single value and says so. A group the variant's model does
not have (never-used tokens after vocabulary pruning: NaN) is named as such. The cost is the
held-out loss; a model that cannot read the held-out text (a pruned vocabulary) is said to have
none, and its loss on the training batches, in-sample, is given instead.
"""

import json
import math

from ..analysis.aggregate import bounds, describe, interval
from ..pipeline.names import BASELINE_VARIANT, GROUP_LABELS, GROUP_NAMES


def _value(row):
    return interval(row, signed=True, say_one_seed=True)


def _side(row):
    """'higher', 'lower' or None (the interval holds zero, or one seed's value is zero)."""
    low, high = bounds(row)
    return "higher" if low > 0 else "lower" if high < 0 else None


def _difference(name, row):
    if math.isnan(row["mean"]):
        return f"it has no {name} tokens"
    side = _side(row)
    if side is None:
        return f"the {name} group shows no clear difference ({_value(row)} nats)"
    return f"the {name} group ends {_value(row)} nats {side}"


def _loss(row, name):
    side = _side(row)
    if side is None:
        return f"the {name} shows no clear difference ({_value(row)} nats)"
    cost = "what this variant costs" if side == "higher" else "a gain"
    return f"the {name} is {_value(row)} nats {side}: {cost}"


def _cost(diff):
    """The held-out loss's difference in words; without one, why, and the training batches'."""
    if not math.isnan(diff.loc["held_out_loss", "mean"]):
        return _loss(diff.loc["held_out_loss"], "held-out loss")
    return "it has no held-out loss (the held-out text holds ids its vocabulary lacks); " + _loss(
        diff.loc["loss"], "loss on the training batches, in-sample,"
    )


def _never_used_fall(row):
    if math.isnan(row["mean"]):
        return ""
    side = _side(row)
    if side == "lower":
        return f" During training its never-used group still sinks: {_value(row)} nats."
    if side == "higher":
        return f" During training its never-used group rises: {_value(row)} nats."
    return f" During training its never-used group does not move clearly: {_value(row)} nats."


def variant_sentence(variant, differences, changes):
    """The sentence for `variant`: its final group means and held-out loss minus the baseline's
    at the same seed (`differences`, aggregate.paired_differences), and how far its never-used group
    moved during training (`changes`, aggregate.changes)."""
    diff = differences[differences["variant"] == variant].set_index("quantity")
    moved = changes[changes["variant"] == variant].set_index("quantity")
    groups = [_difference(g.replace("_", "-"), diff.loc[f"{g}_masked"]) for g in GROUP_NAMES]
    return (
        f"**{variant}** against the baseline, seed by seed (masked means, 95% intervals): "
        f"{'; '.join(reversed(groups))}; {_cost(diff)}."
        f"{_never_used_fall(moved.loc['never_used_masked'])}"
    )


def _moved(row):
    """A group's change in words, whichever way its interval lies."""
    side = _side(row)
    verb = {"higher": "rise", "lower": "fall", None: "move by"}[side]
    if side is None:
        return f"{verb} {_value(row)} nats, no clear change"
    return f"{verb} {_value(row)} nats"


def findings(measures, final, vocab_size, unseen_share=None, variant=BASELINE_VARIANT):
    """The report's opening: what the baseline's runs show, in words, each number with its
    interval and what it is compared with. `measures`: claims.run_measures rows per run;
    `final`: aggregate.summary rows; `vocab_size`: the untrained level's V (-ln V);
    `unseen_share`: the share of held-out targets never in the training text."""
    rows = measures[measures["variant"] == variant].melt(
        id_vars=["variant", "seed"], var_name="quantity", value_name="value"
    )
    m = describe(rows, ["quantity"]).set_index("quantity")
    end = final[final["variant"] == variant].set_index("quantity")
    moves = [f"the {GROUP_LABELS[g]} tokens {_moved(m.loc[f'change_{g}'])}" for g in GROUP_NAMES]
    excess = m.loc["fall_excess"]
    side = _side(excess)
    than = {
        "lower": "fall further than the least common ones (tokens seen once)",
        "higher": "fall less far than the least common ones (tokens seen once)",
        None: "fall about as far as the least common ones (tokens seen once): no clear difference",
    }[side]
    sentences = [
        f"Untrained, every group sits at -ln V = {-math.log(vocab_size):.3f} nats. From there, on "
        f"the probe's batches (masked), training makes {', '.join(moves[:2])} and {moves[2]}.",
    ]
    if not math.isnan(excess["mean"]):
        sentences.append(f"The never-used tokens {than}, by {_value(excess)} nats.")
    if "targeted_minus_never" in m.index and not math.isnan(m.loc["targeted_minus_never", "mean"]):
        targeted = rows.loc[rows["quantity"] == "least_common_targeted", "value"]
        sentences.append(_targeted(targeted, m))
    held_out = end.loc["held_out_loss"] if "held_out_loss" in end.index else None
    if held_out is not None and not math.isnan(held_out["mean"]):
        sentences.append(
            "The loss on the held-out text, never trained on, ends at "
            f"{interval(held_out, say_one_seed=True)} nats" + _held_out_split(end, unseen_share)
        )
    return " ".join(sentences)


def _targeted(targeted, m):
    """The least common tokens training saw, in words: how many per run, and the gap to the
    never-used group for them beside the whole group's. `targeted`: per-run counts."""
    low, high = int(targeted.min()), int(targeted.max())
    many = f"{low}" if low == high else f"{low} to {high}"
    return (
        f"Random windows made {many} of the least common tokens a training target in a run; "
        "the others were never trained toward. Trained, the ones that were end "
        f"{_value(m.loc['targeted_minus_never'])} nats above the never-used group (per-id "
        f"means), against {_value(m.loc['least_minus_never'])} for the whole group."
    )


def unseen_share(metadata):
    """The share of held-out targets never in the training text, from a training log's Parquet
    metadata (train_job: held_out_positions); None where the slice was not scored."""
    if "held_out_positions" not in metadata:
        return None
    everything, unseen, _ = json.loads(metadata["held_out_positions"])
    return unseen / everything


def _held_out_split(end, unseen_share):
    """The held-out loss's two parts in words: on targets seen in training and on those never
    in the training text, which no training can predict well (a clause ending the sentence)."""
    if unseen_share is None or "held_out_seen_loss" not in end.index:
        return "."
    seen = interval(end.loc["held_out_seen_loss"], say_one_seed=True)
    if not unseen_share:
        return f": every target is a token seen in training ({seen})."
    unseen = interval(end.loc["held_out_unseen_loss"])
    return (
        f": {seen} on the targets seen in training, and {unseen} on the "
        f"{100 * unseen_share:.2f}% that never occur in the training text, which no amount of "
        "training on it can predict: the first is the one to set beside the training batches' loss."
    )
