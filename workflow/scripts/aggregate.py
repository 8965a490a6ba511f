"""aggregate rule: every run's log in one long table, each run's endpoints (group means on the
probe's batches), summaries over seeds, claims, headline."""

import json

import pandas as pd

from unused_tokens.analysis import aggregate
from unused_tokens.analysis.claims import claims, claims_page, run_measures, target_measures
from unused_tokens.analysis.draws import draw_spread
from unused_tokens.pipeline import schemas
from unused_tokens.pipeline.files import (
    atomic_output,
    read_parquet_metadata,
    write_json,
    write_parquet,
)
from unused_tokens.pipeline.stage import stage

with stage(snakemake) as log:
    i, o = snakemake.input, snakemake.output
    runs = [tuple(run) for run in snakemake.params.runs]  # (variant, seed), the inputs' order
    counts = pd.read_parquet(i.frequency)["count"].to_numpy()
    logs, probes, controls, measures = {}, {}, {}, []
    paths = zip(runs, i.logs, i.probes, i.vocab, i.control, strict=True)
    for run, log_path, probe_path, vocab_path, control_path in paths:
        logs[run] = pd.read_parquet(log_path)
        probes[run] = pd.read_parquet(probe_path)
        controls[run] = pd.read_parquet(control_path)
        vocab = pd.read_parquet(vocab_path)
        values = run_measures(probes[run], vocab, counts, controls[run])
        targets = json.loads(read_parquet_metadata(log_path)["group_targets"])
        seen = target_measures(vocab, targets)
        drawn = draw_spread(vocab, counts, targets)
        measures.append({"variant": run[0], "seed": run[1], **values, **seen, **drawn})
    long = aggregate.long_log(logs)
    ends = aggregate.endpoints(long, probes, controls)
    summary = aggregate.summary(ends)
    differences = aggregate.paired_differences(ends)
    measures = pd.DataFrame(measures)
    table = claims(measures)
    write_parquet(long, o.steps, schemas.STEPS)
    write_parquet(ends, o.endpoints, schemas.STEPS)
    write_parquet(summary, o.summary, schemas.SUMMARY)
    write_parquet(differences, o.differences, schemas.DIFFERENCES)
    write_parquet(measures, o.measures, schemas.RUN_MEASURES)
    write_parquet(table, o.claims, schemas.CLAIMS)
    with atomic_output(o.claims_page) as tmp:
        tmp.write_text(claims_page(table, snakemake.params.study), encoding="utf-8")
    headline = aggregate.headline(snakemake.params.study, runs, summary, differences, table)
    write_json(headline, o.headline)
    log.info("claims:\n%s", table[["variant", "claim", "result"]].to_string(index=False))
