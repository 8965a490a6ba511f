"""The report's mechanism tables: the normaliser split and the rows' displacement, per variant."""

import math

import pandas as pd

from unused_tokens.report.mechanism import (
    DISPLACEMENT_COLUMNS,
    NORMALISER_COLUMNS,
    displacement_table,
    normaliser_table,
)


def interval(row):
    if math.isnan(row["ci_low"]):
        return f"{row['mean']:.2f}"
    return f"{row['mean']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"


def test_the_normaliser_table_describes_each_variants_split_over_seeds():
    rows = [
        {"variant": v, "seed": s, "never_used_log_prob_change": lp, "never_used_logit_change": z}
        for v, values in (("sgd", [(-1.0, -2.0)]), ("baseline", [(-3.0, -4.0), (-3.0, -5.0)]))
        for s, (lp, z) in enumerate(values)
    ]
    measures = pd.DataFrame(rows).assign(
        logsumexp_change=lambda t: t["never_used_logit_change"] - t["never_used_log_prob_change"],
        copying=0.1,
    )
    table = normaliser_table(measures, interval)
    assert table.index.tolist() == ["sgd", "baseline"]  # the measures' order
    assert table.columns.tolist() == list(NORMALISER_COLUMNS.values())
    assert table.loc["sgd"].tolist() == ["-1.00", "-2.00", "-1.00"]
    assert table.loc["baseline", "= their logits' change"] == "-4.50 [-10.85, 1.85]"  # t(1)


def test_the_displacement_table_shows_the_trained_rows_of_two_buckets():
    rows = [
        (v, model, bucket, q, 3, value, 0.0, value, value)
        for v in ("baseline", "sgd")
        for model in ("untrained", "trained")
        for bucket, value in (("0", 1.0), ("1", 5.0), (">100", 2.0))
        for q in [*DISPLACEMENT_COLUMNS, "mean_norm"]
    ]
    columns = ["variant", "model", "bucket", "quantity", "n_seeds", "mean", "std"]
    geometry = pd.DataFrame(rows, columns=[*columns, "ci_low", "ci_high"])
    table = displacement_table(geometry, interval)
    assert table.index.tolist() == [
        ("baseline", "never used"),
        ("baseline", "count > 100"),
        ("sgd", "never used"),
        ("sgd", "count > 100"),
    ]
    assert table.columns.tolist() == list(DISPLACEMENT_COLUMNS.values())
    assert table.loc[("sgd", "count > 100")].tolist() == ["2.00 [2.00, 2.00]"] * 3
