"""download_corpus rule: fetch the corpus from the first source with the configured sha256."""

import json

from unused_tokens.fetch import fetch_verified
from unused_tokens.files import atomic_output
from unused_tokens.stage import stage

with stage(snakemake) as log:
    p = snakemake.params
    record = fetch_verified(
        p.sources, p.sha256, snakemake.output.text, p.timeout_s, p.retries, key="corpus.sources"
    )
    log.info("corpus: %d bytes from %s (sha256 %s)", record["bytes"], record["source"], p.sha256)
    with atomic_output(snakemake.output.provenance) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
