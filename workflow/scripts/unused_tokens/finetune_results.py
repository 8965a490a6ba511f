"""What the fine-tuning arms show together: curves over seeds, the new tokens' loss at the
report's steps, the steps to the unigram level, the claims, and the recovery figure.

Every value is the loss on the second book's held-out slice (held_out.py), scored at the same
steps for every arm; the training batches' losses stay in the long table. Every interval is the
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

# The held-out loss split by the target: a new token or not.
QUANTITIES = ("held_out_new_loss", "held_out_other_loss")
ARM_COLOURS = dict(zip(ARMS, ("#CC79A7", "#009E73", "#56B4E9"), strict=True))
LOSS_CLAIMS = (  # (claim after {k} steps; first arm, second arm, quantity, difference above 0)
    (
        "Pretraining on the first book handicaps the new tokens: after {k} steps, their held-out "
        "loss is higher for the pretrained model than for a fresh one",
        ("pretrained", "fresh", "held_out_new_loss", True),
    ),
    (
        "Resetting the unseen rows before fine-tuning lowers the new tokens' held-out loss after "
        "{k} steps",
        ("pretrained_reset", "pretrained", "held_out_new_loss", False),
    ),
    (
        "Pretraining helps the second book's other tokens: after {k} steps, their held-out loss "
        "is lower for the pretrained model than for a fresh one",
        ("pretrained", "fresh", "held_out_other_loss", False),
    ),
)
REACH_CLAIMS = (  # (claim; first arm, second arm, difference of steps to the level above 0)
    (
        "Pretraining delays the new tokens: the pretrained model needs more steps than a fresh "
        "one to bring their held-out loss to the unigram level",
        ("pretrained", "fresh", True),
    ),
    (
        "Resetting the unseen rows first brings the new tokens' held-out loss to the unigram "
        "level in fewer steps",
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


def scored(long):
    """The rows of `long` that hold a held-out value (QUANTITIES at the steps it was scored)."""
    return long[long["quantity"].isin(QUANTITIES) & long["value"].notna()]


def at_steps(long, report_steps):
    """Each arm's held-out loss on new and other targets at each report step, over seeds."""
    chosen = scored(long)
    return describe(chosen[chosen["step"].isin(report_steps)], ["arm", "quantity", "step"])


def reach(long, level):
    """Per arm and seed: the step at which the new tokens' held-out loss reaches `level` (NaN:
    never)."""
    new = long[long["quantity"] == QUANTITIES[0]]
    rows = [
        (arm, seed, steps_to_level(run.set_index("step")["value"], level))
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


def claims(long, report_steps, reached):
    """schemas.CLAIMS rows (variant "finetune", one Holm-corrected family): the loss claims at
    each report step and the claims on the steps to the unigram level (`reached`, from reach),
    each on the paired difference of two arms over seeds. A seed at which either arm never
    reached the level within the run is left out; with no seed left the claim is N/A and says
    how many seeds reached it."""
    values = scored(long).set_index(["step", "arm", "seed", "quantity"])["value"]
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


def plot_recovery(long, level):
    """The held-out loss on the new tokens (left) and on every other target (right) over
    fine-tuning steps, each arm's mean over seeds with its 95% band; the unigram level dashed on
    the left."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharex=True)
    curves = scored(long)
    for ax, quantity in zip(axes, QUANTITIES, strict=True):
        described = describe(curves[curves["quantity"] == quantity], ["arm", "step"])
        for arm in ARMS:
            d = described[described["arm"] == arm]
            ax.plot(d["step"], d["mean"], color=ARM_COLOURS[arm], label=arm.replace("_", ", "))
            ax.fill_between(d["step"], d["ci_low"], d["ci_high"], color=ARM_COLOURS[arm], alpha=0.2)
        ax.set_xlabel("fine-tuning step")
        ax.set_ylabel("held-out loss (nats)")
    axes[0].set_title("targets among the new tokens")
    axes[1].set_title("every other target")
    axes[0].axhline(level, color="grey", linestyle="--", label="unigram level")
    legend_outside(axes[1], handles=axes[0].get_legend_handles_labels()[0])
    return fig
