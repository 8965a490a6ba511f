"""What the fine-tuning arms show together: curves over seeds, the new tokens' loss at the
report's steps, the steps to the unigram level, the claims, and the recovery figure.

A value "at step K" is the mean of the last `smooth_steps` values of a quantity up to K (the new
tokens' loss jumps from batch to batch: few positions have a new target). Every interval is the
95% Student-t interval over seeds (aggregate.describe); the claims compare arms seed by seed, so
that what a seed's arms share (their windows, the pretrained run) cancels.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import schemas
from .aggregate import describe
from .claims import Claim, Test, claim_rows
from .figures import legend_outside
from .finetune import steps_to_level
from .schemas import ARMS

QUANTITIES = ("new_loss", "other_loss")  # the loss split by the target: a new token or not
ARM_COLOURS = dict(zip(ARMS, ("#CC79A7", "#009E73", "#56B4E9"), strict=True))
LOSS_CLAIMS = (  # (claim after {k} steps; first arm, second arm, quantity, difference above 0)
    (
        "Pretraining on the first book handicaps the new tokens: after {k} steps, their loss is "
        "higher for the pretrained model than for a fresh one",
        ("pretrained", "fresh", "new_loss", True),
    ),
    (
        "Resetting the unseen rows before fine-tuning lowers the new tokens' loss after {k} steps",
        ("pretrained_reset", "pretrained", "new_loss", False),
    ),
    (
        "Pretraining helps the second book's other tokens: after {k} steps, their loss is lower "
        "for the pretrained model than for a fresh one",
        ("pretrained", "fresh", "other_loss", False),
    ),
)
REACH_CLAIMS = (  # (claim; first arm, second arm, difference of steps to the level above 0)
    (
        "Pretraining delays the new tokens: the pretrained model needs more steps than a fresh "
        "one to bring their loss to the unigram level",
        ("pretrained", "fresh", True),
    ),
    (
        "Resetting the unseen rows first brings the new tokens' loss to the unigram level in "
        "fewer steps",
        ("pretrained_reset", "pretrained", False),
    ),
)


def long_log(logs):
    """schemas.FINETUNE_STEPS rows of {(arm, seed): fine-tuning log}."""
    parts = [
        log.melt(id_vars="step", var_name="quantity", value_name="value").assign(arm=a, seed=s)
        for (a, s), log in logs.items()
    ]
    return pd.concat(parts, ignore_index=True)[schemas.FINETUNE_STEPS.names]


def smoothed(long, smooth_steps):
    """`long` with each run's quantities replaced by their mean over the last `smooth_steps`
    steps (NaN values, batches without a new target, left out)."""
    ordered = long.sort_values(["arm", "seed", "quantity", "step"])
    values = ordered.groupby(["arm", "seed", "quantity"], sort=False)["value"]
    rolled = values.transform(lambda v: v.rolling(smooth_steps, min_periods=1).mean())
    return ordered.assign(value=rolled)


def at_steps(long, report_steps, smooth_steps):
    """Each arm's new and other tokens' loss at each report step, described over seeds."""
    chosen = smoothed(long, smooth_steps)
    chosen = chosen[chosen["step"].isin(report_steps) & chosen["quantity"].isin(QUANTITIES)]
    return describe(chosen, ["arm", "quantity", "step"])


def reach(long, level, smooth_steps):
    """Per arm and seed: the step at which the new tokens' loss reaches `level` (NaN: never)."""
    new = long[long["quantity"] == "new_loss"]
    rows = [
        (arm, seed, steps_to_level(run.set_index("step")["value"], level, smooth_steps))
        for (arm, seed), run in new.groupby(["arm", "seed"], sort=False)
    ]
    return pd.DataFrame(rows, columns=["arm", "seed", "steps_to_level"])


def reach_summary(reach):
    """Per arm: the seeds that reached the level, of how many, and their steps to it described
    over those seeds (NaN where none did)."""
    rows = []
    for arm in ARMS:
        steps = reach.loc[reach["arm"] == arm, "steps_to_level"]
        reached = pd.DataFrame({"arm": arm, "value": steps.dropna()})
        d = describe(reached, ["arm"]).iloc[0] if len(reached) else {}
        rows.append(
            {
                "arm": arm,
                "reached": _reached(steps),
                **{k: d.get(k, np.nan) for k in ("mean", "ci_low", "ci_high")},
            }
        )
    return pd.DataFrame(rows)


def claims(long, report_steps, smooth_steps, reached):
    """schemas.CLAIMS rows (variant "finetune", one Holm-corrected family): the loss claims at
    each report step and the claims on the steps to the unigram level (`reached`, from reach),
    each on the paired difference of two arms over seeds. A seed at which either arm never
    reached the level within the run is left out; with no seed left the claim is N/A and says
    how many seeds reached it."""
    values = smoothed(long, smooth_steps).set_index(["step", "arm", "seed", "quantity"])["value"]
    steps = reached.set_index(["arm", "seed"])["steps_to_level"]
    found, why = [], {}
    for k in report_steps:
        for text, (first, second, quantity, above) in LOSS_CLAIMS:
            at = values.xs((k, quantity), level=("step", "quantity"))
            measure = f"{quantity} {first} - {second} at step {k}"
            found.append(_paired(text.format(k=k), measure, at[first] - at[second], above))
    for text, (first, second, above) in REACH_CLAIMS:
        measure = f"steps to the level, {first} - {second}"
        why[measure] = (
            f"no seed at which both arms reach the level within {long['step'].max()} steps; "
            + (", ".join(f"{arm} reaches it at {_reached(steps[arm])}" for arm in (first, second)))
        )
        found.append(_paired(text, measure, steps[first] - steps[second], above))
    return pd.DataFrame(claim_rows("finetune", found, why), columns=schemas.CLAIMS.names)


def _reached(steps):
    return f"{steps.notna().sum()} of {len(steps)} seeds"


def _paired(text, measure, differences, above):
    """A claims.Claim of the family "finetune" on the per-seed `differences` of two arms (above
    or below 0), with the differences described over seeds (NaN ones left out)."""
    values = pd.DataFrame({"measure": measure, "value": differences.to_numpy()})
    d = describe(values, ["measure"]).iloc[0]
    return Claim(text, (Test(measure, above, 0),), "finetune"), [d]


def plot_recovery(long, level, smooth_steps):
    """The new tokens' loss (left) and the other tokens' (right) over fine-tuning steps, each
    arm's mean over seeds with its 95% band, smoothed; the unigram level dashed on the left."""
    curves = smoothed(long, smooth_steps)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharex=True)
    for ax, quantity in zip(axes, QUANTITIES, strict=True):
        described = describe(curves[curves["quantity"] == quantity], ["arm", "step"])
        for arm in ARMS:
            d = described[described["arm"] == arm]
            ax.plot(d["step"], d["mean"], color=ARM_COLOURS[arm], label=arm.replace("_", ", "))
            ax.fill_between(d["step"], d["ci_low"], d["ci_high"], color=ARM_COLOURS[arm], alpha=0.2)
        ax.set_xlabel("fine-tuning step")
        ax.set_ylabel("loss (nats)")
    axes[0].set_title("targets among the new tokens")
    axes[1].set_title("every other target")
    axes[0].axhline(level, color="grey", linestyle="--", label="unigram level")
    legend_outside(axes[1], handles=axes[0].get_legend_handles_labels()[0])
    return fig
