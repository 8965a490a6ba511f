"""compare_tokenizers rule: each tokenizer's vocabulary and use of the book, its runs described
over seeds, and its difference from GPT-2's (unused_tokens/analysis/tokenizers.py)."""

import pandas as pd

from unused_tokens.analysis import tokenizers
from unused_tokens.pipeline import schemas
from unused_tokens.pipeline.files import read_parquet_metadata, write_parquet
from unused_tokens.pipeline.stage import stage

with stage(snakemake) as log:
    i, o, names = snakemake.input, snakemake.output, snakemake.params.tokenizers
    facts, rows = [], []
    paths = zip(names, i.frequency, i.summaries, i.endpoints, i.measures, strict=True)
    for name, frequency, summary, endpoints, measures in paths:
        counted = pd.read_parquet(summary).iloc[0]
        facts.append(
            {
                "tokenizer": name,
                "encoding": read_parquet_metadata(frequency)["encoding"],
                "n_vocab": counted["n_vocab"],
                "tokens": counted["total_tokens"],
                "distinct_ids": counted["distinct_tokens"],
                "vocabulary_share": counted["coverage"],
            }
        )
        runs = pd.read_parquet(measures)
        rows.append(tokenizers.per_run(name, counted["n_vocab"], pd.read_parquet(endpoints), runs))
    rows = pd.concat(rows, ignore_index=True)
    write_parquet(pd.DataFrame(facts), o.facts, schemas.TOKENIZER_FACTS)
    write_parquet(tokenizers.describe_runs(rows), o.summary, schemas.TOKENIZER_SUMMARY)
    difference = tokenizers.differences(rows)
    write_parquet(difference, o.differences, schemas.TOKENIZER_SUMMARY)
    log.info("tokenizers:\n%s", pd.DataFrame(facts).to_string(index=False))
