"""tokenize rule: strip the Gutenberg header and footer, encode with one tokenizer, hold the end
out, write the training tokens and the held-out ones."""

import hashlib

from unused_tokens.data.corpus import read_corpus
from unused_tokens.data.tokenizer import load_tokenizer
from unused_tokens.data.tokens import encode, split_held_out, write_tokens
from unused_tokens.pipeline.stage import stage

with stage(snakemake) as log:
    p, i = snakemake.params, snakemake.input
    encoding = load_tokenizer(p.tokenizer, i)
    text = read_corpus(i.text, strip=p.strip_gutenberg)
    ids = encode(text, encoding)
    text_sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    training, held_out = split_held_out(ids, p.held_out_fraction)
    write_tokens(training, snakemake.output.tokens, encoding, text_sha256)
    write_tokens(held_out, snakemake.output.held_out, encoding, text_sha256)
    log.info(
        "%d characters -> %d tokens (%s): %d to train on, the last %d held out",
        len(text),
        len(ids),
        encoding.name,
        len(training),
        len(held_out),
    )
