"""probe_untrained rule: group log-probabilities of the freshly initialised model."""

import pandas as pd
import torch

from unused_tokens import schemas
from unused_tokens.files import read_parquet_metadata, write_parquet
from unused_tokens.groups import group_ids
from unused_tokens.model import GPTConfig, build_model
from unused_tokens.precision import resolve_precision
from unused_tokens.probe import probe_untrained
from unused_tokens.stage import stage
from unused_tokens.tokens import read_tokens

with stage(snakemake) as log:
    p = snakemake.params
    torch.set_num_threads(snakemake.threads)
    precision = resolve_precision(p.precision, "cpu")
    log.info("precision: %s", precision)
    tokens = torch.from_numpy(read_tokens(snakemake.input.tokens))
    n_vocab = int(read_parquet_metadata(snakemake.input.tokens)["n_vocab"])
    model = build_model(GPTConfig(vocab_size=n_vocab, **p.model), p.model_seed)
    groups = group_ids(pd.read_parquet(snakemake.input.groups))
    group_table, token_table = probe_untrained(
        model, tokens, groups, p.batches, p.batch_size, p.seed, precision
    )
    metadata = {"precision": str(precision)}
    write_parquet(group_table, snakemake.output.groups, schemas.PROBE_GROUPS, metadata)
    write_parquet(token_table, snakemake.output.tokens, schemas.PROBE_TOKENS, metadata)
    log.info("untrained probe:\n%s", group_table.to_string(index=False))
