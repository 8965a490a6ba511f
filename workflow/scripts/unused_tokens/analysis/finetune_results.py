"""What the fine-tuning arms show together: curves over seeds, the new tokens' loss at the
report's steps, the level of the unigram predictor and the steps to reach it, the claims (the
recovery figure is figures.plot_recovery).

Every value is the loss on the second book's held-out slice (held_out.py), scored at the same
steps for every arm; the training batches' losses stay in the long table. Every interval is the
95% Student-t interval over seeds (aggregate.describe); the claims compare arms seed by seed, so
that what a seed's arms share (their windows, the pretrained run) cancels.
"""

import numpy as np
import pandas as pd

from ..pipeline import schemas
from ..pipeline.errors import PipelineError
from ..pipeline.names import ARM_LABELS, ARMS, HELD_OUT_LABELS
from .aggregate import describe, stacked
from .claims import NATS_MARGIN, STEPS_MARGIN, Claim, Test, claim_rows

# The held-out loss split by the target: a new token or not.
QUANTITIES = ("held_out_new_loss", "held_out_other_loss")
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
    return stacked(logs, ["step"], run=("arm", "seed"))


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
    each report step (t-tests beyond NATS_MARGIN) and the claims on the steps to the unigram
    level (`reached`, from reach; exact sign tests beyond STEPS_MARGIN), each on the paired
    difference of two arms over seeds. A seed at which an arm never reaches the level within the
    run is censored, never left out: its steps count as more than any reached (the difference
    is infinite; where neither arm reaches it, the seed is a tie, which never supports a
    claim)."""
    values = scored(long).set_index(["step", "arm", "seed", "quantity"])["value"]
    steps = reached.set_index(["arm", "seed"])["steps_to_level"].fillna(np.inf)
    found = []
    for k in report_steps:
        for text, (first, second, quantity, above) in LOSS_CLAIMS:
            at = values.xs((k, quantity), level=("step", "quantity"))
            measure = f"{HELD_OUT_LABELS[quantity]} after {k} steps, {_minus(first, second)} (nats)"
            test = Test(measure, above, NATS_MARGIN if above else -NATS_MARGIN)
            found.append(_paired(text.format(k=k), test, at[first] - at[second]))
    for text, (first, second, above) in REACH_CLAIMS:
        measure = f"steps to the unigram level, {_minus(first, second)}"
        test = Test(measure, above, STEPS_MARGIN if above else -STEPS_MARGIN, sign=True)
        difference = (steps[first] - steps[second]).fillna(0.0)  # both never: a tie
        found.append(_paired(text, test, difference))
    return pd.DataFrame(claim_rows("finetune", found), columns=schemas.CLAIMS.names)


def _minus(first, second):
    """The difference of two arms in words: '"pretrained" minus "fresh (untrained)"'."""
    return f'"{ARM_LABELS[first]}" minus "{ARM_LABELS[second]}"'


def _reached(steps):
    return f"{steps.notna().sum()} of {len(steps)} seeds"


def _paired(text, test, differences):
    """A claims.Claim of the family "finetune" with its one `test` on the per-seed `differences`
    of two arms, described over seeds (NaN ones left out), with the values themselves for a
    sign test."""
    values = pd.DataFrame({"measure": test.measure, "value": differences.to_numpy()})
    d = describe(values, ["measure"]).iloc[0].copy()
    d["values"] = tuple(differences.to_numpy(dtype=float))
    return Claim(text, (test,), "finetune"), [d]


def unigram_level(finetune_counts, targets, new_ids):
    """The loss (nats) of the unigram predictor of the second book's training text (its
    `finetune_counts`), -log(count / total), averaged over the held-out `targets` that are one
    of `new_ids` (every new id occurs in the training text, so each term is finite)."""
    counts = np.asarray(finetune_counts, dtype=np.float64)
    targets = np.asarray(targets).ravel()
    chosen = targets[np.isin(targets, np.asarray(new_ids))]
    if not len(chosen):
        raise PipelineError(
            "no target in the second book's held-out slice is one of its new tokens: raise "
            "held_out.fraction or use a longer second book"
        )
    return float(np.mean(-np.log(counts[chosen] / counts.sum())))


def steps_to_level(new_loss, level):
    """The step at which `new_loss` (a Series indexed by step, NaN at steps not scored) reaches
    `level`: linearly interpolated between the last scored step above it and the first at or
    below it (that step itself where it is the first scored), so that differences between arms
    are not multiples of the scoring interval; NaN where it never reaches it."""
    scored = new_loss.dropna()
    loss, step = scored.to_numpy(), scored.index.to_numpy(dtype=float)
    reached = np.flatnonzero(loss <= level)
    if not len(reached):
        return float("nan")
    i = reached[0]
    if i == 0:
        return float(step[0])
    fraction = (loss[i - 1] - level) / (loss[i - 1] - loss[i])
    return float(step[i - 1] + fraction * (step[i] - step[i - 1]))
