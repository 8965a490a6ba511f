"""Aggregation over seeds: long format, Student-t intervals and paired differences, by hand."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from unused_tokens.analysis import aggregate
from unused_tokens.pipeline import names, schemas

T3 = 3.182446305284263  # Student t, 97.5% quantile, 3 degrees of freedom


def log(final_loss, steps=3):
    """A training log whose every column goes linearly from 10 to `final_loss`."""
    values = np.linspace(10, final_loss, steps + 1)
    return pd.DataFrame({"step": range(steps + 1), **{q: values for q in schemas.LOG_ROW}})


LOGS = {
    **{("baseline", s): log(v) for s, v in zip(range(4), (1.0, 2.0, 3.0, 4.0), strict=True)},
    **{("wide", s): log(v) for s, v in zip(range(3), (2.0, 2.5, 5.0), strict=True)},
}


def test_long_log_has_one_row_per_run_step_and_quantity():
    long = aggregate.long_log(LOGS)
    assert long.columns.tolist() == schemas.STEPS.names
    assert len(long) == len(LOGS) * 4 * len(schemas.LOG_ROW)
    row = long[(long.variant == "wide") & (long.seed == 2) & (long.quantity == "loss")]
    assert row.sort_values("step")["value"].tolist() == pytest.approx([10, 25 / 3, 20 / 3, 5])


def test_any_per_run_table_stacks_under_its_own_run_names_and_keys():
    tables = {
        ("fresh", 0): pd.DataFrame({"method": ["a", "b"], "auc": [0.5, 0.9], "k": [3, 3]}),
        ("pretrained", 1): pd.DataFrame({"method": ["a", "b"], "auc": [0.6, 0.8], "k": [4, 4]}),
    }
    long = aggregate.stacked(tables, ["method"], run=("arm", "seed"))
    assert long.columns.tolist() == ["arm", "seed", "method", "quantity", "value"]
    assert len(long) == 2 * 2 * 2
    row = long[(long.arm == "pretrained") & (long.method == "b") & (long.quantity == "auc")]
    assert row[["seed", "value"]].values.tolist() == [[1, 0.8]]


def test_tables_of_runs_are_averaged_row_by_row_matched_by_their_keys(tmp_path):
    paths = []
    for i, values in enumerate(([1.0, 10.0], [3.0, 30.0])):
        table = pd.DataFrame({"group": ["b", "a"], "mean": values, "label": ["x", "y"]})
        paths.append(tmp_path / f"run{i}.parquet")
        table.iloc[:: 1 if i == 0 else -1].to_parquet(paths[-1])  # the second in another order
    mean = aggregate.mean_of_tables(paths, ["group"])
    assert mean.to_dict("list") == {"group": ["b", "a"], "mean": [2.0, 20.0]}


def test_summary_is_the_mean_and_t_interval_of_the_final_values():
    summary = aggregate.summary(aggregate.long_log(LOGS)).set_index(["variant", "quantity"])
    base = summary.loc[("baseline", "loss")]
    sd = math.sqrt(5 / 3)  # of 1, 2, 3, 4
    assert base["n_seeds"] == 4 and base["mean"] == 2.5
    assert base["std"] == pytest.approx(sd, rel=1e-12)
    assert base["ci_low"] == pytest.approx(2.5 - T3 * sd / 2, rel=1e-12)
    assert base["ci_high"] == pytest.approx(2.5 + T3 * sd / 2, rel=1e-12)
    assert summary.loc[("wide", "never_used_masked"), "mean"] == pytest.approx(9.5 / 3)


def test_one_seed_has_no_interval():
    summary = aggregate.summary(aggregate.long_log({("baseline", 0): log(3.0)}))
    row = summary.iloc[0]
    assert row["n_seeds"] == 1 and row["mean"] == 3.0
    assert math.isnan(row["std"]) and math.isnan(row["ci_low"]) and math.isnan(row["ci_high"])


def test_paired_differences_use_only_the_seeds_both_variants_have():
    differences = aggregate.paired_differences(aggregate.long_log(LOGS))
    assert set(differences["variant"]) == {"wide"}
    loss = differences.set_index("quantity").loc["loss"]
    pairs = [2.0 - 1.0, 2.5 - 2.0, 5.0 - 3.0]  # seeds 0, 1, 2; the baseline's seed 3 has no pair
    t2 = 4.302652729911275
    sd = np.std(pairs, ddof=1)
    assert loss["n_seeds"] == 3 and loss["mean"] == pytest.approx(np.mean(pairs))
    assert loss["ci_high"] - loss["ci_low"] == pytest.approx(2 * t2 * sd / math.sqrt(3))


def test_the_headline_is_strict_json_with_every_claim():
    long = aggregate.long_log({("baseline", 0): log(3.0), ("wide", 0): log(2.0)})
    claims = pd.DataFrame(
        {"variant": ["baseline", "wide"], "claim": ["c", "c"], "result": ["PASS", "FAIL"]}
    )
    runs = [("baseline", 0), ("wide", 0)]
    headline = aggregate.headline(
        "s", runs, aggregate.summary(long), aggregate.paired_differences(long), claims
    )
    text = json.dumps(headline, allow_nan=False)
    assert json.loads(text)["final"]["baseline"]["loss"] == {
        "n_seeds": 1,
        "mean": 3.0,
        "ci_low": None,
        "ci_high": None,
    }
    assert headline["difference_from_baseline"]["wide"]["loss"]["mean"] == -1.0
    assert headline["claims"] == {"baseline": {"c": "PASS"}, "wide": {"c": "FAIL"}}
    assert (headline["variants"], headline["seeds"]) == (["baseline", "wide"], [0])


def test_changes_are_each_runs_final_value_minus_its_step_0_described_over_seeds():
    changes = aggregate.changes(aggregate.long_log(LOGS)).set_index(["variant", "quantity"])
    wide = changes.loc[("wide", "never_used_masked")]
    assert wide["n_seeds"] == 3 and wide["mean"] == pytest.approx((2.0 + 2.5 + 5.0) / 3 - 10)
    base = changes.loc[("baseline", "loss")]
    assert base["ci_high"] - base["mean"] == pytest.approx(T3 * math.sqrt(5 / 3) / 2, rel=1e-12)


def probe_table(shift):
    """A group table (the untrained probe's, or a masking control's rows) with masked means
    -10 + shift and unmasked means -9 + shift per group."""
    return pd.DataFrame(
        {
            "group": list(names.GROUP_NAMES),
            "masked_mean": [-10.0 + shift + i for i in range(3)],
            "unmasked_mean": [-9.0 + shift + i for i in range(3)],
        }
    )


def test_endpoints_take_group_means_from_the_probe_and_the_loss_from_the_log():
    logs = {("baseline", 0): log(3.0), ("wide", 1): log(2.0, steps=5)}
    probes = {run: probe_table(0.0) for run in logs}
    controls = {
        run: pd.concat(
            [
                probe_table(shift).assign(predictor=p)
                for p, shift in (("trained", 2), ("unigram", 7))
            ]
        )
        for run in logs
    }
    ends = aggregate.endpoints(aggregate.long_log(logs), probes, controls)
    assert ends.columns.tolist() == schemas.STEPS.names
    assert schemas.LOSSES == (
        "loss",
        "held_out_loss",
        "held_out_unseen_loss",
        "held_out_seen_loss",
    )
    assert len(ends) == 2 * 2 * (4 + 2 * len(names.GROUP_NAMES))  # runs, ends, quantities
    wide = ends[ends["variant"] == "wide"].set_index(["step", "quantity"])["value"]
    for loss in schemas.LOSSES:
        assert wide[(0, loss)] == 10.0 and wide[(5, loss)] == 2.0
    assert wide[(0, "least_common_masked")] == -9.0  # the untrained probe
    assert wide[(5, "least_common_masked")] == -7.0  # the control's trained rows, not unigram
    assert wide[(5, "never_used_unmasked")] == -5.0
    moved = aggregate.changes(ends).set_index(["variant", "quantity"])["mean"]
    assert moved[("baseline", "most_common_masked")] == 2.0
