"""Encode the corpus into GPT-2 token ids, hold its end out of training, store both compactly,
and cut the held-out slice into windows."""

import numpy as np
import pandas as pd

from ..pipeline import schemas
from ..pipeline.errors import PipelineError
from ..pipeline.files import write_parquet


def encode(text, encoding):
    """Token ids of `text` as uint16 (GPT-2's 50,257 ids fit); special tokens are never produced."""
    if encoding.n_vocab > np.iinfo(np.uint16).max + 1:
        raise ValueError(f"{encoding.name} has {encoding.n_vocab} ids: too many for uint16")
    return np.asarray(encoding.encode_ordinary(text), dtype=np.uint16)


def split_held_out(ids, fraction):
    """(training ids, held-out ids): the last ceil(fraction * len(ids)) tokens are held out."""
    held = int(np.ceil(fraction * len(ids)))
    return ids[: len(ids) - held], ids[len(ids) - held :]


def write_tokens(ids, path, encoding, text_sha256):
    """tokens.parquet: one uint16 column, with encoding name, n_vocab and the text's sha256."""
    metadata = {"encoding": encoding.name, "n_vocab": encoding.n_vocab, "text_sha256": text_sha256}
    write_parquet(pd.DataFrame({"token_id": ids}), path, schemas.TOKENS, metadata)


def read_tokens(path):
    """The token ids of tokens.parquet as an int64 array."""
    return pd.read_parquet(path)["token_id"].to_numpy(dtype=np.int64)


def tiled_windows(tokens, context):
    """Inputs and next-token targets of the non-overlapping windows that tile `tokens` (an array
    or a tensor) from its start, each (windows, context); the last len(tokens) - 1 - windows *
    context tokens are not targets."""
    windows = (len(tokens) - 1) // context
    if windows < 1:
        raise PipelineError(
            f"the held-out slice has {len(tokens)} tokens, fewer than one window of context+1="
            f"{context + 1}: raise held_out.fraction or use a longer text"
        )
    targets = tokens[1 : 1 + windows * context].reshape(windows, context)
    return tokens[: windows * context].reshape(windows, context), targets
