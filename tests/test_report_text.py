"""How the report writes numbers: intervals and the variants' table, exactly."""

import math

import pandas as pd

from unused_tokens.analysis.aggregate import interval
from unused_tokens.report.text import FINAL_COLUMNS, variant_table


def row(mean, low=math.nan, high=math.nan):
    return pd.Series({"mean": mean, "ci_low": low, "ci_high": high})


def test_an_interval_reads_mean_low_high_and_says_what_is_missing():
    assert interval(row(-2.8412, -2.8734, -2.8101)) == "-2.841 [-2.873, -2.810]"
    assert interval(row(0.1234, -0.1, 0.3), digits=2, signed=True) == "+0.12 [-0.10, +0.30]"
    assert interval(row(6.5)) == "6.500"  # one seed: no interval
    assert interval(row(math.nan)) == "n/a"  # a group the model does not have


def test_the_variant_table_keeps_the_quantities_it_has_in_the_order_asked():
    described = pd.DataFrame(
        [
            ("wide", "loss", 6.0, 5.9, 6.1),
            ("baseline", "loss", 6.5, math.nan, math.nan),
            ("baseline", "never_used_masked", -14.1, -14.2, -14.0),
            ("wide", "never_used_masked", math.nan, math.nan, math.nan),
        ],
        columns=["variant", "quantity", "mean", "ci_low", "ci_high"],
    )
    table = variant_table(described, order=["baseline", "absent", "wide"], digits=1)
    assert table.index.tolist() == ["baseline", "wide"]
    assert table.columns.tolist() == [FINAL_COLUMNS["loss"], FINAL_COLUMNS["never_used_masked"]]
    assert table.loc["baseline"].tolist() == ["6.5", "-14.1 [-14.2, -14.0]"]
    assert table.loc["wide"].tolist() == ["6.0 [5.9, 6.1]", "n/a"]
    assert variant_table(described).index.tolist() == ["wide", "baseline"]  # as they come


def test_a_value_is_rounded_to_what_its_interval_supports():
    assert interval(row(4.7213, 4.6862, 4.7564)) == "4.721 [4.686, 4.756]"  # half 0.035
    assert interval(row(4.721, 4.371, 5.071)) == "4.72 [4.37, 5.07]"  # half 0.35
    assert interval(row(6.2, 2.7, 9.7)) == "6.2 [2.7, 9.7]"  # half 3.5: one decimal at least
    assert interval(row(0.00021, 0.00017, 0.00025), signed=True) == "+0.0002 [+0.0002, +0.0003]"
    assert interval(row(6.71, 6.70, 6.72)) == "6.710 [6.700, 6.720]"  # half 0.01, in binary 0.0099…
    assert interval(row(2.0, 2.0, 2.0)) == "2.000 [2.000, 2.000]"  # seeds that agree exactly
