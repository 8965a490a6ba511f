"""tokenize rule: strip the Gutenberg header and footer, encode with GPT-2, write tokens.parquet."""

import hashlib

from unused_tokens.corpus import read_corpus
from unused_tokens.stage import stage
from unused_tokens.tokenizer import load_gpt2
from unused_tokens.tokens import encode, write_tokens

with stage(snakemake) as log:
    p, i = snakemake.params, snakemake.input
    encoding = load_gpt2(i.vocab_bpe, i.encoder_json, p.vocab_bpe_sha256, p.encoder_json_sha256)
    text = read_corpus(i.text, strip=p.strip_gutenberg)
    ids = encode(text, encoding)
    text_sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    write_tokens(ids, snakemake.output.tokens, encoding, text_sha256)
    log.info("%d characters -> %d tokens (%s)", len(text), len(ids), encoding.name)
