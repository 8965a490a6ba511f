"""download_tokenizer rule: fetch GPT-2's vocab.bpe and encoder.json, each hash-checked."""

import json

from unused_tokens.fetch import fetch_verified
from unused_tokens.files import atomic_output
from unused_tokens.stage import stage

with stage(snakemake) as log:
    p = snakemake.params
    records = {}
    for name, dest, sha256 in (
        ("vocab.bpe", snakemake.output.vocab_bpe, p.vocab_bpe_sha256),
        ("encoder.json", snakemake.output.encoder_json, p.encoder_json_sha256),
    ):
        sources = [prefix + name for prefix in p.sources]
        records[name] = fetch_verified(
            sources, sha256, dest, p.timeout_s, p.retries, key="tokenizer.sources"
        )
        log.info("%s: %d bytes from %s", name, records[name]["bytes"], records[name]["source"])
    with atomic_output(snakemake.output.provenance) as tmp:
        tmp.write_text(json.dumps(records, indent=2) + "\n")
