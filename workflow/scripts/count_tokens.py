"""count_tokens rule: one row per vocabulary id with its count, rank, share and text."""

from unused_tokens.data.frequency import count_tokens, summarize
from unused_tokens.data.tokenizer import load_tokenizer, token_texts
from unused_tokens.data.tokens import read_tokens
from unused_tokens.pipeline import schemas
from unused_tokens.pipeline.files import write_parquet
from unused_tokens.pipeline.stage import stage

with stage(snakemake) as log:
    p, i = snakemake.params, snakemake.input
    encoding = load_tokenizer(p.tokenizer, i)
    freq = count_tokens(read_tokens(i.tokens), token_texts(encoding))
    summary = summarize(freq)
    vocabulary = {"encoding": encoding.name}
    write_parquet(freq, snakemake.output.frequency, schemas.FREQUENCY, vocabulary)
    write_parquet(summary, snakemake.output.summary, schemas.FREQUENCY_SUMMARY)
    log.info("summary: %s", summary.iloc[0].to_dict())
