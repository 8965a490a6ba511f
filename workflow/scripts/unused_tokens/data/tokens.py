"""Encode the corpus into token ids, hold its end out of training, store both compactly, and cut
the held-out slice into windows."""

import numpy as np
import pandas as pd

from ..pipeline import schemas
from ..pipeline.errors import PipelineError
from ..pipeline.files import write_parquet


def id_type(n_vocab):
    """The smallest unsigned type that holds every id of a vocabulary of `n_vocab` (uint16 for
    GPT-2's 50,257, uint32 for cl100k_base's 100,277)."""
    return np.uint16 if n_vocab <= np.iinfo(np.uint16).max + 1 else np.uint32


def encode(text, encoding):
    """Token ids of `text` in the smallest type that holds them all (id_type); special tokens are
    never produced."""
    return np.asarray(encoding.encode_ordinary(text), dtype=id_type(encoding.n_vocab))


def split_held_out(ids, fraction):
    """(training ids, held-out ids): the last ceil(fraction * len(ids)) tokens are held out."""
    held = int(np.ceil(fraction * len(ids)))
    return ids[: len(ids) - held], ids[len(ids) - held :]


def write_tokens(ids, path, encoding, text_sha256):
    """tokens.parquet: one column of unsigned ids (id_type), with encoding name, n_vocab and the
    text's sha256."""
    metadata = {"encoding": encoding.name, "n_vocab": encoding.n_vocab, "text_sha256": text_sha256}
    schema = schemas.tokens(id_type(encoding.n_vocab))
    write_parquet(pd.DataFrame({"token_id": ids}), path, schema, metadata)


def read_tokens(path):
    """The token ids of tokens.parquet as an int64 array."""
    return pd.read_parquet(path)["token_id"].to_numpy(dtype=np.int64)


def tiled_windows(tokens, context, max_positions=None):
    """Inputs and next-token targets of the non-overlapping windows that tile `tokens` (an array
    or a tensor) from its start, each (windows, context); the last len(tokens) - 1 - windows *
    context tokens are not targets. With `max_positions`, at most max_positions // context of
    those windows (at least one), spread evenly from the first to the last, in order."""
    windows = (len(tokens) - 1) // context
    if windows < 1:
        raise PipelineError(
            f"the held-out slice has {len(tokens)} tokens, fewer than one window of context+1="
            f"{context + 1}: raise held_out.fraction or use a longer text"
        )
    inputs = tokens[: windows * context].reshape(windows, context)
    targets = tokens[1 : 1 + windows * context].reshape(windows, context)
    kept = max(1, (max_positions or windows * context) // context)
    if kept >= windows:
        return inputs, targets
    chosen = np.linspace(0, windows - 1, kept).round().astype(np.int64)
    return inputs[chosen], targets[chosen]
