"""The spread over random draws of a group's members (analysis/draws.py)."""

import math

import numpy as np
import pandas as pd
import pytest

from unused_tokens.analysis.draws import draw_spread
from unused_tokens.pipeline import schemas

COUNTS = np.r_[np.full(10, 50), np.ones(40, dtype=int), np.full(10, 2), np.zeros(40, dtype=int)]


def vocab(change):
    return pd.DataFrame(
        {"token_id": np.arange(100), "untrained_mean": -4.6, "trained_mean": -4.6 + change}
    )


def targets(least, never):
    return {
        "least_common": {str(i): 1 for i in least},
        "never_used": {str(i): 0 for i in never},
        "most_common": {"0": 9},
    }


def test_groups_whose_eligible_ids_all_move_alike_have_no_spread():
    change = np.where(COUNTS == 0, -3.0, np.where(COUNTS == 1, -1.0, 2.0))
    spread = draw_spread(vocab(change), COUNTS, targets(range(10, 15), range(60, 65)), draws=50)
    assert list(spread) == list(schemas.DRAW_MEASURES)
    assert spread == {name: 0.0 for name in schemas.DRAW_MEASURES}


def test_the_spread_is_that_of_means_of_draws_without_replacement_from_each_pool():
    """Each pool's changes are 0 and 1, half each: a draw of k from N has a mean whose standard
    deviation is sqrt(p (1 - p) / k * (N - k) / (N - 1)) (the finite-population correction).
    Ids seen twice lie outside the least common pool: their huge change never enters."""
    change = np.zeros(100)
    change[10:50:2] = 1.0  # the 40 ids seen once
    change[60::2] = 1.0  # the 40 never-used ids
    change[50:60] = 100.0  # seen twice: not eligible for a group of ids seen once
    spread = draw_spread(vocab(change), COUNTS, targets(range(10, 20), range(60, 70)), draws=4000)
    expected = math.sqrt(0.25 / 10 * 30 / 39)
    assert spread["least_common_draw_sd"] == pytest.approx(expected, rel=0.05)
    assert spread["never_used_draw_sd"] == pytest.approx(expected, rel=0.05)
    # independent draws: the difference's variance is the sum
    assert spread["fall_excess_draw_sd"] == pytest.approx(expected * math.sqrt(2), rel=0.05)


def test_a_model_without_never_used_ids_has_no_spread_for_them():
    change = np.where(COUNTS == 0, np.nan, 1.0)  # a pruned vocabulary: no value for them
    spread = draw_spread(vocab(change), COUNTS, targets(range(10, 15), range(60, 65)), draws=20)
    assert spread["least_common_draw_sd"] == 0.0
    assert math.isnan(spread["never_used_draw_sd"]) and math.isnan(spread["fall_excess_draw_sd"])
