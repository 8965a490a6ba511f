"""Remedies like for like: group means renormalised over the corpus's ids, per variant."""

import math

import numpy as np
import pandas as pd
import pytest

from unused_tokens.report.remedies import like_for_like, renormalised_groups

GROUPS = pd.DataFrame(
    {"group": ["most_common", "least_common", "never_used"], "token_id": [0, 1, 2]}
)


def vocab(untrained, trained):
    """A vocabulary table whose renormalised means are `untrained` and `trained` for ids 0, 1."""
    return pd.DataFrame(
        {
            "token_id": [0, 1, 2],
            "untrained_within_corpus": [*untrained, np.nan],
            "trained_within_corpus": [*trained, np.nan],
        }
    )


def interval(row):
    if math.isnan(row["ci_low"]):
        return f"{row['mean']:.2f}"
    return f"{row['mean']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"


def test_renormalised_group_levels_and_changes_from_the_own_start():
    values = renormalised_groups(vocab((-9.0, -9.5), (-4.0, -11.0)), GROUPS)
    assert values == pytest.approx(
        {
            "most_common level": -4.0,
            "most_common change": 5.0,
            "least_common level": -11.0,
            "least_common change": -1.5,
        }
    )


def test_like_for_like_describes_each_variant_over_seeds():
    runs = {
        ("baseline", 0): vocab((-9.0, -9.0), (-4.0, -11.0)),
        ("baseline", 1): vocab((-9.0, -9.0), (-5.0, -11.0)),
        ("pruned_vocabulary", 0): vocab((-9.2, -9.2), (-4.5, -10.0)),
    }
    table = like_for_like(runs, GROUPS, interval)
    assert table.index.tolist() == ["baseline", "pruned_vocabulary"]
    assert table.columns.tolist() == [
        "most common: level",
        "most common: change",
        "least common: level",
        "least common: change",
    ]
    assert table.loc["pruned_vocabulary"].tolist() == ["-4.50", "4.70", "-10.00", "-0.80"]
    assert table.loc["baseline", "most common: change"] == "4.50 [-1.85, 10.85]"  # t(1)
