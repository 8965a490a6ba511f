"""The coverage study's arithmetic: per book, cumulative, over orders, and Heaps' law."""

import hashlib
import importlib.resources
import json
import re
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import (
    ROOT,
    book_text,
    finetune_overlay,
    prepare_run,
    results,
    second_book_text,
    snakemake,
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
    tokens_for_share,
)
from unused_tokens.data.tokenizer import load_tiktoken
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


def test_one_fit_per_order_with_the_text_each_share_would_take():
    rng = np.random.default_rng(0)
    books = {t: rng.zipf(1.3, 3000) % 5000 for t in "abcd"}
    table = heaps_over_orders(books, 5000, orders(list(books), 3, seed=0))
    assert table.columns.tolist() == schemas.COVERAGE_HEAPS.names
    assert table["order"].tolist() == [0, 1, 2, 3]
    assert ((table["heaps_beta"] > 0) & (table["heaps_beta"] < 1)).all()
    first = table.iloc[0]
    assert first["tokens_for_90_percent"] == pytest.approx(
        tokens_for_share(0.9, 5000, first["heaps_k"], first["heaps_beta"])
    )


# --- the coverage rule, through snakemake ---------------------------------------------------

CL100K = importlib.resources.files("tiktoken_ext").joinpath("data/cl100k_base.tiktoken")
THIRD_BOOK = "The third book: Lilliput, Brobdingnag and Laputa, chapter {i}; ʕ•ᴥ•ʔ\n"


@pytest.fixture(scope="module")
def coverage_run(tmp_path_factory):
    """The tiny study's two books and a third, counted by GPT-2 and cl100k_base, 3 orders."""
    base = tmp_path_factory.mktemp("coverage")
    second, third = base / "second.txt", base / "third.txt"
    second.write_text(second_book_text())
    third.write_text("".join(THIRD_BOOK.format(i=i) for i in range(40)))
    overlay = {
        "finetune": {"corpus": finetune_overlay(second)["finetune"]["corpus"]},
        "coverage": {
            "books": {
                **dict.fromkeys(DEFAULT_BOOKS),  # null: the default books left out
                "third": local_book(third, "the third test book"),
            },
            "tokenizers": {
                "cl100k_base": {
                    "sources": ["package://tiktoken_ext/data/cl100k_base.tiktoken"],
                    "sha256": hashlib.sha256(CL100K.read_bytes()).hexdigest(),
                }
            },
            "orders": 3,
        },
    }
    work = prepare_run(base / "work", book_text(), overlay)
    tables = [f"results/e2e/coverage/{t}/{n}.parquet" for t in TOKENIZERS for n in TABLES]
    _, output = snakemake(work, targets=tables)
    texts = [strip_gutenberg(book_text()), second_book_text(), third.read_text()]
    return results(work), texts, output


def local_book(path, title):
    return {
        "title": title,
        "sources": [path.as_uri()],
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "strip_gutenberg": False,
    }


TOKENIZERS = ("gpt2", "cl100k_base")
DEFAULT_BOOKS = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["coverage"]["books"]
TABLES = {
    "books": schemas.COVERAGE_BOOKS,
    "growth": schemas.COVERAGE_GROWTH,
    "heaps": schemas.COVERAGE_HEAPS,
}
TITLES = ["the test book", "the second test book", "the third test book"]


@pytest.mark.workflow
@pytest.mark.parametrize("tokenizer", TOKENIZERS)
def test_each_tokenizer_counts_every_book_in_order_and_over_orders(
    coverage_run, encoding, tokenizer
):
    out, texts, _ = coverage_run
    if tokenizer == "cl100k_base":
        encoding = load_tiktoken(
            "cl100k_base", CL100K, hashlib.sha256(CL100K.read_bytes()).hexdigest()
        )
    folder = out / "coverage" / tokenizer
    for name, schema in TABLES.items():
        assert pq.read_schema(folder / f"{name}.parquet").remove_metadata() == schema
    meta = pq.read_schema(folder / "books.parquet").metadata
    assert meta[b"tokenizer"] == tokenizer.encode()
    assert meta[b"vocabulary_size"] == str(encoding.n_vocab).encode()
    ids = [encoding.encode_ordinary(text) for text in texts]
    books = pd.read_parquet(folder / "books.parquet")
    assert books["book"].tolist() == TITLES
    assert books["tokens"].tolist() == [len(i) for i in ids]
    assert books["distinct_ids"].tolist() == [len(set(i)) for i in ids]
    growth = pd.read_parquet(folder / "growth.parquet")
    assert sorted(set(growth["order"])) == [0, 1, 2, 3]
    listed = growth[growth["order"] == 0]
    assert listed["added"].tolist() == TITLES
    assert listed["distinct_ids"].tolist() == [len(set().union(*ids[:k])) for k in (1, 2, 3)]
    assert (growth.groupby("order")["distinct_ids"].last() == len(set().union(*ids))).all()
    heaps = pd.read_parquet(folder / "heaps.parquet")
    assert heaps["order"].tolist() == [0, 1, 2, 3]
    k, beta = heaps_fit(np.concatenate(ids))  # the listed order's fit
    assert (heaps["heaps_k"][0], heaps["heaps_beta"][0]) == pytest.approx((k, beta), rel=1e-12)


@pytest.mark.workflow
def test_the_tiktoken_file_is_fetched_hash_checked_with_its_provenance(coverage_run):
    out, _, _ = coverage_run
    record = json.loads((out / "data/tokenizers/cl100k_base.provenance.json").read_text())
    assert record["source"] == "package://tiktoken_ext/data/cl100k_base.tiktoken"
    assert record["sha256"] == hashlib.sha256(CL100K.read_bytes()).hexdigest()
    log = (out / "logs/coverage/cl100k_base.log").read_text()
    assert "cl100k_base (100277 ids): 3 books" in log


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
    sizes = (("gpt2", "50,257"), ("cl100k_base", "100,277"))
    assert len(lines) == 1 + len(sizes)
    for line, (name, size) in zip(lines[1:], sizes, strict=True):
        assert re.fullmatch(
            rf"{name} \({size} ids\): loading \d+\.\d\d s, tokenizing and counting "
            r"[\d,]+ tokens \d+\.\d\d s",
            line,
        )
