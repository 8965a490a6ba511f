"""download_tokenizer rule: fetch GPT-2's vocab.bpe and encoder.json, each hash-checked."""

from unused_tokens.data.fetch import download_options, fetch_verified
from unused_tokens.pipeline.files import write_json
from unused_tokens.pipeline.stage import stage

with stage(snakemake) as log:
    p = snakemake.params
    how = download_options(snakemake.config["download"])  # how, never what: no params
    records = {}
    for name, dest, sha256 in (
        ("vocab.bpe", snakemake.output.vocab_bpe, p.vocab_bpe_sha256),
        ("encoder.json", snakemake.output.encoder_json, p.encoder_json_sha256),
    ):
        sources = [prefix + name for prefix in p.sources]
        records[name] = fetch_verified(sources, sha256, dest, key="tokenizer.sources", **how)
        log.info("%s: %d bytes from %s", name, records[name]["bytes"], records[name]["source"])
    write_json(records, snakemake.output.provenance)
