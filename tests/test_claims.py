"""Claims: measured per run, tested on the interval over seeds; PASS only when the data say so."""

import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import unused_tokens.analysis.claims as claim_definitions
from unused_tokens.analysis.aggregate import describe, holm, one_sided_p
from unused_tokens.analysis.claims import (
    CLAIMS,
    COPYING_MARGIN,
    FAMILIES,
    MEASURE_LABELS,
    NATS_MARGIN,
    TESTED,
    claims,
    claims_page,
    comparison,
    copying_effect,
    finished,
    how_many_tested,
    masking_effect,
    run_measures,
    tally,
    target_measures,
    unigram_plateau,
)
from unused_tokens.pipeline import schemas

V = 1000
U = -math.log(V)
COUNTS = np.r_[np.arange(600, 0, -1), np.zeros(400, dtype=int)]  # ids 600..999 never occur
GROUPS = ("most_common", "least_common", "never_used")


def probe(gaps=(0.0, 0.01, -0.01)):
    return pd.DataFrame(
        {
            "group": list(GROUPS),
            "masked_mean": [U + g for g in gaps],
            "unmasked_mean": [U + g for g in gaps],
            "masked_out_fraction": [0.5, 0.0, 0.0],
            "uniform_log_prob": U,
        }
    )


GOOD = {"most_common": -6.0, "least_common": -12.0, "never_used": -13.5}  # trained, masked


def control(end=None, trained_gap=0.6, unigram_gap=0.1, within=0.2):
    """A masking control: the trained model's masked group means `end` (GOOD), gaps (unmasked -
    masked) whose difference is the cross-check, and within-token copying `within`."""
    rows = []
    for group, mean in {**GOOD, **(end or {})}.items():
        rows.append((group, "trained", mean, mean + trained_gap, 0.5, within))
        rows.append((group, "unigram", -6.0 - unigram_gap, -6.0, 0.5, 0.0))
    return pd.DataFrame(rows, columns=schemas.MASKING_CONTROL.names)


def vocab(trained=None, normaliser=-1.5, never_logit=None):
    """Untrained at U with logits 0 (logsumexp ln V); trained: used ids +1 nat, never-used ids -2
    nats (or `trained`), with the mean logsumexp changed by `normaliser`, so that a never-used
    id's logit changes by -2 + normaliser (or by `never_logit`, its log-probability following)."""
    trained = np.where(COUNTS > 0, U + 1, U - 2) if trained is None else trained
    if never_logit is not None:  # the log-probability follows: logit - logsumexp
        trained = np.where(COUNTS == 0, never_logit + U - normaliser, trained)
    logit = trained - U + normaliser
    return pd.DataFrame(
        {
            "token_id": np.arange(V),
            "untrained_mean": np.full(V, U),
            "trained_mean": trained,
            "untrained_logit": np.zeros(V),
            "trained_logit": logit,
        }
    )


def test_run_measures_of_a_hand_made_run():
    measures = run_measures(probe(), vocab(), COUNTS, control())
    assert list(measures) == list(schemas.MEASURES)
    assert measures == pytest.approx(
        {
            "untrained_gap": 0.01,
            "copying": 0.2,
            "copying_gaps": 0.5,
            "change_most_common": -6.0 - U,
            "change_least_common": -12.0 - (U + 0.01),
            "change_never_used": -13.5 - (U - 0.01),
            "fall_excess": -1.5 + 0.02,
            "most_minus_least": 6.0,
            "least_minus_never": 1.5,
            "never_used_log_prob_change": -2.0,
            "never_used_logit_change": -3.5,
            "logsumexp_change": -1.5,
        }
    )


def test_final_group_means_come_from_the_probe_batches_not_the_training_log():
    """The trained group means are the masking control's "trained" rows (masked)."""
    lower = control({"most_common": -7.0})
    measures = run_measures(probe(), vocab(), COUNTS, lower)
    assert measures["change_most_common"] == pytest.approx(-7.0 - U)
    assert measures["most_minus_least"] == pytest.approx(5.0)


def seeds(*runs, variant="baseline"):
    """A measures table of one variant: one row per run (a dict of run_measures)."""
    return pd.DataFrame([{"variant": variant, "seed": i, **m} for i, m in enumerate(runs)])


def agreeing(run, n=8):
    """`n` seeds of `run`, each measure spread by a thousandth of a nat: seeds that agree, yet
    not exactly (exact agreement gets the sign test's p-value, 0.5 ** n)."""
    return seeds(*({k: v + 0.001 * (i - (n - 1) / 2) for k, v in run.items()} for i in range(n)))


GOOD_MEASURES = run_measures(probe(), vocab(), COUNTS, control())


def jittered(**shifts):
    """Three seeds of GOOD_MEASURES, each measure spread by ±`shift` around its value."""
    return seeds(
        *(
            {k: v + sign * shifts.get(k, 0.001) for k, v in GOOD_MEASURES.items()}
            for sign in (-1, 0, 1)
        )
    )


def results(table):
    return dict(zip(table["claim"], table["result"], strict=True))


def test_a_result_the_seeds_agree_on_passes_every_claim():
    table = claims(jittered())
    assert table.columns.tolist() == schemas.CLAIMS.names
    assert table["claim"].tolist() == [c.text for c in CLAIMS]
    assert table["family"].tolist() == [c.family for c in CLAIMS]
    assert set(table["family"]) <= set(FAMILIES)
    assert table["result"].tolist() == ["PASS"] * len(CLAIMS)
    copying = table.set_index("family").loc["copying"]
    assert copying["measured"] == (
        "most common tokens, input holding the token minus not holding it (nats) = "
        "+0.2000 [+0.1975, +0.2025]"
    )
    assert copying["test"] == (
        "> +0.00995 (one-sided t-tests over 3 seeds, Holm-adjusted over the family's 1 tests, "
        "p < 0.025)"
    )
    never = table.set_index("claim").loc["Never-used tokens fall the most"]
    assert never["measured"].split(" = ")[0] == "never used tokens' change in training (nats)"
    assert "; never-used tokens' change minus the least common's (nats) = " in never["measured"]
    assert never["test"].startswith("both < -0.1 (one-sided")
    raised = table.set_index("claim").loc["Training raises the most common tokens", "test"]
    assert raised.endswith("Holm-adjusted over the family's 6 tests, p < 0.025)")
    assert (table["p_adjusted"] < 0.025).all()


def test_every_measure_is_named_in_words_and_a_claims_comparisons_in_order():
    assert list(MEASURE_LABELS) == list(schemas.MEASURES)
    assert all(re.search(r"\((nats)\)$", label) for label in MEASURE_LABELS.values())
    assert not any(re.search(r"[a-z]_[a-z]", label) for label in MEASURE_LABELS.values())
    test = claim_definitions.Test  # not imported by name: pytest would take it for a test class
    below, above = test("a", False, 0), test("b", True, 0.05)
    assert comparison((below,)) == "< 0"
    assert comparison((below, below)) == "both < 0"
    assert comparison((below, below, below)) == "each < 0"
    assert comparison((above, below)) == "> +0.05 and < 0 respectively"


def test_one_sided_p_is_scipys_one_sample_t_test():
    values = np.array([0.3, 1.1, 0.2, 0.9])
    row = describe(pd.DataFrame({"k": 1, "value": values}), ["k"]).iloc[0]
    for above, alternative in ((True, "greater"), (False, "less")):
        expected = stats.ttest_1samp(values, 0.1, alternative=alternative).pvalue
        assert one_sided_p(row, 0.1, above) == pytest.approx(expected, rel=1e-12)
    assert np.isnan(one_sided_p({**row, "n_seeds": 1}, 0.1, True))


def test_holm_multiplies_the_kth_smallest_by_m_minus_k_plus_1_and_never_decreases():
    adjusted = holm([0.01, 0.04, 0.03, np.nan, 0.5])
    np.testing.assert_allclose(adjusted, [0.04, 0.09, 0.09, np.nan, 0.5], rtol=1e-12)
    assert holm([0.3, 0.6]).tolist() == [0.6, 0.6]


def test_a_family_of_one_passes_exactly_when_its_interval_lies_on_its_side():
    """The copying claim (a family of one test) against the 95% interval, on seeds drawn to
    fall on either side of its margin."""
    rng = np.random.default_rng(0)
    for _ in range(40):
        copying = rng.normal(0.2, 0.25, size=3)
        runs = [{**GOOD_MEASURES, "copying": c} for c in copying]
        table = claims(seeds(*runs)).set_index("family")
        row = describe(pd.DataFrame({"k": 1, "value": copying}), ["k"]).iloc[0]
        assert (table.loc["copying", "result"] == "PASS") == (row["ci_low"] > COPYING_MARGIN)


def test_holm_fails_two_claims_whose_intervals_alone_pass():
    """Two tests of the groups family at one-sided p = 0.015 each: each 95% interval lies above
    the margin, but Holm doubles the smaller p-value to 0.03 over the family's six tests."""
    half = stats.t.isf(0.015, 2) / math.sqrt(3)  # (mean - margin) / sd of three seeds: p = 0.015
    spread = {"change_most_common": -U - 6.0, "most_minus_least": 6.0}
    runs = [
        {
            **{k: v + sign * 0.001 for k, v in GOOD_MEASURES.items()},  # the others' p tiny
            **{k: v + sign * (v - NATS_MARGIN) / half for k, v in spread.items()},
        }
        for sign in (-1, 0, 1)
    ]
    table = claims(seeds(*runs)).set_index("claim")
    for measure in spread:
        row = describe(seeds(*runs).rename(columns={measure: "value"}), ["variant"]).iloc[0]
        assert row["ci_low"] > NATS_MARGIN  # each passes on its own
    assert table.loc["Training raises the most common tokens", "result"] == "FAIL"
    assert table.loc["Training raises the most common tokens", "p_adjusted"] == pytest.approx(
        0.03, rel=1e-6
    )
    assert table.loc["After training: most common > least common > never used", "result"] == "FAIL"
    assert table.loc["Training lowers the least common tokens", "result"] == "PASS"


@pytest.mark.parametrize(
    "end, gaps, failing",
    [
        ({}, (0.6, 0.1, -0.01), ["copying"]),  # a token is less likely where it was just seen
        ({"most_common": -13.0}, (0.6, 0.1), ["raises", "order"]),
        ({"least_common": U + 0.5}, (0.6, 0.1), ["lowers"]),
        ({"never_used": -11.5}, (0.6, 0.1), ["most", "order"]),
    ],
)
def test_each_broken_group_claim_fails_where_the_seeds_agree(end, gaps, failing):
    run = run_measures(probe(), vocab(), COUNTS, control(end, *gaps))
    table = claims(agreeing(run))
    short = {
        "Training raises the most common tokens": "raises",
        "Training lowers the least common tokens": "lowers",
        "Never-used tokens fall the most": "most",
        "After training: most common > least common > never used": "order",
    }
    failed = table.loc[table["result"] == "FAIL"]
    names = [short.get(c, f) for c, f in zip(failed["claim"], failed["family"], strict=True)]
    assert names == failing


def test_with_one_seed_no_claim_is_tested_and_none_passes_or_fails():
    table = claims(seeds(GOOD_MEASURES))
    assert table["result"].eq("NOT TESTED").all()
    assert table["test"].str.endswith("(one seed: no test)").all()
    assert table["measured"].str.contains(r"\(one seed: no interval\)").all()
    assert table["p_adjusted"].isna().all()
    counted = sum(c.family in TESTED for c in CLAIMS)
    assert tally(table) == f"baseline {counted} NOT TESTED"
    assert how_many_tested(table) == (0, counted)
    assert how_many_tested(claims(seeds(GOOD_MEASURES, GOOD_MEASURES))) == (counted, counted)


def test_untrained_groups_apart_fail_the_sanity_check_which_the_tally_does_not_count():
    measures = run_measures(probe(gaps=(0.2, 0, 0)), vocab(), COUNTS, control())
    table = claims(agreeing(measures))
    assert table["result"].tolist() == ["FAIL"] + ["PASS"] * (len(CLAIMS) - 1)
    tested = sum(c.family in TESTED for c in CLAIMS)
    assert tally(table) == f"baseline {tested} PASS"


@pytest.mark.parametrize(
    "edit, failing",
    [
        ({"never_logit": 0.0}, "The never-used tokens' own logits fall"),  # frozen rows
        ({"never_logit": 0.4}, "The never-used tokens' own logits fall"),  # they rose
        ({"normaliser": 0.5}, "The normaliser (the mean logsumexp) falls"),
    ],
)
def test_the_mechanism_claims_read_the_logits_and_the_normaliser(edit, failing):
    run = run_measures(probe(), vocab(**edit), COUNTS, control())
    table = claims(agreeing(run))
    failed = table.loc[table["result"] == "FAIL", "claim"].tolist()
    assert len(failed) == 1 and failed[0].startswith(failing)


def test_claims_are_tested_per_variant():
    both = pd.concat([jittered(), jittered(copying=0.3).assign(variant="noisy")])
    table = claims(both)
    assert table.groupby("variant", sort=False)["result"].apply(list).to_dict() == {
        "baseline": ["PASS"] * len(CLAIMS),
        "noisy": ["FAIL" if c.family == "copying" else "PASS" for c in CLAIMS],
    }


def test_unigram_plateau_is_the_longest_run_near_the_entropy():
    loss = pd.Series(np.r_[np.linspace(10, 6, 50), np.full(100, 6.05), np.linspace(6, 4, 50)])
    plateau = unigram_plateau(loss, 6.0)
    assert 40 <= plateau["first_step"] <= 50 and 150 <= plateau["last_step"] <= 160
    assert plateau["mean_loss"] == pytest.approx(6.05, abs=0.05)
    assert unigram_plateau(pd.Series(np.linspace(10, 2, 200)), 6.0) is None


def test_masking_effect_sentence():
    text = masking_effect(probe())
    assert text.startswith("Masking leaves out 50.0% of the most common group's")
    assert text.endswith(
        "by +0.0000 nats: the untrained model gives tokens it has just seen no head start."
    )
    shifted = probe().assign(masked_mean=lambda t: t["masked_mean"] - [0.05, 0, 0])
    assert masking_effect(shifted).endswith(
        "by -0.0500 nats: the untrained model already favours tokens it has just seen."
    )
    lowered = probe().assign(masked_mean=lambda t: t["masked_mean"] + [0.05, 0, 0])
    assert masking_effect(lowered).endswith("gives tokens it has just seen less probability.")


def test_claims_about_tokens_a_model_does_not_have_are_not_applicable():
    """A pruned vocabulary: no never-used group (NaN means), no probe of the unseen ids (NaN), and
    -ln V of its own, smaller vocabulary; an adaptive softmax has no logits (NaN)."""
    pruned_u = -math.log((COUNTS > 0).sum())
    start = probe().assign(masked_mean=[pruned_u, pruned_u, math.nan], uniform_log_prob=pruned_u)
    runs = vocab(np.where(COUNTS > 0, U + 1, np.nan)).assign(
        untrained_mean=np.where(COUNTS > 0, U, np.nan),
        untrained_logit=np.where(COUNTS > 0, 0.0, np.nan),
    )
    measures = run_measures(start, runs, COUNTS, control({"never_used": math.nan}))
    assert measures["untrained_gap"] == 0 and math.isnan(measures["never_used_logit_change"])
    assert measures["logsumexp_change"] == pytest.approx(-1.5)
    table = results(claims(seeds(measures, measures, measures)))
    not_applicable = {
        "Never-used tokens fall the most",
        "After training: most common > least common > never used",
        "The never-used tokens' own logits fall: their fall is not the normaliser's alone",
    }
    assert {c for c, r in table.items() if r == "N/A"} == not_applicable
    adaptive = run_measures(probe(), vocab().assign(trained_logit=np.nan), COUNTS, control())
    table = results(claims(seeds(adaptive, adaptive)))
    assert [c for c, r in table.items() if r == "N/A"] == [
        "The never-used tokens' own logits fall: their fall is not the normaliser's alone",
        "The normaliser (the mean logsumexp) falls, which raises every token",
    ]


def test_copying_effect_gives_the_cross_check_and_the_within_token_term_per_group():
    effect = copying_effect(control(trained_gap=0.7, unigram_gap=0.25, within=0.03))
    assert effect.index.tolist() == ["most_common", "least_common", "never_used"]
    assert effect.loc["least_common"].tolist() == pytest.approx([0.7, 0.25, 0.45, 0.03])


def test_the_end_of_a_run_names_the_report_and_counts_the_claims(tmp_path):
    table = pd.DataFrame(
        {
            "variant": ["baseline"] * 4 + ["pruned"] * 2,
            "family": ["groups", "mechanism", "groups", "sanity", "groups", "groups"],
            "claim": ["a", "b", "c", "d", "a", "b"],
            "measured": [""] * 6,
            "test": [""] * 6,
            "result": ["PASS", "FAIL", "PASS", "FAIL", "N/A", "PASS"],
            "p_adjusted": [0.01, 0.2, 0.0, np.nan, np.nan, 0.001],
        }
    )
    assert tally(table) == "baseline 2 PASS, 1 FAIL; pruned 1 PASS, 1 N/A"
    report, claims_path = tmp_path / "report.html", tmp_path / "claims.parquet"
    assert finished(report, {claims_path: ""}) is None  # nothing to show before the report exists
    report.write_text("<html></html>")
    table.to_parquet(claims_path)
    assert finished(report, {claims_path: ""}) == (
        f"report: {report}\nclaims: baseline 2 PASS, 1 FAIL; pruned 1 PASS, 1 N/A"
    )
    tuned = tmp_path / "finetune_claims.parquet"
    assert finished(report, {claims_path: "", tuned: ""}) is None
    table.iloc[:2].assign(variant="finetune", family="finetune").to_parquet(tuned)
    assert finished(report, {claims_path: "", tuned: ""}).endswith("; finetune 1 PASS, 1 FAIL")
    other = tmp_path / "cl100k_claims.parquet"
    table.iloc[:2].to_parquet(other)  # another tokenizer's: its label before each variant
    assert finished(report, {claims_path: "", other: "cl100k_base"}).endswith(
        "pruned 1 PASS, 1 N/A; cl100k_base baseline 1 PASS, 1 FAIL"
    )


def test_the_claims_page_is_titled_by_the_study_and_tallies_the_claims():
    table = pd.DataFrame(
        {
            "variant": ["baseline", "baseline"],
            "family": ["groups", "groups"],
            "claim": ["Training raises <the> most common tokens", "b"],
            "measured": ["x", "y"],
            "test": ["t", "u"],
            "result": ["PASS", "FAIL"],
            "p_adjusted": [0.0123, 0.5],
        }
    )
    page = claims_page(table, "lr<3")
    assert "<title>lr&lt;3: claims</title>" in page
    assert "<p>baseline 1 PASS, 1 FAIL</p>" in page
    assert "Training raises &lt;the&gt; most common tokens" in page
    assert ">0.012<" in page  # the adjusted p-value, two significant digits


@pytest.mark.parametrize(("n", "p"), [(2, 0.25), (3, 0.125), (10, 0.5**10)])
def test_seeds_that_agree_exactly_get_the_sign_tests_p_never_zero(n, p):
    """No t statistic without spread: the exact sign test decides, so three seeds that agree
    cannot pass (0.125), ten can."""
    row = describe(pd.DataFrame({"k": 1, "value": np.full(n, 75.0)}), ["k"]).iloc[0]
    assert one_sided_p(row, 20, above=True) == pytest.approx(p)
    assert one_sided_p(row, 20, above=False) == 1.0
    assert one_sided_p(row, 80, above=True) == 1.0


def test_a_change_within_its_margin_cannot_pass_however_sure():
    """A 0.02-nat change of the most common group, over eight seeds that agree on it, and a
    copying effect of 0.0006 nats: both FAIL; beyond the margins they PASS."""
    small = {**GOOD_MEASURES, "change_most_common": 0.02, "copying": 0.0006}
    table = results(claims(agreeing(small)))
    assert table["Training raises the most common tokens"] == "FAIL"
    assert table[CLAIMS[-1].text] == "FAIL"  # copying
    large = {**GOOD_MEASURES, "change_most_common": 0.2, "copying": 0.02}
    table = results(claims(agreeing(large)))
    assert table["Training raises the most common tokens"] == "PASS"
    assert table[CLAIMS[-1].text] == "PASS"


def test_every_counted_claims_margin_is_shown_in_its_test():
    table = claims(jittered())
    counted = table[table["family"].isin(TESTED)]
    assert counted["test"].str.match(r"^(both |each )?[<>] [+-]0\.(1|00995)\b").all(), counted


def test_target_measures_count_the_least_common_members_training_saw():
    trained = np.where(COUNTS > 0, U + 1, U - 2)
    trained[[590, 591]] = U - 2  # two least common ids never a target fall like never-used
    targets = {
        "least_common": {"590": 0, "591": 0, "592": 1, "593": 3},
        "never_used": {"700": 0, "701": 0},
        "most_common": {"0": 40},
    }
    measures = target_measures(vocab(trained), targets)
    assert list(measures) == list(schemas.TARGET_MEASURES)
    assert measures == {
        "least_common_targeted": 2.0,  # 592 and 593
        "change_least_common_targeted": pytest.approx(1.0),
        "targeted_minus_never": pytest.approx(3.0),  # U + 1 against U - 2
    }
    untrained_only = {**targets, "least_common": {"590": 0}}
    nothing = target_measures(vocab(trained), untrained_only)
    assert nothing["least_common_targeted"] == 0.0
    assert math.isnan(nothing["change_least_common_targeted"])
    assert math.isnan(nothing["targeted_minus_never"])
