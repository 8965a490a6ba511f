"""download_corpus rule: fetch a book from the first of its sources with its configured sha256."""

from unused_tokens.data.fetch import fetch_recorded
from unused_tokens.pipeline.stage import stage

with stage(snakemake) as log:
    o = snakemake.output
    # the download section says how, never what: it is no params, and reruns nothing
    record = fetch_recorded(snakemake.params, snakemake.config["download"], o.text, o.provenance)
    log.info(
        "corpus: %d bytes from %s (sha256 %s)", record["bytes"], record["source"], record["sha256"]
    )
