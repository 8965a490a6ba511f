"""download_added_tokenizer rule: fetch the file of a tokenizer beside GPT-2's (a .tiktoken
encoding, a SentencePiece model), hash-checked."""

from unused_tokens.data.fetch import fetch_recorded
from unused_tokens.pipeline.stage import stage

with stage(snakemake) as log:
    o = snakemake.output
    # the download section says how, never what: it is no params, and reruns nothing
    record = fetch_recorded(snakemake.params, snakemake.config["download"], o.model, o.provenance)
    log.info("%d bytes from %s (sha256 %s)", record["bytes"], record["source"], record["sha256"])
