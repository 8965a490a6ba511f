"""The GPT-2 tokenizer, built by tiktoken from local, hash-checked vocab.bpe and encoder.json.

tiktoken would download these two files at first use; the pipeline fetches them as ordinary
inputs instead (see fetch.py) and loads tiktoken's `gpt2` encoding from them with no network,
and without tiktoken's cache, which would leave a copy of each file in the system's temporary
folder for every path it was read from.
"""

import contextlib
import os

import tiktoken
from tiktoken.load import data_gym_to_mergeable_bpe_ranks
from tiktoken_ext.openai_public import ENDOFTEXT, r50k_pat_str

from .errors import PipelineError
from .files import sha256_of

GPT2_N_VOCAB = 50257


def load_gpt2(vocab_bpe, encoder_json, vocab_bpe_sha256, encoder_json_sha256):
    """tiktoken's `gpt2` Encoding from local files, each checked against its sha256 first."""
    for path, expected in ((vocab_bpe, vocab_bpe_sha256), (encoder_json, encoder_json_sha256)):
        if (got := sha256_of(path)) != expected:
            raise PipelineError(
                f"{path}: sha256 {got} is not the expected {expected}; "
                "delete it and rerun the download_tokenizer rule"
            )
    with _no_tiktoken_cache():
        ranks = data_gym_to_mergeable_bpe_ranks(
            vocab_bpe_file=str(vocab_bpe),
            encoder_json_file=str(encoder_json),
            vocab_bpe_hash=vocab_bpe_sha256,
            encoder_json_hash=encoder_json_sha256,
        )
    return tiktoken.Encoding(
        name="gpt2",
        pat_str=r50k_pat_str,
        mergeable_ranks=ranks,
        special_tokens={ENDOFTEXT: GPT2_N_VOCAB - 1},
        explicit_n_vocab=GPT2_N_VOCAB,
    )


@contextlib.contextmanager
def _no_tiktoken_cache():
    """tiktoken reads files without caching them while TIKTOKEN_CACHE_DIR is empty."""
    previous = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = ""
    try:
        yield
    finally:
        if previous is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = previous


def token_texts(encoding):
    """Readable text of every token id: UTF-8, bytes not valid on their own shown as \\xNN."""
    return [
        encoding.decode_single_token_bytes(i).decode("utf-8", errors="backslashreplace")
        for i in range(encoding.n_vocab)
    ]
