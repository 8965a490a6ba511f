"""train rule: train the model, log loss and group probes every step, save the final weights."""

from pathlib import Path

import pandas as pd
import torch

from unused_tokens import schemas
from unused_tokens.files import read_parquet_metadata, write_parquet
from unused_tokens.groups import group_ids
from unused_tokens.model import GPTConfig, build_model
from unused_tokens.precision import resolve_precision
from unused_tokens.stage import stage
from unused_tokens.step import StepOptions
from unused_tokens.tokens import read_tokens
from unused_tokens.train import (
    ResumePoint,
    describe_device,
    fingerprint,
    resolve_device,
    save_checkpoint,
    train,
    use_compile_cache,
)

with stage(snakemake) as log:
    p = snakemake.params
    torch.set_num_threads(snakemake.threads)
    device = resolve_device(p.device)
    precision = resolve_precision(p.precision, device)
    log.info("precision: %s", precision)
    use_compile_cache(snakemake.config["train"]["compile_cache"])
    tokens = torch.from_numpy(read_tokens(snakemake.input.tokens))
    n_vocab = int(read_parquet_metadata(snakemake.input.tokens)["n_vocab"])
    model = build_model(GPTConfig(vocab_size=n_vocab, **p.model), p.model_seed)
    groups = group_ids(pd.read_parquet(snakemake.input.groups))
    log.info("model: %.1fM parameters", sum(t.numel() for t in model.parameters()) / 1e6)
    settings = {**dict(p.items()), "precision": precision.name}  # "auto" resolved
    resume = ResumePoint(
        Path(p.resume_path),
        p.checkpoint_every,
        fingerprint(settings, snakemake.input.tokens, snakemake.input.groups),
    )
    options = StepOptions.from_config(settings)
    table = train(
        model,
        tokens,
        groups,
        p.steps,
        p.batch_size,
        p.lr,
        p.weight_decay,
        p.seed,
        device,
        p.log_every,
        resume,
        options,
    )
    metadata = {
        "device": describe_device(device),
        "precision": str(precision),
        "torch_version": torch.__version__,
    }
    write_parquet(table, snakemake.output.log, schemas.TRAINING_LOG, metadata)
    save_checkpoint(model, snakemake.output.checkpoint, p.steps)
    resume.clear()
