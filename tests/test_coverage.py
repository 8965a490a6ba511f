"""The coverage study's arithmetic: per book, cumulative, over orders, and Heaps' law; and its
benchmark."""

import math
import re
import sys

import numpy as np
import pytest

from conftest import (
    ROOT,
    book_text,
    second_book_text,
)
from unused_tokens.data.corpus import strip_gutenberg
from unused_tokens.data.coverage import (
    FIT_FROM,
    cumulative,
    distinct_growth,
    heaps_fit,
    heaps_over_orders,
    orders,
    per_book,
    supported_sizes,
    tokens_for_share,
)
from unused_tokens.pipeline import schemas

BOOKS = {"a": np.array([0, 1, 1, 2]), "b": np.array([2, 3, 3, 3, 4, 0]), "c": np.array([5])}


def test_distinct_ids_of_every_prefix_against_a_plain_count():
    ids = np.random.default_rng(0).zipf(1.5, 5000) % 700
    lengths = [0, 1, 2, 10, 999, 5000]
    assert distinct_growth(ids, lengths).tolist() == [len(set(ids[:n])) for n in lengths]


def test_each_book_and_the_books_added_in_order():
    table = per_book(BOOKS, vocab_size=10)
    assert table.to_dict("list") == {
        "book": ["a", "b", "c"],
        "tokens": [4, 6, 1],
        "distinct_ids": [3, 4, 1],
        "vocabulary_share": [0.3, 0.4, 0.1],
    }
    growth = cumulative(BOOKS, 10, ["b", "a", "c"])
    assert growth.to_dict("list") == {
        "books": [1, 2, 3],
        "added": ["b", "a", "c"],
        "tokens": [6, 10, 11],
        "distinct_ids": [4, 5, 6],  # b: 0 2 3 4; a adds 1; c adds 5
        "vocabulary_share": [0.4, 0.5, 0.6],
    }


def test_the_listed_order_comes_first_then_seeded_permutations():
    found = orders(["a", "b", "c"], 5, seed=1)
    assert found[0] == ["a", "b", "c"] and len(found) == 6
    assert all(sorted(order) == ["a", "b", "c"] for order in found)
    assert found == orders(["a", "b", "c"], 5, seed=1)
    assert found != orders(["a", "b", "c"], 5, seed=2)


def test_heaps_law_is_recovered_from_text_that_follows_it():
    """Ids whose n-th new id comes at token round((n / K) ** (1 / beta)): distinct(n) follows
    K * n**beta up to rounding, so the fit gives K and beta back."""
    k, beta, total = 3.0, 0.6, 200_000
    distinct = np.floor(k * np.arange(1, total + 1) ** beta).astype(np.int64)
    ids = np.empty(total, dtype=np.int64)
    new = np.diff(distinct, prepend=0) > 0
    ids[new] = np.arange(new.sum())  # a new id where the count grows...
    ids[~new] = 0  # ...else the first id again
    fitted_k, fitted_beta = heaps_fit(ids)
    assert fitted_beta == pytest.approx(beta, abs=0.005)
    assert fitted_k == pytest.approx(k, rel=0.05)
    assert tokens_for_share(0.5, 1000, k, beta) == pytest.approx((500 / 3.0) ** (1 / 0.6))
    with pytest.raises(ValueError, match=f"Heaps' law is fitted from {FIT_FROM} tokens on"):
        heaps_fit(ids[:FIT_FROM])


def test_one_fit_per_order_with_its_misfit_at_the_end():
    rng = np.random.default_rng(0)
    books = {t: rng.zipf(1.3, 3000) % 5000 for t in "abcd"}
    table = heaps_over_orders(books, 5000, orders(list(books), 3, seed=0))
    assert table.columns.tolist() == schemas.COVERAGE_HEAPS.names
    assert table["order"].tolist() == [0, 1, 2, 3]
    assert ((table["heaps_beta"] > 0) & (table["heaps_beta"] < 1)).all()
    whole = np.concatenate(list(books.values()))
    first = table.iloc[0]
    assert first["tokens"] == 12_000
    assert first["share_at_end"] == len(np.unique(whole)) / 5000
    assert first["fit_share_at_end"] == pytest.approx(
        first["heaps_k"] * 12_000 ** first["heaps_beta"] / 5000
    )


@pytest.mark.parametrize(
    ("fit_share", "measured", "expected"),
    [
        (0.42, 0.40, [1e6, 3e6]),  # within 5%, both shares beyond the text
        (0.45, 0.40, [math.nan, math.nan]),  # 12.5% off: nothing is extrapolated
        (0.37, 0.40, [math.nan, math.nan]),  # off the other way
        (0.62, 0.60, [math.nan, 3e6]),  # 50% is already used: measured, not extrapolated
    ],
)
def test_a_size_is_extrapolated_only_beyond_the_text_from_a_fit_that_holds_there(
    fit_share, measured, expected
):
    found = supported_sizes(fit_share, measured, {0.5: 1e6, 0.9: 3e6})
    assert found == pytest.approx(expected, nan_ok=True)


def test_text_recovered_from_heaps_law_supports_its_extrapolation():
    k, beta, total = 3.0, 0.6, 200_000  # as above: 3 * 200,000**0.6 = 4,655 distinct ids
    distinct = np.floor(k * np.arange(1, total + 1) ** beta).astype(np.int64)
    ids = np.empty(total, dtype=np.int64)
    new = np.diff(distinct, prepend=0) > 0
    ids[new], ids[~new] = np.arange(new.sum()), 0
    first = heaps_over_orders({"a": ids}, 20_000, [["a"]]).iloc[0]
    assert first["tokens_for_90_percent"] == pytest.approx(
        tokens_for_share(0.9, 20_000, first["heaps_k"], first["heaps_beta"])
    )
    assert first["tokens_for_90_percent"] > total


# The coverage rule through snakemake: tests/test_tokenizers_study.py.


def test_the_benchmark_prints_each_tokenizers_times(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import coverage as benchmark

    books = [tmp_path / "one.txt", tmp_path / "two.txt"]
    books[0].write_text(book_text())  # with Gutenberg's lines: cut as the rule cuts
    books[1].write_text(second_book_text())
    benchmark.main([str(b) for b in books])
    lines = capsys.readouterr().out.splitlines()
    characters = len(strip_gutenberg(book_text())) + len(second_book_text())
    assert re.fullmatch(rf"2 books, {characters:,} characters; CPU: .+", lines[0])
    sizes = (
        ("gpt2", "50,257"),
        ("cl100k_base", "100,277"),
        ("mistral_v1", "32,000"),
        ("tekken", "131,072"),
    )
    assert len(lines) == 1 + len(sizes)
    for line, (name, size) in zip(lines[1:], sizes, strict=True):
        assert re.fullmatch(
            rf"{name} \({size} ids\): loading \d+\.\d\d s, tokenizing and counting "
            r"[\d,]+ tokens \d+\.\d\d s",
            line,
        )
