"""download_tiktoken rule: fetch one of tiktoken's .tiktoken encoding files, hash-checked."""

from unused_tokens.data.fetch import fetch_verified
from unused_tokens.pipeline.files import write_json
from unused_tokens.pipeline.stage import stage

with stage(snakemake) as log:
    p, d = snakemake.params, snakemake.config["download"]  # d: how, never what: no params
    record = fetch_verified(
        p.sources,
        p.sha256,
        snakemake.output.ranks,
        d["timeout_s"],
        d["retries"],
        key=p.key,
        max_bytes=d["max_mb"] << 20,
        deadline_s=d["deadline_s"],
    )
    log.info("%d bytes from %s (sha256 %s)", record["bytes"], record["source"], p.sha256)
    write_json(record, snakemake.output.provenance)
