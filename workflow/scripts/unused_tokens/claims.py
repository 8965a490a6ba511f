"""The experiment's claims, each tested on what a variant's seeds show together.

A claim is one or more measures of a run (`run_measures`), each with a test on a side of a
bound. Over the seeds of a variant a measure has a 95% Student-t interval (aggregate.describe),
and a test passes only when the whole interval lies on its side of the bound. With one seed no
interval exists: the test is applied to the single value, and the table says so. A claim the
data do not support FAILs, and is shown like one that PASSes. A claim about tokens a variant's
model does not have (never-used ids after vocabulary pruning: NaN measures) is N/A.
"""

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .aggregate import bounds, describe
from .schemas import GROUP_NAMES

MOVED_NATS = 0.01  # a token "moved" if its mean log-probability changed by more than this
UNIFORM_TOLERANCE = 0.05  # nats: "at -ln V" means within this of it
RESULTS = ("PASS", "FAIL", "N/A")  # a claim's result: supported, not supported, not applicable


def copying_effect(control):
    """Per group: the trained model's unmasked-minus-masked gap, a context-free unigram
    predictor's gap on the same probe batches, and their difference, "copying": what reading the
    context adds. Masking alone lowers a group's mean even for the unigram predictor, because it
    drops a group's most frequent members more often than its rare ones.

    control: a run's masking-control table (schemas.MASKING_CONTROL).
    """
    gap = control.assign(gap=control["unmasked_mean"] - control["masked_mean"]).pivot(
        index="group", columns="predictor", values="gap"
    )
    return pd.DataFrame(
        {
            "trained_gap": gap["trained"],
            "unigram_gap": gap["unigram"],
            "copying": gap["trained"] - gap["unigram"],
        }
    ).loc[list(GROUP_NAMES)]


def run_measures(probe_groups, training_log, vocab_logprobs, counts, control):
    """The measures the claims test, for one run: {name: value}.

    probe_groups: the untrained probe's group table; training_log: the run's log; vocab_logprobs:
    every token's untrained and trained mean (NaN for an id the model does not cover); counts:
    every token's count in the corpus, by id; control: the masking control (copying_effect).
    "-ln V" is the model's own vocabulary size.
    """
    uniform = probe_groups["uniform_log_prob"].iloc[0]
    first, last = training_log.iloc[0], training_log.iloc[-1]
    change = {g: last[f"{g}_masked"] - first[f"{g}_masked"] for g in GROUP_NAMES}
    delta = (vocab_logprobs["trained_mean"] - vocab_logprobs["untrained_mean"]).to_numpy()
    most, least, never = (last[f"{g}_masked"] for g in GROUP_NAMES)
    return {
        "untrained_gap": float((probe_groups["masked_mean"] - uniform).abs().max()),
        "copying": float(copying_effect(control).loc["most_common", "copying"]),
        **{f"change_{g}": change[g] for g in GROUP_NAMES},
        "fall_excess": change["never_used"] - change["least_common"],
        "most_minus_least": most - least,
        "least_minus_never": least - never,
        "moved_fraction": float(np.mean(np.abs(delta[~np.isnan(delta)]) > MOVED_NATS)),
        "largest_unseen_change": float(delta[np.asarray(counts) == 0].max()),
    }


@dataclass(frozen=True)
class Test:
    measure: str
    above: bool  # the interval must lie above `bound` (else below it)
    bound: float

    def passes(self, low, high):
        return low > self.bound if self.above else high < self.bound

    def __str__(self):
        return f"{self.measure} {'>' if self.above else '<'} {self.bound:g}"


CLAIMS = (
    (
        "Untrained, every group sits at the uniform log-probability -ln V",
        (Test("untrained_gap", False, UNIFORM_TOLERANCE),),
    ),
    (
        "The trained model copies common tokens from context: its unmasked-minus-masked gap "
        "exceeds a context-free unigram predictor's on the same batches",
        (Test("copying", True, 0),),
    ),
    ("Training raises the most common tokens", (Test("change_most_common", True, 0),)),
    ("Training lowers the least common tokens", (Test("change_least_common", False, 0),)),
    (
        "Never-used tokens fall the most",
        (Test("change_never_used", False, 0), Test("fall_excess", False, 0)),
    ),
    (
        "After training: most common > least common > never used",
        (Test("most_minus_least", True, 0), Test("least_minus_never", True, 0)),
    ),
    (
        "Every token's probability moves, even tokens never seen",
        (Test("moved_fraction", True, 0.99), Test("largest_unseen_change", False, 0)),
    ),
)


def claims(measures):
    """One row per variant and claim: variant, claim, measured, test, result (PASS or FAIL).

    measures: one row per run with columns variant, seed and every run_measures name.
    """
    values = measures.melt(id_vars=["variant", "seed"], var_name="quantity", value_name="value")
    described = describe(values, ["variant", "quantity"]).set_index(["variant", "quantity"])
    rows = []
    for variant in dict.fromkeys(measures["variant"]):
        for text, tests in CLAIMS:
            verdicts, measured = [], []
            for test in tests:
                d = described.loc[(variant, test.measure)]
                single = d["n_seeds"] < 2
                verdicts.append(test.passes(*bounds(d)))
                measured.append(measured_text(test.measure, d))
            how = "the value" if single else f"the 95% interval over {int(d['n_seeds'])} seeds"
            test_text = " and ".join(map(str, tests)) + f", for {how}"
            missing = any(np.isnan(described.loc[(variant, t.measure), "mean"]) for t in tests)
            result = RESULTS[2] if missing else RESULTS[0] if all(verdicts) else RESULTS[1]
            rows.append((variant, text, "; ".join(measured), test_text, result))
    return pd.DataFrame(rows, columns=["variant", "claim", "measured", "test", "result"])


def tally(table):
    """The claims table's results counted per variant, in one line: "baseline 6 PASS, 1 FAIL"."""
    counts = table.groupby("variant", sort=False)["result"].value_counts()
    return "; ".join(
        f"{variant} "
        + ", ".join(f"{counts[variant][r]} {r}" for r in RESULTS if r in counts[variant])
        for variant in dict.fromkeys(table["variant"])
    )


def finished(report, claims_paths):
    """What a run that reached the report prints at its end: the report's path and the tally of
    its claims tables (`claims_paths`: the experiment's, then the fine-tuning's where it is on);
    None where the report or a claims table does not exist."""
    if not all(Path(path).exists() for path in [report, *claims_paths]):
        return None
    tables = pd.concat([pd.read_parquet(path) for path in claims_paths], ignore_index=True)
    return f"report: {report}\nclaims: {tally(tables)}"


def measured_text(measure, d, missing="the model has no such tokens"):
    """A measure's mean with its 95% interval (a `describe` row `d`), as a claim shows it; where
    there is no value, n/a and why (`missing`)."""
    if np.isnan(d["mean"]):
        return f"{measure}: n/a ({missing})"
    if d["n_seeds"] < 2:
        return f"{measure} = {d['mean']:+.4g} (one seed: no interval)"
    return f"{measure} = {d['mean']:+.4g} [{d['ci_low']:+.4g}, {d['ci_high']:+.4g}]"


def styled_claims(table):
    """The claims table for display: PASS in green, FAIL in red, text left-aligned."""
    colour = {
        "PASS": "color: #006400; font-weight: bold",
        "FAIL": "color: #b00000; font-weight: bold",
        "N/A": "color: #666666",
    }
    return (
        table.style.hide(axis="index")
        .format(escape="html")
        .map(colour.get, subset=["result"])
        .set_properties(subset=["claim", "measured", "test"], **{"text-align": "left"})
    )


def claims_page(table, study):
    """The claims table as a page of its own, titled by the study (`snakemake --report` shows
    it beside the figures)."""
    name = html.escape(study)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{name}: claims</title></head>\n<body><h1>Claims of study {name}</h1>\n"
        f"<p>{html.escape(tally(table))}</p>\n{styled_claims(table).to_html()}\n</body></html>\n"
    )


def masking_effect(probe_groups):
    """One sentence: how much masking changes the untrained model's most common group."""
    common = probe_groups.set_index("group").loc["most_common"]
    diff = common["masked_mean"] - common["unmasked_mean"]
    if abs(diff) < 0.01:
        verdict = "the untrained model gives tokens it has just seen no head start"
    elif diff < 0:
        verdict = "the untrained model already favours tokens it has just seen"
    else:
        verdict = "the untrained model gives tokens it has just seen less probability"
    return (
        f"Masking leaves out {common['masked_out_fraction']:.1%} of the most common group's "
        f"(sample, token) pairs and changes its untrained mean by {diff:+.4f} nats: {verdict}."
    )


def unigram_plateau(loss, entropy, window=25, tolerance=0.25):
    """The longest run of steps whose rolling-mean loss stays within `tolerance` nats of `entropy`.

    A model that has learnt token frequencies but no context scores exactly the unigram entropy,
    so such a run is the plateau where it predicts the unigram distribution. loss: the loss per
    step (a Series indexed by step). Returns a dict with first_step, last_step and mean_loss (of
    the smoothed loss over the run), or None.
    """
    smooth = loss.rolling(window, center=True, min_periods=1).mean()
    near = ((smooth - entropy).abs() <= tolerance).to_numpy()
    best, start = None, None
    for i, inside in enumerate([*near, False]):
        if inside and start is None:
            start = i
        elif not inside and start is not None:
            if best is None or i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    if best is None or best[1] - best[0] < window:
        return None
    steps = loss.index.to_numpy()
    return {
        "first_step": int(steps[best[0]]),
        "last_step": int(steps[best[1] - 1]),
        "mean_loss": float(smooth.iloc[best[0] : best[1]].mean()),
    }
