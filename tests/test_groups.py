"""select_groups: the right tokens, never-used really unused, deterministic ties, clear errors."""

import numpy as np
import pandas as pd
import pytest

from unused_tokens.data.frequency import count_tokens
from unused_tokens.data.groups import (
    GroupSizeError,
    group_ids,
    readable,
    select_groups,
    token_table,
)


def frequency(counts):
    ids = np.repeat(np.arange(len(counts)), counts)
    return count_tokens(
        np.random.default_rng(0).permutation(ids), [f"t{i}" for i in range(len(counts))]
    )


# ids:      0  1  2  3  4  5  6  7  8  9 10 11
COUNTS = [0, 5, 1, 5, 0, 2, 9, 1, 0, 0, 3, 0]


def test_groups_follow_the_documented_tie_rule():
    groups = group_ids(select_groups(frequency(COUNTS), size=2, seed=0))
    assert groups["most_common"].tolist() == [6, 1]  # 9, then the 5/5 tie broken by lower id
    assert groups["least_common"].tolist() == [2, 7]  # the 1/1 pair in ascending id order
    assert set(groups["never_used"]) <= {0, 4, 8, 9, 11}
    assert groups["never_used"].tolist() == sorted(groups["never_used"])


def test_groups_are_disjoint_when_one_tie_spans_both_edges():
    """Six tokens that each occur once: without the rule both groups would be ids 0, 1, 2."""
    groups = group_ids(select_groups(frequency([1, 1, 1, 1, 1, 1, 0, 0, 0]), size=3, seed=0))
    assert groups["most_common"].tolist() == [0, 1, 2]
    assert groups["least_common"].tolist() == [3, 4, 5]


def test_table_columns_and_positions():
    table = select_groups(frequency(COUNTS), size=2, seed=0)
    assert table.columns.tolist() == [
        "group",
        "position",
        "token_id",
        "count",
        "rank",
        "token_text",
    ]
    assert (
        table["group"].tolist() == ["most_common"] * 2 + ["least_common"] * 2 + ["never_used"] * 2
    )
    assert table["position"].tolist() == [0, 1] * 3
    row = table.iloc[0]
    assert (row["token_id"], row["count"], row["rank"], row["token_text"]) == (6, 9, 1, "t6")


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_never_used_have_count_zero_and_groups_are_disjoint(seed):
    rng = np.random.default_rng(seed)
    counts = np.where(rng.random(3000) < 0.2, rng.integers(1, 50, 3000), 0)
    freq = frequency(counts)
    table = select_groups(freq, size=100, seed=seed)
    never = table.loc[table["group"] == "never_used", "token_id"]
    assert (freq.set_index("token_id").loc[never, "count"] == 0).all()
    assert table["token_id"].is_unique
    assert table.groupby("group").size().tolist() == [100, 100, 100]
    least = table.loc[table["group"] == "least_common", "count"]
    assert least.max() <= freq.loc[freq["count"] > 0, "count"].nsmallest(101).iloc[-1]


def test_same_seed_same_groups_other_seed_other_draw():
    freq = frequency([3] * 10 + [0] * 200)
    a = select_groups(freq, size=5, seed=11)
    pd.testing.assert_frame_equal(a, select_groups(freq, size=5, seed=11))
    b = select_groups(freq, size=5, seed=12)
    assert a["token_id"].tolist()[:10] == b["token_id"].tolist()[:10]  # used groups: no randomness
    assert a["token_id"].tolist()[10:] != b["token_id"].tolist()[10:]


def test_asking_for_more_than_exist_names_the_key():
    freq = frequency(COUNTS)  # 7 used ids, 5 unused
    with pytest.raises(
        GroupSizeError,
        match=r"groups.size=4 needs 8 distinct tokens .* only 7: lower groups.size to 3 or less$",
    ):
        select_groups(freq, size=4, seed=0)
    freq = frequency([1] * 20 + [0] * 3)
    with pytest.raises(
        GroupSizeError,
        match=r"groups.size=4 needs 4 never-used tokens, but only 3 .*: lower groups.size to 3 or",
    ):
        select_groups(freq, size=4, seed=0)


def test_a_text_too_short_for_groups_of_one_asks_for_a_longer_text():
    """A 3-byte book: one distinct token, and groups.size cannot go below 1."""
    with pytest.raises(
        GroupSizeError,
        match=r"^groups.size=1 needs 2 distinct tokens for most_common and least_common, but the "
        r"corpus has only 1: use a longer text$",
    ):
        select_groups(frequency([5] + [0] * 10), size=1, seed=0)
    with pytest.raises(
        GroupSizeError, match=r"count 0: use a shorter text or a larger vocabulary$"
    ):
        select_groups(frequency([1] * 4), size=1, seed=0)


@pytest.mark.book
def test_real_book_groups(book, encoding):
    from unused_tokens.data.corpus import read_corpus
    from unused_tokens.data.tokenizer import token_texts
    from unused_tokens.data.tokens import encode

    freq = count_tokens(encode(read_corpus(book, strip=True), encoding), token_texts(encoding))
    table = select_groups(freq, size=100, seed=0)
    by_group = table.groupby("group")["count"]
    assert by_group.min()["never_used"] == by_group.max()["never_used"] == 0
    assert by_group.max()["least_common"] == 1  # the book has far more than 100 hapaxes
    assert by_group.min()["most_common"] > by_group.max()["least_common"]
    assert table.loc[table["group"] == "most_common", "rank"].tolist() == list(range(1, 101))


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (" the", "\u2423the"),
        ("\n\n", "\u21b5\u21b5"),
        ("\\xe2\\x80", "[bytes e2 80]"),  # as tokenizer.token_texts writes a partial character
        (" \\xe2\\x80\\x9c", "\u2423[bytes e2 80 9c]"),
        ("caf\u00e9", "caf\u00e9"),
    ],
)
def test_token_texts_read_plainly(text, shown):
    assert readable(text) == shown


def test_a_group_reads_as_a_table_of_id_text_and_count():
    groups = pd.DataFrame(
        {
            "group": ["most_common", "most_common", "never_used"],
            "token_id": [11, 198, 171],
            "count": [9920, 9335, 0],
            "token_text": [",", "\n", "\\xef"],
        }
    )
    table = token_table(groups, "most_common")
    assert table.columns.tolist() == ["id", "token", "count in the book"]
    assert table.values.tolist() == [[11, ",", 9920], [198, "\u21b5", 9335]]
    assert token_table(groups, "never_used")["token"].tolist() == ["[bytes ef]"]
