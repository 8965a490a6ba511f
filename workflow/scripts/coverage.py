"""coverage rule: one tokenizer over every book: per book, as books are added in the listed
order and in random ones, and Heaps' law fitted in each order (unused_tokens/data/coverage.py).
Books are keyed by their config key (the config refuses a repeated title), and the tables name
them by title."""

import numpy as np
import pandas as pd

from unused_tokens.data.corpus import read_corpus
from unused_tokens.data.coverage import cumulative, heaps_over_orders, orders, per_book
from unused_tokens.data.tokenizer import load_tokenizer
from unused_tokens.pipeline import schemas
from unused_tokens.pipeline.files import write_parquet
from unused_tokens.pipeline.stage import stage

with stage(snakemake) as log:
    p, i = snakemake.params, snakemake.input
    encoding = load_tokenizer(p.tokenizer, i)
    books = {
        key: np.asarray(encoding.encode_ordinary(read_corpus(path, strip)), dtype=np.int64)
        for path, (key, _, strip) in zip(i.texts, p.books, strict=True)
    }
    titles = {key: title for key, title, _ in p.books}
    vocab = encoding.n_vocab
    meta = {"tokenizer": encoding.name, "vocabulary_size": str(vocab)}
    table = per_book(books, vocab)
    table["book"] = table["book"].map(titles)
    write_parquet(table, snakemake.output.books, schemas.COVERAGE_BOOKS, meta)
    every_order = orders(list(books), p.orders, p.seed)
    growth = pd.concat(
        [cumulative(books, vocab, order).assign(order=k) for k, order in enumerate(every_order)],
        ignore_index=True,
    )
    growth["added"] = growth["added"].map(titles)
    write_parquet(growth, snakemake.output.growth, schemas.COVERAGE_GROWTH, meta)
    heaps = heaps_over_orders(books, vocab, every_order)
    write_parquet(heaps, snakemake.output.heaps, schemas.COVERAGE_HEAPS, meta)
    everything = growth[growth["order"] == 0].iloc[-1]
    log.info(
        "%s (%d ids): %d books, %d tokens use %d ids (%.1f%%); Heaps' beta %.3f in the listed "
        "order, whose fit gives %.1f%% at the end",
        encoding.name,
        vocab,
        len(books),
        everything["tokens"],
        everything["distinct_ids"],
        100 * everything["vocabulary_share"],
        heaps["heaps_beta"].iloc[0],
        100 * heaps["fit_share_at_end"].iloc[0],
    )
