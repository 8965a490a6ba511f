"""The claims table: PASS where the data support a claim, FAIL where they do not."""

import math

import pandas as pd
import pytest

from unused_tokens.report import claims, plot_probe, plot_training

V = 50257
U = -math.log(V)


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
    """A two-row training log going from U everywhere to `end` (masked, unmasked) per group."""
    start = {
        f"{g}_{k}": U
        for g in ("most_common", "least_common", "never_used")
        for k in ("masked", "unmasked")
    }
    return pd.DataFrame([{"step": 0, "loss": -U, **start}, {"step": 1, "loss": 6.0, **end}])


GOOD = {
    "most_common_masked": -6.0,
    "most_common_unmasked": -5.5,
    "least_common_masked": -12.0,
    "least_common_unmasked": -12.0,
    "never_used_masked": -13.5,
    "never_used_unmasked": -13.5,
}


def test_the_seed_result_passes_every_claim():
    table = claims(probe(), log(GOOD), V)
    assert table.columns.tolist() == ["claim", "measured", "test", "result"]
    assert table["result"].tolist() == ["PASS"] * 6
    assert "largest |group mean - (-10.825)| = 0.0100" in table.loc[0, "measured"]


@pytest.mark.parametrize(
    "change, failing",
    [
        ({}, []),
        ({"most_common_unmasked": -6.0}, [1]),
        ({"most_common_masked": -11.0, "most_common_unmasked": -10.9}, [2]),
        ({"most_common_masked": -12.5, "most_common_unmasked": -12.4}, [2, 5]),
        ({"least_common_masked": -10.0}, [3, 4]),
        ({"never_used_masked": -11.5}, [4, 5]),
    ],
)
def test_each_broken_claim_fails_alone(change, failing):
    table = claims(probe(), log({**GOOD, **change}), V)
    assert table.index[table["result"] == "FAIL"].tolist() == failing


def test_untrained_groups_apart_fail_the_first_claim():
    table = claims(probe(gaps=(0.2, 0.0, 0.0)), log(GOOD), V)
    assert table.loc[0, "result"] == "FAIL"
    assert table.loc[1:, "result"].eq("PASS").all()


def test_figures_have_labelled_axes():
    for fig in (plot_probe(probe(), V), plot_training(log(GOOD))):
        for ax in fig.axes:
            assert ax.get_xlabel() or ax.get_xticklabels()
            assert ax.get_ylabel()
