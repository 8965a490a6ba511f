"""Claims: measured per run, tested on the interval over seeds; PASS only when the data say so."""

import math

import numpy as np
import pandas as pd
import pytest

from unused_tokens import schemas
from unused_tokens.claims import (
    CLAIMS,
    claims,
    claims_page,
    copying_effect,
    finished,
    masking_effect,
    run_measures,
    tally,
    unigram_plateau,
)

V = 1000
U = -math.log(V)
COUNTS = np.r_[np.arange(600, 0, -1), np.zeros(400, dtype=int)]  # ids 600..999 never occur


def probe(gaps=(0.0, 0.01, -0.01)):
    return pd.DataFrame(
        {
            "group": ["most_common", "least_common", "never_used"],
            "masked_mean": [U + g for g in gaps],
            "unmasked_mean": [U + g for g in gaps],
            "masked_out_fraction": [0.5, 0.0, 0.0],
            "uniform_log_prob": U,
        }
    )


def log(end):
    """A two-row training log going from U everywhere to `end` per group column."""
    start = {
        f"{g}_{k}": U
        for g in ("most_common", "least_common", "never_used")
        for k in ("masked", "unmasked")
    }
    return pd.DataFrame([{"step": 0, "loss": -U, **start}, {"step": 1, "loss": 6.0, **end}])


def vocab(trained=None):
    """Untrained at U; trained: used ids +1 nat, never-used ids -2 nats (or `trained`)."""
    default = np.where(COUNTS > 0, U + 1, U - 2)
    return pd.DataFrame(
        {
            "token_id": np.arange(V),
            "untrained_mean": np.full(V, U),
            "trained_mean": default if trained is None else trained,
        }
    )


def control(trained_gap=0.6, unigram_gap=0.1):
    """A masking control whose most common group's copying effect is the gaps' difference."""
    rows = []
    for group in ("most_common", "least_common", "never_used"):
        for predictor, gap in (("trained", trained_gap), ("unigram", unigram_gap)):
            rows.append((group, predictor, -6.0 - gap, -6.0, 0.5))
    return pd.DataFrame(rows, columns=schemas.MASKING_CONTROL.names)


GOOD = {
    "most_common_masked": -6.0,
    "most_common_unmasked": -5.5,
    "least_common_masked": -12.0,
    "least_common_unmasked": -12.0,
    "never_used_masked": -13.5,
    "never_used_unmasked": -13.5,
}


def test_run_measures_of_a_hand_made_run():
    measures = run_measures(probe(), log(GOOD), vocab(), COUNTS, control())
    assert measures == pytest.approx(
        {
            "untrained_gap": 0.01,
            "copying": 0.5,
            "change_most_common": -6.0 - U,
            "change_least_common": -12.0 - U,
            "change_never_used": -13.5 - U,
            "fall_excess": -1.5,
            "most_minus_least": 6.0,
            "least_minus_never": 1.5,
            "moved_fraction": 1.0,
            "largest_unseen_change": -2.0,
        }
    )


def seeds(*runs, variant="baseline"):
    """A measures table of one variant: one row per run (a dict of run_measures)."""
    return pd.DataFrame([{"variant": variant, "seed": i, **m} for i, m in enumerate(runs)])


GOOD_MEASURES = run_measures(probe(), log(GOOD), vocab(), COUNTS, control())


def jittered(**shifts):
    """Three seeds of GOOD_MEASURES, each measure spread by ±`shift` around its value."""
    return seeds(
        *(
            {k: v + sign * shifts.get(k, 0.001) for k, v in GOOD_MEASURES.items()}
            for sign in (-1, 0, 1)
        )
    )


def test_a_result_the_seeds_agree_on_passes_every_claim():
    table = claims(jittered())
    assert table.columns.tolist() == ["variant", "claim", "measured", "test", "result"]
    assert table["claim"].tolist() == [text for text, _ in CLAIMS]
    assert table["result"].tolist() == ["PASS"] * 7
    assert table.loc[1, "measured"] == "copying = +0.5 [+0.4975, +0.5025]"
    assert table.loc[1, "test"] == "copying > 0, for the 95% interval over 3 seeds"


def test_a_mean_on_the_right_side_fails_when_its_interval_crosses_the_bound():
    table = claims(jittered(copying=0.6))  # seeds at -0.1, 0.5, 1.1: mean 0.5 > 0
    assert table.index[table["result"] == "FAIL"].tolist() == [1]
    assert table.loc[1, "measured"] == "copying = +0.5 [-0.9905, +1.99]"  # t(2) = 4.303


@pytest.mark.parametrize(
    "change, gaps, failing",
    [
        ({}, (0.3, 0.35), [1]),  # masking costs the model less than the unigram predictor
        ({"most_common_masked": -11.0, "most_common_unmasked": -10.9}, (0.6, 0.1), [2]),
        ({"most_common_masked": -12.5, "most_common_unmasked": -12.4}, (0.6, 0.1), [2, 5]),
        ({"least_common_masked": -6.5}, (0.6, 0.1), [3]),
        ({"never_used_masked": -11.5}, (0.6, 0.1), [4, 5]),
    ],
)
def test_each_broken_group_claim_fails_for_one_seed(change, gaps, failing):
    run = run_measures(probe(), log({**GOOD, **change}), vocab(), COUNTS, control(*gaps))
    table = claims(seeds(run))
    assert table.index[table["result"] == "FAIL"].tolist() == failing
    assert table["test"].str.endswith(", for the value").all()
    assert table["measured"].str.contains(r"\(one seed: no interval\)").all()


def test_untrained_groups_apart_fail_the_first_claim():
    table = claims(
        seeds(run_measures(probe(gaps=(0.2, 0, 0)), log(GOOD), vocab(), COUNTS, control()))
    )
    assert table["result"].tolist() == ["FAIL"] + ["PASS"] * 6


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t.__setitem__(999, U + 0.5),  # one never-seen token rose
        lambda t: t.__setitem__(slice(0, 20), U),  # 2% of tokens did not move
    ],
)
def test_every_token_moves_claim_fails(edit):
    trained = np.where(COUNTS > 0, U + 1, U - 2)
    edit(trained)
    table = claims(seeds(run_measures(probe(), log(GOOD), vocab(trained), COUNTS, control())))
    assert table.index[table["result"] == "FAIL"].tolist() == [6]


def test_claims_are_tested_per_variant():
    both = pd.concat([jittered(), jittered(copying=0.6).assign(variant="noisy")])
    table = claims(both)
    assert table.groupby("variant", sort=False)["result"].apply(list).to_dict() == {
        "baseline": ["PASS"] * 7,
        "noisy": ["PASS", "FAIL"] + ["PASS"] * 5,
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
    -ln V of its own, smaller vocabulary."""
    pruned_u = -math.log((COUNTS > 0).sum())
    end = {**GOOD, "never_used_masked": math.nan, "never_used_unmasked": math.nan}
    start = probe().assign(masked_mean=[pruned_u, pruned_u, math.nan], uniform_log_prob=pruned_u)
    trained = np.where(COUNTS > 0, U + 1, np.nan)
    runs = vocab(trained).assign(untrained_mean=np.where(COUNTS > 0, U, np.nan))
    measures = run_measures(start, log(end), runs, COUNTS, control())
    assert measures["untrained_gap"] == 0 and measures["moved_fraction"] == 1.0
    table = claims(seeds(measures, measures, measures)).set_index("claim")["result"]
    assert table.to_dict() == {
        "Untrained, every group sits at the uniform log-probability -ln V": "PASS",
        CLAIMS[1][0]: "PASS",
        "Training raises the most common tokens": "PASS",
        "Training lowers the least common tokens": "PASS",
        "Never-used tokens fall the most": "N/A",
        "After training: most common > least common > never used": "N/A",
        "Every token's probability moves, even tokens never seen": "N/A",
    }


def test_copying_is_the_trained_gap_minus_the_unigram_gap_per_group():
    effect = copying_effect(control(trained_gap=0.7, unigram_gap=0.25))
    assert effect.index.tolist() == ["most_common", "least_common", "never_used"]
    assert effect.loc["least_common"].tolist() == pytest.approx([0.7, 0.25, 0.45])


def test_the_end_of_a_run_names_the_report_and_counts_the_claims(tmp_path):
    table = pd.DataFrame(
        {
            "variant": ["baseline"] * 3 + ["pruned"] * 2,
            "claim": ["a", "b", "c", "a", "b"],
            "measured": [""] * 5,
            "test": [""] * 5,
            "result": ["PASS", "FAIL", "PASS", "N/A", "PASS"],
        }
    )
    assert tally(table) == "baseline 2 PASS, 1 FAIL; pruned 1 PASS, 1 N/A"
    report, claims_path = tmp_path / "report.html", tmp_path / "claims.parquet"
    assert finished(report, [claims_path]) is None  # nothing to show before the report exists
    report.write_text("<html></html>")
    table.to_parquet(claims_path)
    assert finished(report, [claims_path]) == (
        f"report: {report}\nclaims: baseline 2 PASS, 1 FAIL; pruned 1 PASS, 1 N/A"
    )
    tuned = tmp_path / "finetune_claims.parquet"
    assert finished(report, [claims_path, tuned]) is None
    table.iloc[:2].assign(variant="finetune").to_parquet(tuned)
    assert finished(report, [claims_path, tuned]).endswith("; finetune 1 PASS, 1 FAIL")


def test_the_claims_page_is_titled_by_the_study_and_tallies_the_claims():
    table = pd.DataFrame(
        {
            "variant": ["baseline", "baseline"],
            "claim": ["Training raises <the> most common tokens", "b"],
            "measured": ["x", "y"],
            "test": ["t", "u"],
            "result": ["PASS", "FAIL"],
        }
    )
    page = claims_page(table, "lr<3")
    assert "<title>lr&lt;3: claims</title>" in page
    assert "<p>baseline 1 PASS, 1 FAIL</p>" in page
    assert "Training raises &lt;the&gt; most common tokens" in page
