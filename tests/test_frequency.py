"""count_tokens and summarize: exact counts, deterministic ranks, coverage."""

import math

import numpy as np
import pytest

from unused_tokens.data.frequency import count_tokens, summarize, unigram_entropy

TEXTS = ["a", "b", "c", "d", "e", "f"]


def test_counts_ranks_and_shares_of_every_id():
    # id 4 occurs 3 times, ids 1 and 3 twice (a tie), id 0 once; ids 2 and 5 never.
    freq = count_tokens(np.array([4, 1, 3, 4, 0, 3, 1, 4]), TEXTS)
    assert freq["token_id"].tolist() == [0, 1, 2, 3, 4, 5]
    assert freq["count"].tolist() == [1, 2, 0, 2, 3, 0]
    # rank by count descending, ties by ascending id: 4, 1, 3, 0, then unused 2, 5
    assert freq["rank"].tolist() == [4, 2, 5, 3, 1, 6]
    assert freq["share"].tolist() == [1 / 8, 2 / 8, 0, 2 / 8, 3 / 8, 0]
    assert freq["token_text"].tolist() == TEXTS


def test_summary_and_entropy():
    freq = count_tokens(np.array([0, 0, 1, 2]), TEXTS)
    s = summarize(freq).iloc[0]
    assert (s["total_tokens"], s["distinct_tokens"], s["n_vocab"]) == (4, 3, 6)
    assert s["coverage"] == pytest.approx(0.5)
    assert unigram_entropy(freq) == pytest.approx(
        -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    )


def test_id_outside_the_vocabulary_is_an_error():
    with pytest.raises(ValueError, match="token id 6 is outside the vocabulary of 6"):
        count_tokens(np.array([1, 6]), TEXTS)
