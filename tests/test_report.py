"""Report numbers: claims PASS where the data support them and FAIL where not; plateau; facts."""

import math

import numpy as np
import pandas as pd
import pytest

from unused_tokens import report

V = 1000
U = -math.log(V)
COUNTS = np.r_[np.arange(600, 0, -1), np.zeros(400, dtype=int)]  # ids 600..999 never occur


def freq():
    return pd.DataFrame({"token_id": np.arange(V), "count": COUNTS, "rank": np.arange(1, V + 1)})


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


GOOD = {
    "most_common_masked": -6.0,
    "most_common_unmasked": -5.5,
    "least_common_masked": -12.0,
    "least_common_unmasked": -12.0,
    "never_used_masked": -13.5,
    "never_used_unmasked": -13.5,
}


def test_the_seed_result_passes_every_claim():
    table = report.claims(probe(), log(GOOD), vocab(), freq())
    assert table.columns.tolist() == ["claim", "measured", "test", "result"]
    assert table["result"].tolist() == ["PASS"] * 7
    assert "largest |group mean - (-6.908)| = 0.0100" in table.loc[0, "measured"]
    assert table.loc[6, "measured"] == (
        "100.00% of all 1,000 tokens moved by > 0.01 nats; "
        "largest change of the 400 never-seen tokens = -2.000"
    )


@pytest.mark.parametrize(
    "change, failing",
    [
        ({"most_common_unmasked": -6.0}, [1]),
        ({"most_common_masked": -11.0, "most_common_unmasked": -10.9}, [2]),
        ({"most_common_masked": -12.5, "most_common_unmasked": -12.4}, [2, 5]),
        ({"least_common_masked": -6.5}, [3, 4]),
        ({"never_used_masked": -11.5}, [4, 5]),
    ],
)
def test_each_broken_group_claim_fails(change, failing):
    table = report.claims(probe(), log({**GOOD, **change}), vocab(), freq())
    assert table.index[table["result"] == "FAIL"].tolist() == failing


def test_untrained_groups_apart_fail_the_first_claim():
    table = report.claims(probe(gaps=(0.2, 0.0, 0.0)), log(GOOD), vocab(), freq())
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
    table = report.claims(probe(), log(GOOD), vocab(trained), freq())
    assert table.index[table["result"] == "FAIL"].tolist() == [6]


def test_unigram_plateau_is_the_longest_run_near_the_entropy():
    loss = np.r_[np.linspace(10, 6, 50), np.full(100, 6.05), np.linspace(6, 4, 50)]
    plateau = report.unigram_plateau(pd.DataFrame({"step": range(200), "loss": loss}), 6.0)
    assert 40 <= plateau["first_step"] <= 50 and 150 <= plateau["last_step"] <= 160
    assert plateau["mean_loss"] == pytest.approx(6.05, abs=0.05)
    steep = pd.DataFrame({"step": range(200), "loss": np.linspace(10, 2, 200)})
    assert report.unigram_plateau(steep, 6.0) is None


def test_masking_effect_sentence():
    text = report.masking_effect(probe())
    assert text.startswith("Masking leaves out 50.0% of the most common group's")
    assert text.endswith(
        "by +0.0000 nats: the untrained model gives tokens it has just seen no head start."
    )
    shifted = probe().assign(masked_mean=lambda t: t["masked_mean"] - [0.05, 0, 0])
    assert report.masking_effect(shifted).endswith(
        "by -0.0500 nats: the untrained model already favours tokens it has just seen."
    )
    lowered = probe().assign(masked_mean=lambda t: t["masked_mean"] + [0.05, 0, 0])
    assert report.masking_effect(lowered).endswith(
        "gives tokens it has just seen less probability."
    )


def test_durations_and_config_hash(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("s\th:m:s\tmax_rss\n12.5\t0:00:12\t300.25\n")
    table = report.durations([path])
    assert table.values.tolist() == [["train", 12.5, 300.25]]
    assert report.config_hash({"a": 1, "b": 2}) == report.config_hash({"b": 2, "a": 1})
    assert report.config_hash({"a": 1}) != report.config_hash({"a": 2})


def test_figures_have_labelled_axes_and_are_saved(tmp_path):
    groups = pd.DataFrame(
        {
            "group": ["most_common"] * 2 + ["least_common"] * 2 + ["never_used"] * 2,
            "token_id": [0, 1, 598, 599, 700, 800],
        }
    )
    tokens = probe().assign(token_id=[0, 598, 700])
    figures = [
        report.plot_rank_frequency(freq(), groups),
        report.plot_probe(probe(), V),
        report.plot_token_spread(tokens, V),
        report.plot_training(log(GOOD), 6.2, {"first_step": 0, "last_step": 1, "mean_loss": 6.1}),
        report.plot_vocab(vocab(), freq(), groups),
    ]
    for fig in figures:
        for ax in fig.axes:
            assert ax.get_xlabel() or ax.get_xticklabels()
            assert ax.get_ylabel()
    report.save_figure(figures[0], tmp_path, "rank")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rank.png", "rank.svg"]
    assert (tmp_path / "rank.png").read_bytes()[:4] == b"\x89PNG"
