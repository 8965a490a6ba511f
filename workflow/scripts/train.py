"""train rule: train one run's model, log loss and group probes every step, save the weights."""

from pathlib import Path

from unused_tokens.model.gpt import save_model
from unused_tokens.pipeline import schemas
from unused_tokens.pipeline.files import write_parquet
from unused_tokens.pipeline.stage import stage
from unused_tokens.pipeline.study import Study
from unused_tokens.training.progress import CpuLimit
from unused_tokens.training.run_context import run_context
from unused_tokens.training.train import ResumePoint, fingerprint, train, use_compile_cache

with stage(snakemake) as log:
    context = run_context(snakemake, log)
    run, runtime = context.run, context.runtime
    use_compile_cache(runtime.compile_cache)
    model = context.untrained_model()
    log.info("model: %.1fM parameters", sum(t.numel() for t in model.parameters()) / 1e6)
    every = snakemake.params.held_out_every
    settings = {**run.as_params(), "precision": context.precision.name, "held_out_every": every}
    i = snakemake.input
    resume = ResumePoint(
        Path(snakemake.params.resume),
        runtime.checkpoint_every,
        fingerprint(settings, i.tokens, i.held_out, i.groups),
    )
    held_out = context.held_out(i.held_out, every)
    if held_out is None:
        log.info("held-out loss: not scored, the vocabulary lacks ids of the held-out slice")
    else:
        log.info("held-out loss: %d positions, every %d steps", held_out.positions[0], every)
    table = train(
        model,
        context.tokens,
        context.groups(i.groups),
        run.train,
        run.window_seed,
        context.device,
        runtime.step_options(context.precision.name),
        runtime.log_every,
        resume,
        counts=context.counts,
        cpu_limit=CpuLimit(
            runtime.cpu_limit_hours,
            runs=len(Study.from_config(snakemake.config).runs()),
            quick=snakemake.params.quick,
        ),
        held_out=held_out,
        record=context.step_time_recorder(snakemake.params.tokenizer),
    )
    write_parquet(table, snakemake.output.log, schemas.TRAINING_LOG, context.metadata())
    save_model(model, snakemake.output.model, run.train.steps)
    resume.clear()
