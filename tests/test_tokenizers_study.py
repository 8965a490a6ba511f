"""A tiny study with every shipped tokenizer and the coverage study, through snakemake: each
tokenizer's data, runs and coverage tables, the comparison, and the report's section."""

import hashlib
import json
import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from scipy import stats

from conftest import (
    ROOT,
    SHIPPED_TOKENIZERS,
    book_text,
    package_file,
    prepare_run,
    results,
    second_book_text,
    shipped_tokenizer,
    snakemake,
)
from unused_tokens.analysis.claims import tally
from unused_tokens.data.corpus import strip_gutenberg
from unused_tokens.data.coverage import heaps_fit
from unused_tokens.data.tokens import split_held_out
from unused_tokens.pipeline import schemas
from unused_tokens.pipeline.names import GROUP_NAMES

pytestmark = pytest.mark.workflow

TOKENIZERS = ("gpt2", *SHIPPED_TOKENIZERS)
THIRD_BOOK = "The third book: Lilliput, Brobdingnag and Laputa, chapter {i}; ʕ•ᴥ•ʔ\n"
DEFAULT_BOOKS = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["coverage"]["books"]
TABLES = {
    "books": schemas.COVERAGE_BOOKS,
    "growth": schemas.COVERAGE_GROWTH,
    "heaps": schemas.COVERAGE_HEAPS,
}
TITLES = ["the test book", "the second test book", "the third test book"]
SEEDS = (0, 1)


def local_book(path, title):
    return {
        "title": title,
        "sources": [path.as_uri()],
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "strip_gutenberg": False,
    }


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The tiny study over two seeds with every shipped tokenizer (their package copies), and the
    coverage study of its two books and a third, 3 random orders; (results, texts, output)."""
    base = tmp_path_factory.mktemp("tokenizers")
    second, third = base / "second.txt", base / "third.txt"
    second.write_text(second_book_text())
    third.write_text("".join(THIRD_BOOK.format(i=i) for i in range(40)))
    overlay = {
        "finetune": {"corpus": local_book(second, "the second test book")},
        "coverage": {
            "enabled": True,
            "books": {
                **dict.fromkeys(DEFAULT_BOOKS),  # null: the default books left out
                "third": local_book(third, "the third test book"),
            },
            "orders": 3,
        },
        "tokenizers": {
            name: {**entry, "sources": entry["sources"][:1]}  # the package's copy
            for name, entry in SHIPPED_TOKENIZERS.items()
        },
        "seeds": list(SEEDS),
    }
    work = prepare_run(base / "work", book_text(), overlay)
    _, output = snakemake(work)
    texts = [strip_gutenberg(book_text()), second_book_text(), third.read_text()]
    return results(work), texts, output


def tokenizer(name, encoding):
    """The tokenizer `name`, loaded apart from the pipeline (GPT-2's: the session's)."""
    return encoding if name == "gpt2" else shipped_tokenizer(name)


@pytest.mark.parametrize("name", TOKENIZERS)
def test_each_tokenizer_counts_every_book_in_order_and_over_orders(study, encoding, name):
    out, texts, _ = study
    encoding = tokenizer(name, encoding)
    folder = out / "coverage" / name
    for table, schema in TABLES.items():
        assert pq.read_schema(folder / f"{table}.parquet").remove_metadata() == schema
    meta = pq.read_schema(folder / "books.parquet").metadata
    assert meta[b"tokenizer"] == name.encode()
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


@pytest.mark.parametrize("name", list(SHIPPED_TOKENIZERS))
def test_each_added_tokenizers_file_is_fetched_hash_checked_with_its_provenance(study, name):
    out, _, _ = study
    record = json.loads((out / f"data/tokenizers/{name}.provenance.json").read_text())
    assert record["source"] == SHIPPED_TOKENIZERS[name]["sources"][0]
    assert record["sha256"] == SHIPPED_TOKENIZERS[name]["sha256"]
    assert record["sha256"] == hashlib.sha256(package_file(name).read_bytes()).hexdigest()


@pytest.mark.parametrize("name", TOKENIZERS)
def test_each_tokenizer_cuts_and_counts_the_book_and_sizes_the_model(study, encoding, name):
    out, texts, _ = study
    encoding = tokenizer(name, encoding)
    data = out / "data/pretrain" / name
    training, held_out = split_held_out(np.asarray(encoding.encode_ordinary(texts[0])), 0.1)
    tokens = pq.read_table(data / "tokens.parquet")
    width = "uint16" if encoding.n_vocab <= 65536 else "uint32"  # cl100k_base's ids need 32 bits
    assert tokens.schema.remove_metadata() == schemas.tokens(width)
    assert tokens.schema.metadata[b"encoding"] == name.encode()
    assert tokens.column("token_id").to_pylist() == training.tolist()
    assert pd.read_parquet(data / "held_out.parquet")["token_id"].tolist() == held_out.tolist()
    freq = pd.read_parquet(data / "frequency.parquet")
    assert len(freq) == encoding.n_vocab  # special tokens and unassigned ids included
    counts = np.bincount(training, minlength=encoding.n_vocab)
    assert freq.set_index("token_id")["count"].sort_index().tolist() == counts.tolist()
    groups = pd.read_parquet(out / f"data/groups/{name}.parquet")
    never = groups.loc[groups["group"] == "never_used", "token_id"]
    assert (counts[never] == 0).all() and len(never) == 5
    for seed in SEEDS:
        run = out / f"runs/{name}/baseline/seed{seed}"
        probe = pd.read_parquet(run / "probe/untrained_groups.parquet")
        assert probe["uniform_log_prob"].iloc[0] == pytest.approx(-math.log(encoding.n_vocab))


def per_seed(out, name):
    """{quantity: [value per seed]} of one tokenizer's baseline, from its aggregate's tables."""
    ends = pd.read_parquet(out / f"aggregate/{name}/endpoints.parquet")
    measures = pd.read_parquet(out / f"aggregate/{name}/measures.parquet").set_index("seed")
    n_vocab = len(pd.read_parquet(out / f"data/pretrain/{name}/frequency.parquet"))
    values = {"minus_ln_v": [-math.log(n_vocab)] * len(SEEDS)}
    for g in GROUP_NAMES:
        rows = ends[ends["quantity"] == f"{g}_masked"]
        values[f"{g}_untrained"] = [
            rows[(rows.seed == s) & (rows.step == 0)].value.item() for s in SEEDS
        ]
        values[f"{g}_final"] = [
            rows[(rows.seed == s) & (rows.step > 0)].value.item() for s in SEEDS
        ]
        values[f"change_{g}"] = measures.loc[list(SEEDS), f"change_{g}"].tolist()
    values["fall_excess"] = measures.loc[list(SEEDS), "fall_excess"].tolist()
    return values


def test_the_comparison_describes_each_tokenizer_and_its_difference_from_gpt2(study):
    out, _, _ = study
    facts = pd.read_parquet(out / "tokenizers/facts.parquet")
    assert facts["tokenizer"].tolist() == list(TOKENIZERS)
    for row in facts.itertuples():
        counted = pd.read_parquet(out / f"data/pretrain/{row.tokenizer}/frequency_summary.parquet")
        assert (row.n_vocab, row.tokens, row.distinct_ids) == tuple(
            counted.iloc[0][["n_vocab", "total_tokens", "distinct_tokens"]]
        )
    summary = pd.read_parquet(out / "tokenizers/summary.parquet")
    differences = pd.read_parquet(out / "tokenizers/differences.parquet")
    assert pq.read_schema(out / "tokenizers/summary.parquet").remove_metadata() == (
        schemas.TOKENIZER_SUMMARY
    )
    gpt2 = per_seed(out, "gpt2")
    for name in TOKENIZERS:
        mine = per_seed(out, name)
        for quantity, values in mine.items():
            row = summary.set_index(["tokenizer", "variant", "quantity"]).loc[
                (name, "baseline", quantity)
            ]
            t = stats.t.ppf(0.975, len(values) - 1)
            half = t * np.std(values, ddof=1) / math.sqrt(len(values))
            assert (row["mean"], row["ci_low"], row["ci_high"]) == pytest.approx(
                (np.mean(values), np.mean(values) - half, np.mean(values) + half), abs=1e-9
            )
            if name == "gpt2" or quantity == "minus_ln_v":
                continue
            d = differences.set_index(["tokenizer", "variant", "quantity"]).loc[
                (name, "baseline", quantity)
            ]
            a, b = np.array(values), np.array(gpt2[quantity])
            va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)  # Welch, by hand
            df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
            half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
            diff = a.mean() - b.mean()
            assert (d["mean"], d["ci_low"], d["ci_high"]) == pytest.approx(
                (diff, diff - half, diff + half), rel=1e-9
            )


def test_the_report_compares_the_tokenizers_and_the_run_tallies_each(study):
    out, _, output = study
    html = (out / "report/report.html").read_text()
    assert "Across tokenizers" in html
    for name in TOKENIZERS:
        assert f"With {name} (" in html
    for name in SHIPPED_TOKENIZERS:
        assert f"{name} minus GPT-2, the never-used group's change:" in html
    assert "All 3 books together use" in html and "Heaps' law gives β" in html
    for figure in ("tokenizers", "coverage"):
        assert (out / f"report/figures/{figure}.png").exists()
    for name in SHIPPED_TOKENIZERS:
        claims = pd.read_parquet(out / f"aggregate/{name}/claims.parquet")
        assert f"{name} {tally(claims)}" in output


def test_null_leaves_a_tokenizer_out_of_every_stage(study):
    out, _, _ = study
    work = out.parent.parent
    (work / "config" / "without.yaml").write_text("study: e2e\ntokenizers: {mistral_v1: null}\n")
    config = ["--configfile", "config/test.yaml", "config/without.yaml"]
    _, plan = snakemake(work, "-np", "--forceall", *config)
    assert "mistral_v1" not in plan and "runs/cl100k_base/baseline/seed1" in plan
