"""aggregate rule: every run's log in one long table, summaries over seeds, claims, headline."""

import pandas as pd

from unused_tokens import aggregate, schemas
from unused_tokens.claims import claims, claims_page, run_measures
from unused_tokens.files import atomic_output, write_json, write_parquet
from unused_tokens.stage import stage

with stage(snakemake) as log:
    i, o = snakemake.input, snakemake.output
    runs = [tuple(run) for run in snakemake.params.runs]  # (variant, seed), the inputs' order
    counts = pd.read_parquet(i.frequency)["count"].to_numpy()
    logs, measures = {}, []
    paths = zip(runs, i.logs, i.probes, i.vocab, i.control, strict=True)
    for run, log_path, probe_path, vocab_path, control_path in paths:
        logs[run] = pd.read_parquet(log_path)
        values = run_measures(
            pd.read_parquet(probe_path),
            logs[run],
            pd.read_parquet(vocab_path),
            counts,
            pd.read_parquet(control_path),
        )
        measures.append({"variant": run[0], "seed": run[1], **values})
    long = aggregate.long_log(logs)
    summary = aggregate.summary(long)
    differences = aggregate.paired_differences(long)
    table = claims(pd.DataFrame(measures))
    write_parquet(long, o.steps, schemas.STEPS)
    write_parquet(summary, o.summary, schemas.SUMMARY)
    write_parquet(differences, o.differences, schemas.DIFFERENCES)
    write_parquet(table, o.claims, schemas.CLAIMS)
    with atomic_output(o.claims_page) as tmp:
        tmp.write_text(claims_page(table, snakemake.params.study), encoding="utf-8")
    headline = aggregate.headline(snakemake.params.study, runs, summary, differences, table)
    write_json(headline, o.headline)
    log.info("claims:\n%s", table[["variant", "claim", "result"]].to_string(index=False))
