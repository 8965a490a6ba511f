"""The experiment's claims, each tested on what a variant's seeds show together.

A claim is one or more measures of a run (`run_measures`), each with a test on a side of a bound: a
one-sided t-test over the seeds of a variant (aggregate.one_sided_p), or an exact sign test where a
measure is censored (a fine-tuning arm that never reaches a level). The bound is the claim's
margin, the smallest effect it counts, fixed here before the data (MARGINS): a change of a
hundredth of a nat cannot PASS a claim that a group moves. Claims come in families
(FAMILIES). The tests of a tested family are Holm-corrected together, per variant, and a claim
PASSes when every one of its tests' adjusted p-values is below aggregate.ALPHA (for a family of one
test: when its 95% interval lies on its side of the bound). A sanity check holds by construction: it
is shown, and not counted in the tally. With one seed no test exists: the claim is NOT TESTED
(its value is shown), never passed or failed on a single value. A claim the data do not support
FAILs, and is shown like one that PASSes. A claim about tokens a variant's model does not have
(never-used ids after vocabulary pruning, the logits of an adaptive softmax: NaN measures) is N/A.

Group means before and after training are taken on the probe's batches, the same for every run (the
untrained probe and the masking control's trained rows); the training log's last row, one training
batch, is not used here.
"""

import html
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..pipeline import schemas
from ..pipeline.names import GROUP_LABELS, GROUP_NAMES
from .aggregate import (
    ALPHA,
    describe,
    holm,
    interval,
    mean_or_nan,
    one_sided_p,
    sign_test_p,
)

UNIFORM_TOLERANCE = 0.05  # nats: "at -ln V" means within this of it
# The margins, each the smallest effect a claim counts, fixed before the data (2026-12-07):
NATS_MARGIN = 0.1  # a group's change, an ordering, a part of the fall, an arm's held-out loss
COPYING_MARGIN = math.log(1.01)  # a token at least 1% likelier where its input holds it
STEPS_MARGIN = 20  # fine-tuning steps to a level: a tenth of the default fine-tuning
MARGINS = {  # in words, as the report and the docs give them
    "nats": f"{NATS_MARGIN:g} nats",
    "copying": "1% likelier (ln 1.01 nats)",
    "steps": f"{STEPS_MARGIN} steps",
}
# a claim's result: supported, not supported, not applicable, no test possible (one seed)
RESULTS = ("PASS", "FAIL", "N/A", "NOT TESTED")
FAMILIES = {  # name: what its claims are; the tally counts the TESTED ones
    "sanity": "sanity check: holds by construction (the initialisation), not counted",
    "groups": f"how training moves the three groups (margin {MARGINS['nats']}; Holm-corrected "
    "together)",
    "mechanism": f"where the never-used tokens' fall comes from (margin {MARGINS['nats']}; "
    "Holm-corrected together)",
    "copying": f"whether the model copies from its context (margin: {MARGINS['copying']}; one "
    "test)",
    "finetune": f"fine-tuning on the second book (margins {MARGINS['nats']} and "
    f"{MARGINS['steps']}; Holm-corrected together)",
}
TESTED = ("groups", "mechanism", "copying", "finetune")


def copying_effect(control):
    """Per group: the trained model's unmasked-minus-masked gap, a context-free unigram
    predictor's gap on the same probe batches, their difference ("copying", a cross-check) and
    the trained model's within-token copying (probe.within_token_copying, what the claim
    tests). Masking alone lowers a group's mean even for the unigram predictor, because it drops
    a group's most frequent members more often than its rare ones; the difference of gaps still
    carries the two predictors' different selection effects, which comparing each token with
    itself does not.

    control: a run's masking-control table (schemas.MASKING_CONTROL).
    """
    gap = control.assign(gap=control["unmasked_mean"] - control["masked_mean"]).pivot(
        index="group", columns="predictor", values="gap"
    )
    within = control[control["predictor"] == "trained"].set_index("group")
    return pd.DataFrame(
        {
            "trained_gap": gap["trained"],
            "unigram_gap": gap["unigram"],
            "copying": gap["trained"] - gap["unigram"],
            "within_token": within["within_token_copying"],
        }
    ).loc[list(GROUP_NAMES)]


def run_measures(probe_groups, vocab_logprobs, counts, control):
    """The measures the claims test, for one run: {name: value} in schemas.MEASURES's order.

    probe_groups: the untrained probe's group table; control: the masking control, whose
    "trained" rows are the trained model's group means on the same probe batches; vocab_logprobs:
    every token's untrained and trained mean log-probability and logit (NaN for an id the model
    does not cover, logits NaN for an adaptive softmax); counts: every token's count in the
    corpus, by id. "-ln V" is the model's own vocabulary size. The never-used tokens' changes of
    mean log-probability and logit are means over every id of count 0 (unmasked); the
    normaliser's, the positions' mean logsumexp, is an id's logit change minus its
    log-probability change (the same for all ids), so that for the never-used ids
    log_prob_change = logit_change - logsumexp_change.
    """
    uniform = probe_groups["uniform_log_prob"].iloc[0]
    before = probe_groups.set_index("group")["masked_mean"]
    trained_rows = control[control["predictor"] == "trained"].set_index("group")
    trained = trained_rows["masked_mean"]
    change = {g: trained[g] - before[g] for g in GROUP_NAMES}
    most, least, never = (trained[g] for g in GROUP_NAMES)
    logit = (vocab_logprobs["trained_logit"] - vocab_logprobs["untrained_logit"]).to_numpy()
    log_prob = (vocab_logprobs["trained_mean"] - vocab_logprobs["untrained_mean"]).to_numpy()
    unseen = np.asarray(counts) == 0
    normaliser = (logit - log_prob)[np.isfinite(logit - log_prob)]
    measures = {
        "untrained_gap": float((probe_groups["masked_mean"] - uniform).abs().max()),
        "copying": float(trained_rows.loc["most_common", "within_token_copying"]),
        "copying_gaps": float(copying_effect(control).loc["most_common", "copying"]),
        **{f"change_{g}": float(change[g]) for g in GROUP_NAMES},
        "fall_excess": float(change["never_used"] - change["least_common"]),
        "most_minus_least": float(most - least),
        "least_minus_never": float(least - never),
        "never_used_log_prob_change": mean_or_nan(log_prob[unseen]),
        "never_used_logit_change": mean_or_nan(logit[unseen]),
        "logsumexp_change": mean_or_nan(normaliser),
    }
    return {name: measures[name] for name in schemas.MEASURES}


MEASURE_LABELS = {  # run_measures in words, with their unit, as the claims table names them
    "untrained_gap": "untrained, the largest distance of a group's mean from -ln V (nats)",
    "copying": "most common tokens, input holding the token minus not holding it (nats)",
    "copying_gaps": "most common tokens' unmasked-minus-masked gap, trained minus unigram (nats)",
    **{f"change_{g}": f"{GROUP_LABELS[g]} tokens' change in training (nats)" for g in GROUP_NAMES},
    "fall_excess": "never-used tokens' change minus the least common's (nats)",
    "most_minus_least": "trained, most common minus least common tokens (nats)",
    "least_minus_never": "trained, least common minus never-used tokens (nats)",
    "never_used_log_prob_change": "every never-used token's log-probability, mean change (nats)",
    "never_used_logit_change": "every never-used token's logit, mean change (nats)",
    "logsumexp_change": "the normaliser (mean logsumexp), change (nats)",
}


def member_ids(targets, group, targeted=False):
    """The tokenizer ids of `group`'s members in `targets` (the training log's group_targets),
    or only those that were a training target at least once."""
    ids = [int(i) for i, times in targets[group].items() if times > 0 or not targeted]
    return np.array(ids, dtype=np.int64)


def target_measures(vocab_logprobs, targets):
    """What training saw of the least common group, for one run: {name: value} in
    schemas.TARGET_MEASURES's order. `targets`: {group: {tokenizer id: times it was a training
    target}} (the training log's group_targets). A least common token is seen once in the text,
    but random windows need not make it a target in a given run; those that were not fall like
    never-used ids. Per-id means (unmasked, the vocabulary probe's): the members' number that
    were a target, their mean change of log-probability, and their trained level minus the
    never-used group's."""
    trained = vocab_logprobs["trained_mean"].to_numpy()
    change = trained - vocab_logprobs["untrained_mean"].to_numpy()
    targeted = member_ids(targets, "least_common", targeted=True)
    never = member_ids(targets, "never_used")
    measures = {
        "least_common_targeted": float(len(targeted)),
        "change_least_common_targeted": mean_or_nan(change[targeted]),
        "targeted_minus_never": mean_or_nan(trained[targeted]) - mean_or_nan(trained[never]),
    }
    return {name: measures[name] for name in schemas.TARGET_MEASURES}


@dataclass(frozen=True)
class Test:
    measure: str
    above: bool  # the measure must lie above `bound` (else below it)
    bound: float  # the margin, signed
    sign: bool = False  # an exact sign test on the row's per-seed "values" (censored ones)

    def p_value(self, row):
        """The one-sided test's p-value of a `describe` row (NaN with one seed): a t-test, or
        the exact sign test of how many seeds lie beyond the bound on the claimed side."""
        if not self.sign:
            return one_sided_p(row, self.bound, self.above)
        values = np.asarray(row["values"], dtype=float)
        if len(values) < 2:
            return np.nan
        return sign_test_p(len(values), self.beyond(values))

    def beyond(self, values):
        """How many of `values` lie beyond the bound on the claimed side."""
        side = values - self.bound if self.above else self.bound - values
        return int((side > 0).sum())

    def __str__(self):
        """The comparison alone ("> +0.1", "< 0"): the claims table names the measure beside
        it, and the bound is its margin."""
        bound = f"{self.bound:+.3g}" if self.bound else "0"
        return f"{'>' if self.above else '<'} {bound}"


@dataclass(frozen=True)
class Claim:
    text: str
    tests: tuple
    family: str  # a key of FAMILIES


CLAIMS = (
    Claim(
        "Untrained, every group sits at the uniform log-probability -ln V",
        (Test("untrained_gap", False, UNIFORM_TOLERANCE),),
        "sanity",
    ),
    Claim(
        "Training raises the most common tokens",
        (Test("change_most_common", True, NATS_MARGIN),),
        "groups",
    ),
    Claim(
        "Training lowers the least common tokens",
        (Test("change_least_common", False, -NATS_MARGIN),),
        "groups",
    ),
    Claim(
        "Never-used tokens fall the most",
        (
            Test("change_never_used", False, -NATS_MARGIN),
            Test("fall_excess", False, -NATS_MARGIN),
        ),
        "groups",
    ),
    Claim(
        "After training: most common > least common > never used",
        (
            Test("most_minus_least", True, NATS_MARGIN),
            Test("least_minus_never", True, NATS_MARGIN),
        ),
        "groups",
    ),
    Claim(
        "The never-used tokens' own logits fall: their fall is not the normaliser's alone",
        (Test("never_used_logit_change", False, -NATS_MARGIN),),
        "mechanism",
    ),
    Claim(
        "The normaliser (the mean logsumexp) falls, which raises every token",
        (Test("logsumexp_change", False, -NATS_MARGIN),),
        "mechanism",
    ),
    Claim(
        "The trained model copies common tokens from context: a most-common token is likelier "
        "in samples whose input holds it than in those whose input does not (each token "
        "compared with itself)",
        (Test("copying", True, COPYING_MARGIN),),
        "copying",
    ),
)


def judged(rows):
    """Results of claims of one variant and family: `rows` are (claim, [describe row per test]),
    returned as (result, adjusted p-value, how it was tested) per claim. A tested family's tests
    are Holm-corrected together; a NaN measure makes its claim N/A and takes no part."""
    family = rows[0][0].family if rows else None
    entries = [(c, t, d) for c, ds in rows for t, d in zip(c.tests, ds, strict=True)]
    p = np.array([np.nan if np.isnan(d["mean"]) else t.p_value(d) for _, t, d in entries])
    adjusted = holm(p) if family in TESTED else p
    tested = int((~np.isnan(p)).sum())
    out, at = [], 0
    for claim, ds in rows:
        mine = adjusted[at : at + len(ds)]
        at += len(ds)
        n = min(int(d["n_seeds"]) for d in ds)
        if any(np.isnan(d["mean"]) for d in ds):
            out.append((RESULTS[2], np.nan, "n/a"))
            continue
        if n < 2:
            out.append((RESULTS[3], np.nan, "one seed: no test"))
            continue
        how = (
            f"exact sign tests over {n} seeds, a seed that never gets there counted at the worst"
            if any(t.sign for t in claim.tests)
            else f"one-sided t-tests over {n} seeds"
        )
        if family in TESTED:
            how += f", Holm-adjusted over the family's {tested} tests"
        worst = float(np.max(mine))
        out.append((RESULTS[0] if worst < ALPHA else RESULTS[1], worst, f"{how}, p < {ALPHA:g}"))
    return out


def claim_rows(variant, found, missing=None):
    """schemas.CLAIMS rows of one variant's claims of one family: `found` as for `judged`;
    `missing` ({measure: why}) says why a measure without values has none (by default: the
    model has no such tokens)."""
    rows, missing = [], missing or {}
    for (claim, ds), (result, p, how) in zip(found, judged(found), strict=True):
        measured = "; ".join(
            censored_text(t, d)
            if t.sign
            else measured_text(t.measure, d, missing.get(t.measure, NO_TOKENS))
            for t, d in zip(claim.tests, ds, strict=True)
        )
        test = f"{comparison(claim.tests)} ({how})"
        rows.append((variant, claim.family, claim.text, measured, test, result, p))
    return rows


def comparison(tests):
    """What a claim's tests require, in the order the measured column lists the measures:
    "< 0", "both > 0", or "> 0 and < 0 respectively"."""
    texts = [str(t) for t in tests]
    if len(texts) == 1:
        return texts[0]
    if len(set(texts)) == 1:
        return f"{'both' if len(texts) == 2 else 'each'} {texts[0]}"
    return " and ".join(texts) + " respectively"


def claims(measures):
    """One row per variant and claim (schemas.CLAIMS): variant, family, claim, measured, test,
    result (PASS, FAIL or N/A) and the claim's adjusted p-value (the largest of its tests').

    measures: one row per run with columns variant, seed and every run_measures name.
    """
    values = measures.melt(id_vars=["variant", "seed"], var_name="quantity", value_name="value")
    described = describe(values, ["variant", "quantity"]).set_index(["variant", "quantity"])
    rows = []
    for variant in dict.fromkeys(measures["variant"]):
        for family in FAMILIES:
            members = [c for c in CLAIMS if c.family == family]
            if not members:
                continue
            found = [(c, [described.loc[(variant, t.measure)] for t in c.tests]) for c in members]
            rows += claim_rows(variant, found)
    return pd.DataFrame(rows, columns=schemas.CLAIMS.names)


def tally(table):
    """The tested claims' results counted per variant, in one line: "baseline 6 PASS, 1 FAIL";
    sanity checks and exploratory claims are not counted."""
    table = table[table["family"].isin(TESTED)]
    counts = table.groupby("variant", sort=False)["result"].value_counts()
    return "; ".join(
        f"{variant} "
        + ", ".join(f"{counts[variant][r]} {r}" for r in RESULTS if r in counts[variant])
        for variant in dict.fromkeys(table["variant"])
    )


def how_many_tested(table):
    """(claims tested, claims counted): of the claims the tally counts (the TESTED families),
    how many were tested (PASS or FAIL), rather than N/A or NOT TESTED."""
    counted = table[table["family"].isin(TESTED)]
    return int(counted["result"].isin(RESULTS[:2]).sum()), len(counted)


def finished(report, claims_paths):
    """What a run that reached the report prints at its end: the report's path and the tally of
    its claims tables (`claims_paths`: {path: label}, the experiment's with GPT-2's tokens, the
    fine-tuning's where it is on, each other tokenizer's; a label, where not empty, goes before
    its variants); None where the report or a claims table does not exist."""
    if not all(Path(path).exists() for path in [report, *claims_paths]):
        return None
    tables = [
        pd.read_parquet(path).pipe(
            lambda t, label=label: t.assign(variant=f"{label} " + t["variant"]) if label else t
        )
        for path, label in claims_paths.items()
    ]
    return f"report: {report}\nclaims: {tally(pd.concat(tables, ignore_index=True))}"


NO_TOKENS = "the model has no such tokens"


def measured_text(measure, d, missing=NO_TOKENS):
    """A measure's mean with its 95% interval (a `describe` row `d`), as a claim shows it, named
    in words (MEASURE_LABELS; a measure not there is its own words); where there is no value,
    n/a and why (`missing`)."""
    label = MEASURE_LABELS.get(measure, measure)
    if np.isnan(d["mean"]):
        return f"{label}: n/a ({missing})"
    return f"{label} = {interval(d, signed=True, say_one_seed=True)}"


def censored_text(test, d):
    """A censored measure as a claim shows it (a `describe` row with the per-seed "values",
    infinite where one arm never got there, 0 where neither did): its median and how many seeds
    lie beyond the margin."""
    values = np.asarray(d["values"], dtype=float)
    label = MEASURE_LABELS.get(test.measure, test.measure)
    never = int(np.isinf(values).sum())
    median = np.median(values) if len(values) else np.nan
    shown = "n/a" if np.isnan(median) else (f"{median:+.0f}" if np.isfinite(median) else "never")
    return (
        f"{label}: median {shown}; {test.beyond(values)} of {len(values)} seeds {test} "
        f"({never} where one arm never got there)"
    )


def styled_claims(table):
    """The claims table for display: PASS in green, FAIL in red, text left-aligned."""
    colour = {
        "PASS": "color: #006400; font-weight: bold",
        "FAIL": "color: #b00000; font-weight: bold",
        "N/A": "color: #666666",
        "NOT TESTED": "color: #666666",
    }
    return (
        table.rename(columns={"p_adjusted": "adjusted p"})
        .style.hide(axis="index")
        .format(escape="html")
        .format("{:.2g}", subset=["adjusted p"], na_rep="")
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
