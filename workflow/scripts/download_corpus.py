"""download_corpus rule: fetch a book from the first of its sources with its configured sha256."""

from unused_tokens.data.fetch import download_options, fetch_verified
from unused_tokens.pipeline.files import write_json
from unused_tokens.pipeline.stage import stage

with stage(snakemake) as log:
    p = snakemake.params
    record = fetch_verified(
        p.sources,
        p.sha256,
        snakemake.output.text,
        key=p.key,
        **download_options(snakemake.config["download"]),  # how, never what: no params
    )
    log.info("corpus: %d bytes from %s (sha256 %s)", record["bytes"], record["source"], p.sha256)
    write_json(record, snakemake.output.provenance)
