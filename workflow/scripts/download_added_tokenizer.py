"""download_added_tokenizer rule: fetch the file of a tokenizer beside GPT-2's (a .tiktoken
encoding, a SentencePiece model), hash-checked."""

from unused_tokens.data.fetch import download_options, fetch_verified
from unused_tokens.pipeline.files import write_json
from unused_tokens.pipeline.stage import stage

with stage(snakemake) as log:
    p = snakemake.params
    record = fetch_verified(
        p.sources,
        p.sha256,
        snakemake.output.model,
        key=p.key,
        **download_options(snakemake.config["download"]),  # how, never what: no params
    )
    log.info("%d bytes from %s (sha256 %s)", record["bytes"], record["source"], p.sha256)
    write_json(record, snakemake.output.provenance)
