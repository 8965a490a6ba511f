"""Encode the corpus into GPT-2 token ids and store them compactly."""

import numpy as np
import pandas as pd

from . import schemas
from .files import write_parquet


def encode(text, encoding):
    """Token ids of `text` as uint16 (GPT-2's 50,257 ids fit); special tokens are never produced."""
    if encoding.n_vocab > np.iinfo(np.uint16).max + 1:
        raise ValueError(f"{encoding.name} has {encoding.n_vocab} ids: too many for uint16")
    return np.asarray(encoding.encode_ordinary(text), dtype=np.uint16)


def write_tokens(ids, path, encoding, text_sha256):
    """tokens.parquet: one uint16 column, with encoding name, n_vocab and the text's sha256."""
    metadata = {"encoding": encoding.name, "n_vocab": encoding.n_vocab, "text_sha256": text_sha256}
    write_parquet(pd.DataFrame({"token_id": ids}), path, schemas.TOKENS, metadata)


def read_tokens(path):
    """The token ids of tokens.parquet as an int64 array."""
    return pd.read_parquet(path)["token_id"].to_numpy(dtype=np.int64)
