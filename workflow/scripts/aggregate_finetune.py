"""aggregate_finetune rule: the arms over seeds: long log, values at the report steps, steps to
the unigram level, and the claims."""

import pandas as pd

from unused_tokens.analysis import finetune_results as results
from unused_tokens.analysis.finetune_results import unigram_level
from unused_tokens.data.groups import read_groups
from unused_tokens.data.tokens import read_tokens, tiled_windows
from unused_tokens.pipeline import names, schemas
from unused_tokens.pipeline.files import write_json, write_parquet
from unused_tokens.pipeline.stage import stage

with stage(snakemake) as log:
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    logs = {tuple(run): pd.read_parquet(path) for run, path in zip(p.runs, i.logs, strict=True)}
    long = results.long_log(logs)
    counts = pd.read_parquet(i.frequency)["count"].to_numpy()
    _, targets = tiled_windows(read_tokens(i.held_out), p.context, p.max_positions)
    level = unigram_level(counts, targets, read_groups(i.groups)[names.NEW_GROUP])
    reached = results.reach(long, level)
    table = results.claims(long, p.report_steps, reached)
    write_parquet(long, o.steps, schemas.FINETUNE_STEPS)
    at_steps = results.at_steps(long, p.report_steps)
    write_parquet(at_steps, o.at_steps, schemas.FINETUNE_AT_STEPS)
    write_parquet(reached, o.reach, schemas.FINETUNE_REACH)
    write_parquet(table, o.claims, schemas.CLAIMS)
    write_json({"unigram_level": level}, o.level)
    log.info("unigram level of the new tokens on the held-out slice: %.4f nats", level)
    log.info("claims:\n%s", table[["claim", "result"]].to_string(index=False))
