"""probe_vocab rule: every token's mean log-probability before and after training."""

import pandas as pd
import torch

from unused_tokens import schemas
from unused_tokens.files import write_parquet
from unused_tokens.model import build_model
from unused_tokens.precision import resolve_precision
from unused_tokens.probe import vocab_means
from unused_tokens.stage import stage
from unused_tokens.tokens import read_tokens
from unused_tokens.train import load_checkpoint

with stage(snakemake) as log:
    p = snakemake.params
    torch.set_num_threads(snakemake.threads)
    precision = resolve_precision(p.precision, "cpu")
    log.info("precision: %s", precision)
    tokens = torch.from_numpy(read_tokens(snakemake.input.tokens))
    trained = load_checkpoint(snakemake.input.checkpoint)
    cfg = trained.cfg
    means = {
        name: vocab_means(model, tokens, p.batches, p.batch_size, p.seed, precision)
        for name, model in (("untrained", build_model(cfg, p.model_seed)), ("trained", trained))
    }
    table = pd.DataFrame(
        {
            "token_id": range(cfg.vocab_size),
            "untrained_mean": means["untrained"],
            "trained_mean": means["trained"],
        }
    )
    write_parquet(
        table, snakemake.output.logprobs, schemas.VOCAB_LOGPROBS, {"precision": str(precision)}
    )
    log.info("vocabulary probe: %s", table[["untrained_mean", "trained_mean"]].describe().T)
